-- Marketplaces (Kaspi.kz, Ozon): which variants are listed where, orders
-- imported from them, and where each sync stands.

-- A variant offered on a marketplace. Kaspi's offer is our SKU; Ozon knows
-- the variant as offer_id = SKU, its own product_id and its SKU (postings
-- and shipping speak the latter).
CREATE TABLE listings (
    variant_id      uuid NOT NULL REFERENCES variants (id) ON DELETE CASCADE,
    marketplace     text NOT NULL CHECK (marketplace IN ('kaspi', 'ozon')),
    -- In the marketplace's currency (Kaspi: KZT), minor units; NULL sells at
    -- the variant's price.
    price_override  bigint CHECK (price_override >= 0),
    ozon_product_id bigint CHECK (ozon_product_id > 0),
    ozon_sku        bigint CHECK (ozon_sku > 0),
    -- Ozon: the warehouse id; Kaspi: the pickup point (storeId) codes are
    -- the shop's, from KASPI_STORE_IDS.
    warehouse_id    text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (variant_id, marketplace)
);
-- The feed reads every Kaspi listing in SKU order.
CREATE INDEX listings_marketplace ON listings (marketplace, variant_id);

-- The marketplace collected the money (Kaspi's and Ozon's buyers pay them):
-- nothing for bazaar to capture or refund.
ALTER TABLE orders DROP CONSTRAINT orders_payment_method_check;
ALTER TABLE orders ADD CONSTRAINT orders_payment_method_check
    CHECK (payment_method IN ('stripe', 'kaspi', 'cash_on_delivery', 'marketplace'));

ALTER TABLE orders
    -- What the buyer and the marketplace's cabinet call the order (Kaspi's
    -- code, Ozon's order number); external_id is the API's id.
    ADD COLUMN external_code   text,
    -- The marketplace's own status as last read, and when.
    ADD COLUMN external_status text,
    ADD COLUMN external_seen_at timestamptz,
    -- Why a person must look at the order (held without stock, lines whose
    -- SKU is unknown); NULL when nothing is asked.
    ADD COLUMN attention       text;
-- Open marketplace orders are re-read until they close (Kaspi has no
-- "changed since" filter).
CREATE INDEX orders_marketplace_open ON orders (source, external_seen_at)
    WHERE source <> 'web' AND status NOT IN ('delivered', 'cancelled', 'refunded');

-- Lines of an imported order whose SKU matches no variant: kept, reported,
-- never dropped.
CREATE TABLE marketplace_unmatched (
    order_id   uuid NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    sku        text NOT NULL,
    name       text NOT NULL,
    quantity   integer NOT NULL CHECK (quantity > 0),
    unit_price bigint NOT NULL CHECK (unit_price >= 0),
    seen_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (order_id, sku)
);

-- One row per marketplace and kind of sync: where the next run resumes
-- (a cursor the sync owns), how the last runs went.
CREATE TABLE marketplace_syncs (
    marketplace     text NOT NULL CHECK (marketplace IN ('kaspi', 'ozon')),
    kind            text NOT NULL,
    cursor          jsonb,
    last_started_at timestamptz,
    last_success_at timestamptz,
    last_error      text,
    last_error_at   timestamptz,
    -- What the last successful run did: {"seen": n, "created": n, ...}.
    counts          jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (marketplace, kind)
);
