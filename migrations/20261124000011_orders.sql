-- Orders: what customers bought. The commerce issue builds checkout on these;
-- reviews need them already, to mark a review `verified`.
CREATE TABLE orders (
    id          uuid PRIMARY KEY,
    number      text NOT NULL,
    user_id     uuid REFERENCES users (id),
    status      text NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'paid', 'confirmed', 'shipped', 'delivered', 'cancelled', 'refunded')),
    source      text NOT NULL DEFAULT 'web' CHECK (source IN ('web', 'kaspi', 'ozon')),
    external_id text,
    currency    text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT orders_number_key UNIQUE (number),
    CONSTRAINT orders_external_key UNIQUE (source, external_id)
);
CREATE INDEX orders_user ON orders (user_id, created_at DESC);

CREATE TABLE order_items (
    id         uuid PRIMARY KEY,
    order_id   uuid NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    variant_id uuid NOT NULL REFERENCES variants (id),
    product_id uuid NOT NULL REFERENCES products (id),
    sku        text NOT NULL,
    name       text NOT NULL,
    quantity   integer NOT NULL CHECK (quantity > 0),
    unit_price bigint NOT NULL CHECK (unit_price >= 0)
);
CREATE INDEX order_items_order ON order_items (order_id);
CREATE INDEX order_items_product ON order_items (product_id);
