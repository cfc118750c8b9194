-- name: consumers_of
-- description: What consumes queue Y, and since when? The event source mappings reading the
--   queue now (matched by ARN, or by the name the ARN ends in) with the function each invokes,
--   in every source and layer, and when each started consuming.
-- param: queue | text | | The queue's ARN or name.
-- example: SELECT * FROM named_query('consumers_of', queue => 'orders-jobs')
SELECT reads.source, reads.layer, reads.to_id AS queue, reads.from_id AS mapping,
       invokes.to_id AS function, reads.valid_from AS consuming_since
FROM relations reads
LEFT JOIN relations invokes
  ON invokes.source = reads.source AND invokes.from_kind = reads.from_kind
 AND invokes.from_id = reads.from_id AND invokes.relation = 'invokes'
 AND invokes.valid_to IS NULL
WHERE reads.relation = 'reads_from' AND reads.to_kind = 'aws_sqs_queue'
  AND reads.valid_to IS NULL
  AND (reads.to_id = :queue OR reads.to_id LIKE concat('%:', :queue))
