-- A product's derived columns (price range, facet values) are rewritten only
-- when they change. Before, every variant insert, price edit or activation
-- rewrote the product row even when nothing derived from it moved: the seed
-- left more dead product rows than live ones (10,000 products, 12,477 dead),
-- and a vendor's bulk variant edit churned every index of the product.
CREATE OR REPLACE FUNCTION products_refresh_price_range() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    pid uuid := COALESCE(NEW.product_id, OLD.product_id);
BEGIN
    -- Lock first, then read in a new statement: its fresh snapshot sees the
    -- variants a concurrent writer committed while we waited for the lock.
    PERFORM 1 FROM products WHERE id = pid FOR UPDATE;
    UPDATE products p
       SET min_price = r.lo, max_price = r.hi, facet_values = r.fv
      FROM (SELECT min(price) AS lo, max(price) AS hi,
                   product_facet_values(pid, (SELECT attributes FROM products WHERE id = pid)) AS fv
              FROM variants WHERE product_id = pid AND active) r
     WHERE p.id = pid
       AND (p.min_price, p.max_price, p.facet_values) IS DISTINCT FROM (r.lo, r.hi, r.fv);
    RETURN NULL;
END $$;

-- On insert, facet values given with the row (a bulk load that knows its
-- variants) are kept and merged with the product's own: the variants' trigger
-- then finds nothing to change. On an attribute change, all are recomputed.
CREATE OR REPLACE FUNCTION products_refresh_facets() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.facet_values := (
            SELECT COALESCE(array_agg(DISTINCT fv ORDER BY fv), '{}')
              FROM unnest(NEW.facet_values || product_facet_values(NEW.id, NEW.attributes)) fv);
    ELSE
        NEW.facet_values := product_facet_values(NEW.id, NEW.attributes);
    END IF;
    RETURN NEW;
END $$;
