-- DBeaver: server version read when the connection is initialized.
-- source: dbeaver/dbeaver plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreDataSource.java (initialize)
-- min_rows: 1
SELECT version()
