-- DBeaver: details of the connected database (PreparedStatement, datname bound as a string).
-- source: dbeaver/dbeaver plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreDatabase.java (readDatabaseInfo)
-- params: ["groundtruth"]
-- param_types: [1043]
-- expect: groundtruth
SELECT db.oid,db.* FROM pg_catalog.pg_database db WHERE datname=$1
