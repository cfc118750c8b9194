-- DBeaver: choosing the active schema in the toolbar sets the search path.
-- source: dbeaver/dbeaver plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreExecutionContext.java (setSearchPath)
SET search_path = public
