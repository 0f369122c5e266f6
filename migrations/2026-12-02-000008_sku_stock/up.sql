-- The stock rule of migration `inventory_rules` (a product sold by SKU has
-- the sum of its SKUs' quantities, held at the integer range's top) as a
-- view, for a writer that loads a whole catalog at once: the Catwalk
-- importer loads the SKUs with the per-statement trigger off and writes
-- each product once, with its stock from here, instead of writing every
-- product a second time (measured at 1M products: the trigger's update of
-- every product was 35-40 s of a 119 s import, and left a dead version of
-- every product behind).
CREATE VIEW sku_stock AS
SELECT s.product_id, LEAST(sum(k.quantity), 2147483647)::integer AS units
FROM skus k
JOIN styles s ON s.id = k.style_id
GROUP BY s.product_id;
