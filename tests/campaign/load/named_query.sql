SELECT * FROM named_query('change_summary', since => now() - INTERVAL '7 days');
