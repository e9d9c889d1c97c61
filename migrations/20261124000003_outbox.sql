-- The transactional outbox, which is also the durable record of every job.
-- A row is written in the same transaction as the business change. The relay
-- pushes rows whose due_at has passed into Redis and moves due_at forward by the
-- redelivery timeout; a worker locks the row, runs the effect and marks it done
-- in one transaction. Redis is only the transport: losing it loses no job.
CREATE TABLE outbox (
    id              uuid PRIMARY KEY,
    queue           text NOT NULL,
    kind            text NOT NULL,
    payload         jsonb NOT NULL,
    idempotency_key text NOT NULL,
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'failed')),
    attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts    integer NOT NULL CHECK (max_attempts > 0),
    due_at          timestamptz NOT NULL DEFAULT now(),
    relay_count     integer NOT NULL DEFAULT 0,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,
    CONSTRAINT outbox_idempotency_key UNIQUE (idempotency_key)
);
CREATE INDEX outbox_due ON outbox (queue, due_at) WHERE status = 'pending';
CREATE INDEX outbox_finished ON outbox (status, finished_at) WHERE status <> 'pending';

-- Wakes the relay as soon as a row commits (polling remains as a fallback).
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('bazaar_outbox', NEW.queue);
    RETURN NULL;
END $$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH ROW EXECUTE FUNCTION outbox_notify();

-- The effect of the ops.probe job: one row per probe, so the pipeline's latency
-- and exactly-once behaviour can be measured from the database.
CREATE TABLE job_probes (
    idempotency_key text PRIMARY KEY,
    enqueued_at     timestamptz NOT NULL,
    started_at      timestamptz NOT NULL,
    finished_at     timestamptz NOT NULL DEFAULT clock_timestamp()
);
