-- The counts one task of a DAG run reported: one row per (dag, run, task), the latest try wins.
INSERT INTO pipeline_run (dag_id, task_id, run_id, interval_start, interval_end, counts, recorded_at)
VALUES (:dag_id, :task_id, :run_id, :start, :end, CAST(:counts AS jsonb), :now)
ON CONFLICT ON CONSTRAINT uq_pipeline_run_task DO UPDATE SET
    counts = EXCLUDED.counts,
    interval_start = EXCLUDED.interval_start,
    interval_end = EXCLUDED.interval_end,
    recorded_at = EXCLUDED.recorded_at
