-- Done rows need no index of their own (clean-up scans for them hourly); an
-- index on every finished row cost one more index write per completed job.
DROP INDEX outbox_finished;
CREATE INDEX outbox_failed ON outbox (finished_at) WHERE status = 'failed';
