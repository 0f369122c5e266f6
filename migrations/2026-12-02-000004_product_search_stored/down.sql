DROP INDEX products_search_document_idx;
ALTER TABLE products DROP COLUMN search_document;
CREATE INDEX products_search_idx ON products
    USING gin (product_search_document(product_name, slogan, description));
