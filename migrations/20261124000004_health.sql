-- One row per scheduled health-check tick: the primary key on tick_at is what
-- makes several scheduler replicas run each tick once.
CREATE TABLE health_runs (
    tick_at     timestamptz PRIMARY KEY,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    status      text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'ok', 'unhealthy')),
    components  jsonb NOT NULL DEFAULT '[]',
    runner      text NOT NULL
);

-- Alerting state: a single row, updated under a row lock by the tick's runner.
CREATE TABLE alert_state (
    id              smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    unhealthy_since timestamptz,
    last_alert_at   timestamptz,
    failing         text NOT NULL DEFAULT ''
);
INSERT INTO alert_state (id) VALUES (1);
