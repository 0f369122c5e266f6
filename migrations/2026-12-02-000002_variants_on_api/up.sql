-- Every product sold through /api: what a shopper pays for a style is now
-- written once, in `style_offers` (the sale price when set, else the
-- original), and `sku_offers` reads it from there; a product's variants
-- (its styles with their photos and SKUs) show it. Order lines keep the
-- style and size they were bought in, as they keep the name and price.

CREATE VIEW style_offers AS
SELECT s.id AS style_id,
       s.product_id,
       s.name,
       s.original_price,
       s.sale_price,
       COALESCE(s.sale_price, s.original_price) AS price,
       s.is_default
FROM styles s;

CREATE OR REPLACE VIEW sku_offers AS
SELECT k.id AS sku_id,
       o.product_id,
       o.style_id,
       o.name AS style_name,
       k.size,
       o.price,
       k.quantity AS available
FROM skus k
JOIN style_offers o ON o.style_id = k.style_id;

ALTER TABLE order_lines
    ADD COLUMN style_name TEXT,
    ADD COLUMN size TEXT;

UPDATE order_lines l
SET style_name = o.style_name, size = o.size
FROM sku_offers o
WHERE o.sku_id = l.sku_id;
