-- name: queues_without_consumers
-- description: Which running queues have no consumer? Live SQS queues that no event source
--   mapping reads now and that are no other queue's dead-letter queue. A zombie signal (or a
--   consumer outside Lambda, which Groundtruth cannot see).
-- example: SELECT * FROM named_query('queues_without_consumers')
SELECT q.source, q.id AS queue, q.name, q.first_seen, q.last_changed, q.observed_at
FROM resources q
WHERE q.kind = 'aws_sqs_queue' AND q.layer = 'live'
  AND NOT EXISTS (
    SELECT 1 FROM relations r
    WHERE r.valid_to IS NULL AND r.relation IN ('reads_from', 'dead_letters_to')
      AND r.to_source = q.source AND r.to_kind = q.kind AND r.to_id = q.id)
