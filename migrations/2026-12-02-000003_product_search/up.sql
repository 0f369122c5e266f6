-- Search at a million products: full-text search over a product's name,
-- slogan and description (english stems; the name weighs most), spelled
-- once in an immutable function so that the GIN index below and every
-- query name the same document. Typos in a name are found through the
-- trigram index on product_name (pg_trgm, migration index_catalog_reads).

CREATE FUNCTION product_search_document(name TEXT, slogan TEXT, description TEXT)
RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT setweight(to_tsvector('english'::regconfig, coalesce(name, '')), 'A')
        || setweight(to_tsvector('english'::regconfig, coalesce(slogan, '')), 'B')
        || setweight(to_tsvector('english'::regconfig, coalesce(description, '')), 'C')
$$;

CREATE INDEX products_search_idx ON products
    USING gin (product_search_document(product_name, slogan, description));
