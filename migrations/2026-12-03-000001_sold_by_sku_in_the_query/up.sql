-- Checkout asks whether a product is sold by SKU with an EXISTS written in
-- its own prepared statement. Through this SQL function, the question was
-- parsed and planned again at every execution: PostgreSQL inlines a SQL
-- function only when its body holds no sublink, and this one is an
-- EXISTS; one it does not inline plans its body once per execution of the
-- calling query (about 15% of PostgreSQL's time per order, by `perf`).
DROP FUNCTION sold_by_sku(integer);
