-- One NOTIFY per queue per statement instead of one trigger call per row:
-- batched inserts (notification fan-out, webhook ingest, price-drop alerts)
-- write hundreds of outbox rows in one statement.
DROP TRIGGER outbox_notify ON outbox;
DROP FUNCTION outbox_notify();
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('bazaar_outbox', q.queue) FROM (SELECT DISTINCT queue FROM new_rows) q;
    RETURN NULL;
END $$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();
