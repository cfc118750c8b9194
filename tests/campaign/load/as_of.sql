SELECT kind, count(*) FROM resources FOR SYSTEM_TIME AS OF now() - INTERVAL '3 days' GROUP BY kind;
