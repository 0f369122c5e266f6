-- Project Catwalk variants: a product's styles, their photos and SKUs, and
-- related products. A product with SKUs keeps `products.stock` equal to the
-- sum of its SKUs' quantities (the importer sets it; sales take from both).

CREATE TABLE styles (
    id             SERIAL PRIMARY KEY,
    product_id     INTEGER NOT NULL,
    name           TEXT NOT NULL,
    sale_price     NUMERIC(10, 2),
    original_price NUMERIC(10, 2) NOT NULL,
    is_default     BOOLEAN NOT NULL DEFAULT false,
    CONSTRAINT styles_original_price_non_negative CHECK (original_price >= 0),
    CONSTRAINT styles_sale_price_non_negative CHECK (sale_price >= 0),
    CONSTRAINT styles_product_id_fkey FOREIGN KEY (product_id)
        REFERENCES products (id) ON DELETE CASCADE
);
CREATE INDEX styles_product_id_idx ON styles (product_id);

CREATE TABLE photos (
    id            SERIAL PRIMARY KEY,
    style_id      INTEGER NOT NULL,
    url           TEXT,
    thumbnail_url TEXT,
    CONSTRAINT photos_style_id_fkey FOREIGN KEY (style_id)
        REFERENCES styles (id) ON DELETE CASCADE
);
CREATE INDEX photos_style_id_idx ON photos (style_id);

CREATE TABLE skus (
    id       SERIAL PRIMARY KEY,
    style_id INTEGER NOT NULL,
    size     TEXT NOT NULL,
    quantity INTEGER NOT NULL DEFAULT 0,
    CONSTRAINT skus_quantity_non_negative CHECK (quantity >= 0),
    CONSTRAINT skus_style_id_fkey FOREIGN KEY (style_id)
        REFERENCES styles (id) ON DELETE CASCADE
);
CREATE INDEX skus_style_id_idx ON skus (style_id);

CREATE TABLE related_products (
    id                 SERIAL PRIMARY KEY,
    product_id         INTEGER NOT NULL,
    related_product_id INTEGER NOT NULL,
    CONSTRAINT related_products_product_id_fkey FOREIGN KEY (product_id)
        REFERENCES products (id) ON DELETE CASCADE,
    CONSTRAINT related_products_related_product_id_fkey FOREIGN KEY (related_product_id)
        REFERENCES products (id) ON DELETE CASCADE
);
CREATE INDEX related_products_product_id_idx ON related_products (product_id);
