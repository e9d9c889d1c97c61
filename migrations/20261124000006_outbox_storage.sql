-- The outbox is a queue: every row is updated twice (claimed, finished) and
-- deleted after its retention. Free space on each page lets updates stay on
-- the page (HOT where no indexed column changes, cheaper otherwise), and
-- vacuuming early keeps the relay's index scans free of dead entries.
ALTER TABLE outbox SET (
    fillfactor = 70,
    autovacuum_vacuum_scale_factor = 0.02,
    autovacuum_vacuum_insert_scale_factor = 0.02,
    autovacuum_analyze_scale_factor = 0.05
);
