-- Product types: the attributes a kind of product has (the EAV of the catalogue).
-- Product-level attributes (material) take one value per product; variant-level
-- ones (size, color) span the variants.
CREATE TABLE product_types (
    id         uuid PRIMARY KEY,
    name       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT product_types_name_key UNIQUE (name)
);

CREATE TABLE product_type_attributes (
    type_id        uuid NOT NULL REFERENCES product_types (id) ON DELETE CASCADE,
    code           text NOT NULL CHECK (code ~ '^[a-z][a-z0-9_]{0,39}$'),
    name           text NOT NULL,
    level          text NOT NULL CHECK (level IN ('product', 'variant')),
    -- Empty means any value (free text, product level only).
    allowed_values text[] NOT NULL DEFAULT '{}',
    position       integer NOT NULL DEFAULT 0,
    PRIMARY KEY (type_id, code),
    CONSTRAINT variant_attributes_have_values CHECK (level = 'product' OR cardinality(allowed_values) > 0)
);
