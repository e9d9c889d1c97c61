-- Best sellers of the last 30 days without reading every line and order
-- ever sold: lines by time (index-only), joined to that window's orders
-- by id from the figures index (index-only too).
DROP INDEX orders_created_figures;
CREATE INDEX orders_created_figures ON orders (created_at) INCLUDE (id, status, total, source);
CREATE INDEX order_items_created ON order_items (created_at)
    INCLUDE (order_id, product_id, store_id, quantity, line_total);
