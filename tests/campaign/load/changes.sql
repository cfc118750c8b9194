SELECT source, kind, id, change FROM changes(now() - INTERVAL '1 day', now()) ORDER BY changed_at DESC LIMIT 50;
