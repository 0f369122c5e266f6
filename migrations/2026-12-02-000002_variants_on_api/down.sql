ALTER TABLE order_lines DROP COLUMN size, DROP COLUMN style_name;

CREATE OR REPLACE VIEW sku_offers AS
SELECT k.id AS sku_id,
       s.product_id,
       s.id AS style_id,
       s.name AS style_name,
       k.size,
       COALESCE(s.sale_price, s.original_price) AS price,
       k.quantity AS available
FROM skus k
JOIN styles s ON s.id = k.style_id;

DROP VIEW style_offers;
