-- When a failed job may run again. A copy of the job still travelling
-- through Redis (a redelivery) must not run it before then.
ALTER TABLE outbox ADD COLUMN retry_at timestamptz;
