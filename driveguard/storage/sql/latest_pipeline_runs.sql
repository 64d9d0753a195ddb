-- The latest recorded run of each DAG task, with the counts it reported.
SELECT DISTINCT ON (dag_id, task_id) dag_id, task_id, run_id, interval_start, interval_end, counts, recorded_at
FROM pipeline_run
ORDER BY dag_id, task_id, recorded_at DESC
