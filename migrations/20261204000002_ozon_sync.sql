-- What Ozon has been told of each listing. A figure is due when its version
-- moved past the version last pushed; the variant's triggers move the
-- versions, so every change (checkout, cancellation, marketplace order,
-- admin edit) is seen without the code paths knowing about Ozon.
ALTER TABLE listings
    ADD COLUMN stock_version        bigint NOT NULL DEFAULT 1,
    ADD COLUMN stock_pushed_version bigint NOT NULL DEFAULT 0,
    -- When Ozon last took (or refused) a figure: one per pair every 30 s.
    ADD COLUMN stock_pushed_at      timestamptz,
    ADD COLUMN stock_pushed         integer,
    ADD COLUMN price_version        bigint NOT NULL DEFAULT 1,
    ADD COLUMN price_pushed_version bigint NOT NULL DEFAULT 0,
    -- The last pushes of a price (Ozon takes at most 10 an hour).
    ADD COLUMN price_pushes         timestamptz[] NOT NULL DEFAULT '{}',
    -- The card's import: the task, and Ozon's per-item errors.
    ADD COLUMN ozon_task_id         bigint,
    ADD COLUMN ozon_import_status   text,
    -- The last per-item error Ozon answered for this listing, and for what.
    ADD COLUMN last_error           text,
    ADD COLUMN last_error_kind      text,
    ADD COLUMN last_error_at        timestamptz;

CREATE INDEX listings_stock_due ON listings (stock_pushed_at NULLS FIRST)
    WHERE marketplace = 'ozon' AND stock_version > stock_pushed_version;
CREATE INDEX listings_price_due ON listings (variant_id)
    WHERE marketplace = 'ozon' AND price_version > price_pushed_version;
CREATE INDEX listings_importing ON listings (variant_id)
    WHERE marketplace = 'ozon' AND ozon_product_id IS NULL;

-- Sellable units or on-sale state changed: the stock figure is due again.
-- A row trigger on the hot path, so it does one indexed update and only
-- when the figure can have changed.
CREATE FUNCTION listings_stock_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE listings SET stock_version = stock_version + 1
     WHERE variant_id = NEW.id AND marketplace = 'ozon';
    RETURN NULL;
END $$;
CREATE TRIGGER variants_listing_stock AFTER UPDATE OF stock, reserved, active ON variants
    FOR EACH ROW
    WHEN (NEW.stock - NEW.reserved IS DISTINCT FROM OLD.stock - OLD.reserved
          OR NEW.active IS DISTINCT FROM OLD.active)
    EXECUTE FUNCTION listings_stock_changed();

CREATE FUNCTION listings_price_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE listings SET price_version = price_version + 1
     WHERE variant_id = NEW.id AND marketplace = 'ozon' AND price_override IS NULL;
    RETURN NULL;
END $$;
CREATE TRIGGER variants_listing_price AFTER UPDATE OF price ON variants
    FOR EACH ROW WHEN (NEW.price IS DISTINCT FROM OLD.price)
    EXECUTE FUNCTION listings_price_changed();
