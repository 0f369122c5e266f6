-- The store catalog: categories, products, tags and the ProductTag link,
-- plus a product's features (shared by the /api and /catwalk renderings).
-- Every rule the API promises is also a constraint here, named so that the
-- application can map a violation to the field it concerns.

CREATE TABLE categories (
    id            SERIAL PRIMARY KEY,
    category_name TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT categories_category_name_length
        CHECK (char_length(category_name) BETWEEN 1 AND 255)
);
-- Names are unique regardless of case ("Shirts" and "shirts" are one category).
CREATE UNIQUE INDEX categories_category_name_key ON categories (lower(category_name));
SELECT diesel_manage_updated_at('categories');

CREATE TABLE tags (
    id         SERIAL PRIMARY KEY,
    tag_name   TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT tags_tag_name_length CHECK (char_length(tag_name) BETWEEN 1 AND 255)
);
CREATE UNIQUE INDEX tags_tag_name_key ON tags (lower(tag_name));
SELECT diesel_manage_updated_at('tags');

CREATE TABLE products (
    id           SERIAL PRIMARY KEY,
    product_name TEXT NOT NULL,
    slogan       TEXT,
    description  TEXT,
    price        NUMERIC(10, 2) NOT NULL,
    stock        INTEGER NOT NULL DEFAULT 0,
    category_id  INTEGER,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT products_product_name_length
        CHECK (char_length(product_name) BETWEEN 1 AND 255),
    CONSTRAINT products_price_non_negative CHECK (price >= 0),
    CONSTRAINT products_stock_non_negative CHECK (stock >= 0),
    CONSTRAINT products_category_id_fkey FOREIGN KEY (category_id)
        REFERENCES categories (id) ON DELETE SET NULL
);
CREATE INDEX products_category_id_id_idx ON products (category_id, id);
SELECT diesel_manage_updated_at('products');

CREATE TABLE product_tags (
    id         SERIAL PRIMARY KEY,
    product_id INTEGER NOT NULL,
    tag_id     INTEGER NOT NULL,
    CONSTRAINT product_tags_product_id_tag_id_key UNIQUE (product_id, tag_id),
    CONSTRAINT product_tags_product_id_fkey FOREIGN KEY (product_id)
        REFERENCES products (id) ON DELETE CASCADE,
    CONSTRAINT product_tags_tag_id_fkey FOREIGN KEY (tag_id)
        REFERENCES tags (id) ON DELETE CASCADE
);
-- The unique key serves lookups by product; this one serves "products of a tag".
CREATE INDEX product_tags_tag_id_product_id_idx ON product_tags (tag_id, product_id);

CREATE TABLE features (
    id         SERIAL PRIMARY KEY,
    product_id INTEGER NOT NULL,
    feature    TEXT NOT NULL,
    value      TEXT,
    CONSTRAINT features_product_id_fkey FOREIGN KEY (product_id)
        REFERENCES products (id) ON DELETE CASCADE
);
CREATE INDEX features_product_id_idx ON features (product_id);
