-- The counts the failed tries of the collect shard tasks of one DAG run recorded before failing (task
-- ids `collect[<map index>]#try<n>`), oldest first: a failed try's work is kept beside its retry's.
SELECT task_id, counts
FROM pipeline_run
WHERE dag_id = :dag_id AND run_id = :run_id AND task_id LIKE 'collect[%]#try%'
ORDER BY recorded_at, task_id
