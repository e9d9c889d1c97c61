-- Wishlists, with an optional price-drop alert per item.
CREATE TABLE wishlist_items (
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    product_id  uuid NOT NULL REFERENCES products (id),
    price_alert boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, product_id)
);
CREATE INDEX wishlist_alerts ON wishlist_items (product_id) WHERE price_alert;
