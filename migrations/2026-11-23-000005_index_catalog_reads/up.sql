-- Indexes for every documented filter and sort of /api/products at a
-- million products: each sort is (column, id) so ties page stably, with and
-- without the category filter; a trigram index serves the `q` name search.
-- `emporium import-catwalk` drops these before its bulk load and rebuilds
-- them after (it reads their definitions from pg_indexes).

CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE INDEX products_created_at_id_idx ON products (created_at, id);
CREATE INDEX products_price_id_idx ON products (price, id);
CREATE INDEX products_product_name_id_idx ON products (product_name, id);
CREATE INDEX products_category_id_created_at_id_idx ON products (category_id, created_at, id);
CREATE INDEX products_category_id_price_id_idx ON products (category_id, price, id);
CREATE INDEX products_category_id_product_name_id_idx ON products (category_id, product_name, id);
CREATE INDEX products_product_name_trgm_idx ON products USING gin (product_name gin_trgm_ops);
