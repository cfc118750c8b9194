-- DBeaver: database list of the navigator (bootstrap connection; templates and unavailable
-- databases hidden, the defaults). "db.oid, db.*" selects oid twice.
-- source: dbeaver/dbeaver plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreDataSource.java (prepareReadDatabaseListStatement)
-- expect: groundtruth
SELECT db.oid,db.* FROM pg_catalog.pg_database db WHERE 1 = 1 AND datallowconn AND NOT datistemplate  ORDER BY db.datname
