-- Multi-vendor stores and the category tree.
CREATE TABLE stores (
    id          uuid PRIMARY KEY,
    owner_id    uuid NOT NULL REFERENCES users (id),
    name        text NOT NULL,
    slug        text NOT NULL,
    description text NOT NULL DEFAULT '',
    active      boolean NOT NULL DEFAULT true,
    tweet_id    text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    -- Stores are deleted softly: products and orders keep referring to them.
    deleted_at  timestamptz
);
CREATE UNIQUE INDEX stores_slug_key ON stores (slug) WHERE deleted_at IS NULL;
CREATE INDEX stores_owner ON stores (owner_id) WHERE deleted_at IS NULL;
CREATE INDEX stores_listing ON stores (created_at DESC) WHERE deleted_at IS NULL AND active;

CREATE TABLE categories (
    id         uuid PRIMARY KEY,
    parent_id  uuid REFERENCES categories (id) ON DELETE RESTRICT,
    name       text NOT NULL,
    slug       text NOT NULL,
    position   integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT categories_slug_key UNIQUE (slug),
    CONSTRAINT categories_not_own_parent CHECK (parent_id IS NULL OR parent_id <> id)
);
CREATE INDEX categories_parent ON categories (parent_id, position);
