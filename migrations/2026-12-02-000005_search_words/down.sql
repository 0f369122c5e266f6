DROP TRIGGER products_search_words_rename ON products;
DROP TRIGGER products_search_words_insert ON products;
DROP FUNCTION add_renamed_words();
DROP FUNCTION add_search_words();
DROP FUNCTION name_words(TEXT);
DROP TABLE search_words;
CREATE INDEX products_product_name_trgm_idx ON products USING gin (product_name gin_trgm_ops);
