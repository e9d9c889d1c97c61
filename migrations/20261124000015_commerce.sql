-- Commerce: addresses, shipping methods, coupons, carts, checkout idempotency,
-- the order workflow and payment events.

CREATE TABLE addresses (
    id          uuid PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name        text NOT NULL,
    line1       text NOT NULL,
    line2       text,
    city        text NOT NULL,
    region      text,
    postal_code text NOT NULL,
    country     text NOT NULL CHECK (country ~ '^[A-Z]{2}$'),
    phone       text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX addresses_user ON addresses (user_id, created_at);

CREATE TABLE shipping_methods (
    id                 uuid PRIMARY KEY,
    name               text NOT NULL,
    price              bigint NOT NULL CHECK (price >= 0),
    free_above         bigint CHECK (free_above >= 0),
    currency           text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    estimated_days_min integer NOT NULL CHECK (estimated_days_min >= 0),
    estimated_days_max integer NOT NULL CHECK (estimated_days_max >= estimated_days_min),
    active             boolean NOT NULL DEFAULT true,
    created_at         timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE coupons (
    id                 uuid PRIMARY KEY,
    code               text NOT NULL CHECK (code ~ '^[A-Z0-9]+(-[A-Z0-9]+)*$'),
    kind               text NOT NULL CHECK (kind IN ('percent', 'fixed')),
    value              bigint NOT NULL CHECK (value > 0 AND (kind = 'fixed' OR value <= 100)),
    min_order          bigint NOT NULL DEFAULT 0 CHECK (min_order >= 0),
    starts_at          timestamptz,
    ends_at            timestamptz,
    usage_limit        integer CHECK (usage_limit > 0),
    per_customer_limit integer CHECK (per_customer_limit > 0),
    -- Counted up by a conditional UPDATE at checkout, so the limit holds
    -- under any concurrency.
    used               integer NOT NULL DEFAULT 0 CHECK (used >= 0 AND (usage_limit IS NULL OR used <= usage_limit)),
    category_ids       uuid[] NOT NULL DEFAULT '{}',
    active             boolean NOT NULL DEFAULT true,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    deleted_at         timestamptz
);
CREATE UNIQUE INDEX coupons_code_key ON coupons (code) WHERE deleted_at IS NULL;

-- A user's cart (user_id) or a guest's (token_hash: SHA-256 of X-Cart-Token).
CREATE TABLE carts (
    id         uuid PRIMARY KEY,
    user_id    uuid UNIQUE REFERENCES users (id) ON DELETE CASCADE,
    token_hash text UNIQUE,
    coupon_id  uuid REFERENCES coupons (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((user_id IS NULL) <> (token_hash IS NULL))
);
CREATE INDEX carts_guest_updated ON carts (updated_at) WHERE user_id IS NULL;

CREATE TABLE cart_items (
    id         uuid PRIMARY KEY,
    cart_id    uuid NOT NULL REFERENCES carts (id) ON DELETE CASCADE,
    variant_id uuid NOT NULL REFERENCES variants (id),
    quantity   integer NOT NULL CHECK (quantity > 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT cart_items_variant_key UNIQUE (cart_id, variant_id)
);

CREATE SEQUENCE order_numbers;

ALTER TABLE orders
    ADD COLUMN email              text,
    ADD COLUMN phone              text,
    ADD COLUMN note               text,
    ADD COLUMN shipping_address   jsonb,
    ADD COLUMN shipping_method_id uuid REFERENCES shipping_methods (id),
    ADD COLUMN shipping_method    text,
    ADD COLUMN subtotal           bigint NOT NULL DEFAULT 0,
    ADD COLUMN discount           bigint NOT NULL DEFAULT 0,
    ADD COLUMN shipping           bigint NOT NULL DEFAULT 0,
    ADD COLUMN tax                bigint NOT NULL DEFAULT 0,
    ADD COLUMN total              bigint NOT NULL DEFAULT 0,
    ADD COLUMN coupon_id          uuid REFERENCES coupons (id),
    ADD COLUMN coupon_code        text,
    ADD COLUMN payment_method     text NOT NULL DEFAULT 'cash_on_delivery'
                                  CHECK (payment_method IN ('stripe', 'kaspi', 'cash_on_delivery')),
    ADD COLUMN payment_status     text NOT NULL DEFAULT 'pending'
                                  CHECK (payment_status IN ('pending', 'paid', 'failed', 'refunded', 'on_delivery')),
    ADD COLUMN payment_reference  text,
    ADD COLUMN client_secret      text,
    -- Set when a provider reported a payment that does not match the order.
    ADD COLUMN payment_flag       text,
    ADD COLUMN refund_id          text,
    -- Where the order's units are: held in `reserved`, taken from `stock`
    -- (confirmed), or given back.
    ADD COLUMN stock_state        text NOT NULL DEFAULT 'reserved'
                                  CHECK (stock_state IN ('reserved', 'deducted', 'released')),
    ADD COLUMN reserved_until     timestamptz,
    ADD COLUMN tracking_number    text,
    ADD COLUMN courier            text;
CREATE INDEX orders_expiring ON orders (reserved_until) WHERE status = 'pending' AND reserved_until IS NOT NULL;
CREATE INDEX orders_status_created ON orders (status, created_at DESC);
CREATE INDEX orders_created ON orders (created_at DESC);
CREATE UNIQUE INDEX orders_payment_reference ON orders (payment_reference) WHERE payment_reference IS NOT NULL;

ALTER TABLE order_items
    ADD COLUMN store_id   uuid REFERENCES stores (id),
    ADD COLUMN line_total bigint NOT NULL DEFAULT 0 CHECK (line_total >= 0);
CREATE INDEX order_items_store ON order_items (store_id, order_id);

CREATE TABLE order_status_log (
    id          bigserial PRIMARY KEY,
    order_id    uuid NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    from_status text,
    to_status   text NOT NULL,
    actor       text NOT NULL,
    actor_id    uuid,
    note        text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX order_status_log_order ON order_status_log (order_id, id);

CREATE TABLE coupon_redemptions (
    order_id   uuid PRIMARY KEY REFERENCES orders (id) ON DELETE CASCADE,
    coupon_id  uuid NOT NULL REFERENCES coupons (id),
    user_id    uuid REFERENCES users (id),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX coupon_redemptions_user ON coupon_redemptions (coupon_id, user_id);

-- One checkout per (user, Idempotency-Key); the request's hash tells a replay
-- from a different body sent with the same key.
CREATE TABLE checkout_requests (
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key          text NOT NULL,
    request_hash text NOT NULL,
    -- Written first (it serializes requests with the same key), before the
    -- order it names exists: checked at commit.
    order_id     uuid NOT NULL REFERENCES orders (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);

-- Verified provider events, stored once by id before they are processed.
CREATE TABLE payment_events (
    id           uuid PRIMARY KEY,
    provider     text NOT NULL CHECK (provider IN ('stripe', 'kaspi')),
    event_id     text NOT NULL,
    kind         text NOT NULL,
    payload      jsonb NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    processed_at timestamptz,
    outcome      text,
    CONSTRAINT payment_events_key UNIQUE (provider, event_id)
);
