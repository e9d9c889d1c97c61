-- The back office: console sessions, the CMS, discarded jobs, and the
-- indexes that keep the dashboard and the order desk fast at a million
-- orders.

-- A job an admin gave up on stays, marked, instead of being deleted.
ALTER TABLE outbox DROP CONSTRAINT outbox_status_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_status_check
    CHECK (status IN ('pending', 'done', 'failed', 'discarded'));
ALTER TABLE outbox ADD COLUMN discarded_by uuid REFERENCES users (id) ON DELETE SET NULL;

-- A signed-in console browser. The cookie holds a random token; only its
-- digest is stored. The session rides on a refresh-token family, so a
-- password reset (which revokes every family) signs the console out too.
CREATE TABLE console_sessions (
    token_hash  bytea PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id   uuid NOT NULL,
    csrf_token  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);

CREATE TABLE pages (
    id          uuid PRIMARY KEY,
    -- The catalogue's slug rule (letters of any script), checked in Rust.
    slug        text NOT NULL UNIQUE CHECK (length(slug) BETWEEN 1 AND 100),
    title       text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    -- Markdown as written, and the sanitised HTML made from it on save.
    body        text NOT NULL,
    body_html   text NOT NULL,
    published   boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE banners (
    id          uuid PRIMARY KEY,
    title       text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    image_url   text NOT NULL,
    link_url    text,
    -- Where on the storefront: lower comes first.
    position    integer NOT NULL DEFAULT 0,
    active      boolean NOT NULL DEFAULT true,
    starts_at   timestamptz,
    ends_at     timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at IS NULL OR starts_at IS NULL OR ends_at > starts_at)
);
CREATE INDEX banners_active ON banners (position) WHERE active;

-- Dashboard: 30 days of orders per day and status, read from the index
-- alone (an index-only scan once the table is vacuumed).
CREATE INDEX orders_created_figures ON orders (created_at) INCLUDE (status, total, source);
-- Order desk filters, each with the list's newest-first order.
CREATE INDEX orders_source_created ON orders (source, created_at DESC);
CREATE INDEX orders_email_created ON orders (lower(email), created_at DESC);

-- Vendors' sales per day and per product without visiting every line they
-- ever sold: the line carries its order's creation time.
ALTER TABLE order_items ADD COLUMN created_at timestamptz;
UPDATE order_items i SET created_at = o.created_at FROM orders o WHERE o.id = i.order_id;
ALTER TABLE order_items ALTER COLUMN created_at SET DEFAULT now();
ALTER TABLE order_items ALTER COLUMN created_at SET NOT NULL;
CREATE INDEX order_items_store_created ON order_items (store_id, created_at)
    INCLUDE (order_id, product_id, quantity, line_total);

-- Low stock: the few variants at or under the threshold, without a scan.
CREATE INDEX variants_low_stock ON variants ((stock - reserved)) WHERE active;

-- Order numbers: `BZ-` and at least six digits. `lpad` alone cuts longer
-- numbers short (order 1,000,000 became BZ-100000, a duplicate of order
-- 100,000, and every checkout after it failed on the unique key).
CREATE FUNCTION order_number(n bigint) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT
    RETURN 'BZ-' || lpad(n::text, greatest(6, length(n::text)), '0');
