-- DBeaver: search path of every new execution context.
-- source: dbeaver/dbeaver plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreExecutionContext.java (refreshDefaults)
-- expect_match: (^|[ ,])public($|,)
SHOW search_path
