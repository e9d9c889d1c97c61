-- Products, their variants and images, with what search and browse need.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE products (
    id           uuid PRIMARY KEY,
    store_id     uuid NOT NULL REFERENCES stores (id),
    category_id  uuid NOT NULL REFERENCES categories (id) ON DELETE RESTRICT,
    type_id      uuid NOT NULL REFERENCES product_types (id) ON DELETE RESTRICT,
    name         text NOT NULL,
    slug         text NOT NULL,
    code         text NOT NULL CHECK (code ~ '^[A-Z0-9]+(-[A-Z0-9]+)*$'),
    description  text NOT NULL DEFAULT '',
    -- Values of the type's product-level attributes, validated by the API.
    attributes   jsonb NOT NULL DEFAULT '{}',
    active       boolean NOT NULL DEFAULT true,
    -- Exact aggregates of published reviews, kept in the review's transaction.
    rating_count integer NOT NULL DEFAULT 0 CHECK (rating_count >= 0),
    rating_sum   integer NOT NULL DEFAULT 0 CHECK (rating_sum >= 0),
    -- Cheapest and dearest active variant (trigger below), for sorting by price.
    min_price    bigint,
    max_price    bigint,
    tweet_id     text,
    -- Name weighs more than description; English and Russian stemming both,
    -- since shops sell in both (Kazakh text is matched as written).
    search       tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english', name), 'A') ||
        setweight(to_tsvector('russian', name), 'A') ||
        setweight(to_tsvector('simple', code), 'A') ||
        setweight(to_tsvector('english', description), 'B') ||
        setweight(to_tsvector('russian', description), 'B')
    ) STORED,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    -- Deleted softly: orders and reviews keep referring to them.
    deleted_at   timestamptz
);
CREATE UNIQUE INDEX products_slug_key ON products (slug) WHERE deleted_at IS NULL;
-- Codes stay taken after a delete: the deleted product's SKUs (unique for ever,
-- orders print them) start with it.
CREATE UNIQUE INDEX products_code_key ON products (code);
CREATE INDEX products_store ON products (store_id) WHERE deleted_at IS NULL;
CREATE INDEX products_category ON products (category_id) WHERE deleted_at IS NULL AND active;
CREATE INDEX products_newest ON products (created_at DESC, id) WHERE deleted_at IS NULL AND active;
CREATE INDEX products_price ON products (min_price, id) WHERE deleted_at IS NULL AND active;
CREATE INDEX products_search ON products USING gin (search);
CREATE INDEX products_name_trgm ON products USING gin (name gin_trgm_ops);
CREATE INDEX products_attributes ON products USING gin (attributes jsonb_path_ops);

CREATE TABLE variants (
    id           uuid PRIMARY KEY,
    product_id   uuid NOT NULL REFERENCES products (id),
    sku          text NOT NULL CHECK (sku ~ '^[A-Z0-9]+(-[A-Z0-9]+)*$'),
    attributes   jsonb NOT NULL DEFAULT '{}',
    price        bigint NOT NULL CHECK (price >= 0),
    currency     text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    -- What we own and what pending orders hold; available = stock - reserved.
    stock        integer NOT NULL DEFAULT 0 CHECK (stock >= 0),
    reserved     integer NOT NULL DEFAULT 0 CHECK (reserved >= 0 AND reserved <= stock),
    weight_grams integer NOT NULL DEFAULT 0 CHECK (weight_grams >= 0),
    active       boolean NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT variants_sku_key UNIQUE (sku)
);
CREATE INDEX variants_product ON variants (product_id) INCLUDE (price, active, stock, reserved);
CREATE INDEX variants_attributes ON variants USING gin (attributes jsonb_path_ops);

-- Keeps products.min_price/max_price equal to the range of active variants.
-- Fires on price and activity changes only, so stock movements at checkout
-- never touch (or lock) the product row.
CREATE FUNCTION products_refresh_price_range() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    pid uuid := COALESCE(NEW.product_id, OLD.product_id);
BEGIN
    UPDATE products p
       SET min_price = r.lo, max_price = r.hi
      FROM (SELECT min(price) AS lo, max(price) AS hi FROM variants
             WHERE product_id = pid AND active) r
     WHERE p.id = pid AND (p.min_price IS DISTINCT FROM r.lo OR p.max_price IS DISTINCT FROM r.hi);
    RETURN NULL;
END $$;
CREATE TRIGGER variants_price_range
    AFTER INSERT OR DELETE OR UPDATE OF price, active ON variants
    FOR EACH ROW EXECUTE FUNCTION products_refresh_price_range();

CREATE TABLE product_images (
    id           uuid PRIMARY KEY,
    product_id   uuid NOT NULL REFERENCES products (id),
    -- Key in the object store (STORAGE_URL).
    storage_key  text NOT NULL UNIQUE,
    content_type text NOT NULL,
    size_bytes   integer NOT NULL,
    position     integer NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX product_images_product ON product_images (product_id, position, created_at);
