-- DBeaver: active schema and user of every new execution context.
-- source: dbeaver/dbeaver plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreExecutionContext.java (refreshDefaults)
-- expect: public
SELECT current_schema(),session_user
