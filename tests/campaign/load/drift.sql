SELECT status, count(*) FROM drift GROUP BY status;
