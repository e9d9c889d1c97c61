-- Reviews: one per customer per product. Published reviews count towards the
-- product's rating (products.rating_count/rating_sum, kept in the same
-- transaction); admins may hide one.
CREATE TABLE reviews (
    id           uuid PRIMARY KEY,
    product_id   uuid NOT NULL REFERENCES products (id),
    author_id    uuid NOT NULL REFERENCES users (id),
    rating       smallint NOT NULL CHECK (rating BETWEEN 1 AND 5),
    title        text NOT NULL DEFAULT '',
    body         text NOT NULL DEFAULT '',
    verified     boolean NOT NULL DEFAULT false,
    status       text NOT NULL DEFAULT 'published' CHECK (status IN ('published', 'hidden')),
    -- NULL until an admin has looked at it: the moderation queue.
    moderated_at timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT reviews_one_per_customer UNIQUE (product_id, author_id)
);
CREATE INDEX reviews_product ON reviews (product_id, created_at DESC) WHERE status = 'published';
CREATE INDEX reviews_unmoderated ON reviews (created_at) WHERE moderated_at IS NULL;
