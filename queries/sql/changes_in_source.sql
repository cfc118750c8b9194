-- name: changes_in_source
-- description: What changed in one source during a window? Every added, modified or removed
--   resource, when it was seen, and which attribute paths changed.
-- param: source | text | | The source name, as in the sources table.
-- param: since | timestamp | now() - INTERVAL '24 hours' | Start of the window (exclusive).
-- param: until | timestamp | now() | End of the window (inclusive).
-- example: SELECT * FROM named_query('changes_in_source', source => 'prod-terraform', since => now() - INTERVAL '7 days')
SELECT changed_at, kind, id, name, change, array_to_string(changed_paths, ', ') AS changed_paths
FROM changes(:since, :until)
WHERE source = :source
ORDER BY changed_at, kind, id
