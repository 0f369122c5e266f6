-- Shoppers' carts and orders. An order line keeps the product's name and
-- price as they were at purchase, so deleting or repricing a product never
-- changes a past order.

CREATE TABLE cart_items (
    id         SERIAL PRIMARY KEY,
    user_id    INTEGER NOT NULL,
    product_id INTEGER NOT NULL,
    sku_id     INTEGER,
    quantity   INTEGER NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT cart_items_quantity_positive CHECK (quantity > 0),
    -- One line per user, product and SKU (no SKU counts as one value).
    CONSTRAINT cart_items_line_key UNIQUE NULLS NOT DISTINCT (user_id, product_id, sku_id),
    CONSTRAINT cart_items_user_id_fkey FOREIGN KEY (user_id)
        REFERENCES users (id) ON DELETE CASCADE,
    -- A deleted product leaves every cart.
    CONSTRAINT cart_items_product_id_fkey FOREIGN KEY (product_id)
        REFERENCES products (id) ON DELETE CASCADE,
    CONSTRAINT cart_items_sku_id_fkey FOREIGN KEY (sku_id)
        REFERENCES skus (id) ON DELETE CASCADE
);
SELECT diesel_manage_updated_at('cart_items');

CREATE TABLE orders (
    id         SERIAL PRIMARY KEY,
    user_id    INTEGER NOT NULL,
    status     TEXT NOT NULL DEFAULT 'placed',
    total      NUMERIC(10, 2) NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT orders_status_known
        CHECK (status IN ('placed', 'paid', 'shipped', 'delivered', 'cancelled')),
    CONSTRAINT orders_total_non_negative CHECK (total >= 0),
    CONSTRAINT orders_user_id_fkey FOREIGN KEY (user_id)
        REFERENCES users (id) ON DELETE CASCADE
);
CREATE INDEX orders_user_id_id_idx ON orders (user_id, id);
SELECT diesel_manage_updated_at('orders');

CREATE TABLE order_lines (
    id           SERIAL PRIMARY KEY,
    order_id     INTEGER NOT NULL,
    product_id   INTEGER,
    sku_id       INTEGER,
    product_name TEXT NOT NULL,
    unit_price   NUMERIC(10, 2) NOT NULL,
    quantity     INTEGER NOT NULL,
    CONSTRAINT order_lines_quantity_positive CHECK (quantity > 0),
    CONSTRAINT order_lines_unit_price_non_negative CHECK (unit_price >= 0),
    CONSTRAINT order_lines_order_id_fkey FOREIGN KEY (order_id)
        REFERENCES orders (id) ON DELETE CASCADE,
    -- Past orders outlive their products: the line keeps its snapshot.
    CONSTRAINT order_lines_product_id_fkey FOREIGN KEY (product_id)
        REFERENCES products (id) ON DELETE SET NULL,
    CONSTRAINT order_lines_sku_id_fkey FOREIGN KEY (sku_id)
        REFERENCES skus (id) ON DELETE SET NULL
);
CREATE INDEX order_lines_order_id_idx ON order_lines (order_id);

-- Idempotency-Key: the first answer to (user, key), replayed for 24 hours.
CREATE TABLE idempotency_keys (
    user_id       INTEGER NOT NULL,
    key           TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    order_id      INTEGER NOT NULL,
    response_body TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key),
    CONSTRAINT idempotency_keys_key_length CHECK (char_length(key) BETWEEN 1 AND 255),
    CONSTRAINT idempotency_keys_user_id_fkey FOREIGN KEY (user_id)
        REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT idempotency_keys_order_id_fkey FOREIGN KEY (order_id)
        REFERENCES orders (id) ON DELETE CASCADE
);
