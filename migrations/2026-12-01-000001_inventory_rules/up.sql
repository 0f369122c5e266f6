-- Two rules of the inventory, each written once, in the database, where
-- every writer (the API, the seed, the Catwalk importer, a psql session)
-- is held to them.
--
-- 1. What a shopper pays for a SKU: its style's sale price when there is
--    one, else the original price. `sku_offers` is every SKU with that
--    price and what is left of it; the cart, checkout and every document
--    that shows a SKU's price read it from here.
-- 2. A product sold by SKU has the sum of its SKUs' quantities as its
--    stock. The triggers below keep `products.stock` in step with every
--    change to `skus`: per row for updates (a sale, a cancellation), per
--    statement for inserts and deletes (so a bulk load of millions of SKUs
--    updates each product once). Sums past the integer range are held at
--    its top.

CREATE VIEW sku_offers AS
SELECT k.id AS sku_id,
       s.product_id,
       s.id AS style_id,
       s.name AS style_name,
       k.size,
       COALESCE(s.sale_price, s.original_price) AS price,
       k.quantity AS available
FROM skus k
JOIN styles s ON s.id = k.style_id;

CREATE FUNCTION skus_follow_inserts() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE products p
    SET stock = LEAST(p.stock::bigint + added.units, 2147483647)::integer
    FROM (SELECT s.product_id, sum(n.quantity) AS units
          FROM inserted_skus n JOIN styles s ON s.id = n.style_id
          GROUP BY s.product_id) added
    WHERE p.id = added.product_id;
    RETURN NULL;
END $$;

CREATE FUNCTION skus_follow_deletes() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE products p
    SET stock = GREATEST(p.stock::bigint - removed.units, 0)::integer
    FROM (SELECT s.product_id, sum(o.quantity) AS units
          FROM deleted_skus o JOIN styles s ON s.id = o.style_id
          GROUP BY s.product_id) removed
    WHERE p.id = removed.product_id;
    RETURN NULL;
END $$;

CREATE FUNCTION skus_follow_updates() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE products p
    SET stock = LEAST(GREATEST(p.stock::bigint - OLD.quantity, 0), 2147483647)::integer
    FROM styles s WHERE s.id = OLD.style_id AND p.id = s.product_id;
    UPDATE products p
    SET stock = LEAST(p.stock::bigint + NEW.quantity, 2147483647)::integer
    FROM styles s WHERE s.id = NEW.style_id AND p.id = s.product_id;
    RETURN NULL;
END $$;

CREATE TRIGGER skus_stock_on_insert AFTER INSERT ON skus
    REFERENCING NEW TABLE AS inserted_skus
    FOR EACH STATEMENT EXECUTE FUNCTION skus_follow_inserts();
CREATE TRIGGER skus_stock_on_delete AFTER DELETE ON skus
    REFERENCING OLD TABLE AS deleted_skus
    FOR EACH STATEMENT EXECUTE FUNCTION skus_follow_deletes();
CREATE TRIGGER skus_stock_on_update AFTER UPDATE OF quantity, style_id ON skus
    FOR EACH ROW WHEN (OLD.quantity IS DISTINCT FROM NEW.quantity
                       OR OLD.style_id IS DISTINCT FROM NEW.style_id)
    EXECUTE FUNCTION skus_follow_updates();
