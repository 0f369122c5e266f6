-- Typo tolerance through a word list, as pg_trgm's documentation suggests
-- ("Text Search Integration"): the distinct words of product names, with a
-- trigram index. A search looks its words up here (a small table) and adds
-- the close spellings it finds to the full-text query, so every product is
-- then found through the search document's GIN index alone. Measured at 1M
-- products, the trigram arm on product_name (`q <% product_name`) rechecked
-- every candidate name: 0.44 s for a word common to 62,786 products.
--
-- Words are only ever added (a word no name still holds only widens a
-- search to the spelling it corrects to, which then finds nothing more).

-- The names' own trigram index served only that arm (and the substring
-- match before it); the import rebuilt it for nothing.
DROP INDEX products_product_name_trgm_idx;

CREATE TABLE search_words (
    word TEXT PRIMARY KEY CONSTRAINT search_words_not_blank CHECK (word <> '')
);

CREATE INDEX search_words_trgm_idx ON search_words USING gin (word gin_trgm_ops);

-- The words of a name: lower case, split at anything not a letter or digit.
CREATE FUNCTION name_words(name TEXT) RETURNS SETOF TEXT
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT DISTINCT word
    FROM regexp_split_to_table(lower(name), '[^[:alnum:]]+') AS word
    WHERE length(word) >= 3
$$;

INSERT INTO search_words
SELECT DISTINCT word FROM products, name_words(product_name) AS word;

-- Kept by triggers: one per INSERT statement, so a COPY of a million rows
-- adds its words in one INSERT (transition table); and one per row whose
-- name an UPDATE changes (stock updates by orders do not fire it).
CREATE FUNCTION add_search_words() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    INSERT INTO search_words
    SELECT DISTINCT word FROM written, name_words(written.product_name) AS word
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;

CREATE FUNCTION add_renamed_words() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    INSERT INTO search_words
    SELECT word FROM name_words(NEW.product_name) AS word
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;

CREATE TRIGGER products_search_words_insert
    AFTER INSERT ON products REFERENCING NEW TABLE AS written
    FOR EACH STATEMENT EXECUTE FUNCTION add_search_words();

CREATE TRIGGER products_search_words_rename
    AFTER UPDATE OF product_name ON products
    FOR EACH ROW WHEN (OLD.product_name IS DISTINCT FROM NEW.product_name)
    EXECUTE FUNCTION add_renamed_words();
