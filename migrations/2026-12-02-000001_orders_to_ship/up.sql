-- Orders a store can ship: the shipping address given at checkout, kept as
-- given (a JSON object checked by the API: name, line1, line2, city,
-- postal_code, country), and the status history (a JSON array of
-- {status, at}, oldest first, appended to by every status change). Both
-- belong to the order row: they are read with it and never on their own.

ALTER TABLE orders
    ADD COLUMN shipping_address JSONB,
    ADD COLUMN history JSONB NOT NULL DEFAULT '[]',
    ADD CONSTRAINT orders_shipping_address_object
        CHECK (shipping_address IS NULL OR jsonb_typeof(shipping_address) = 'object'),
    ADD CONSTRAINT orders_history_array CHECK (jsonb_typeof(history) = 'array');

-- Orders placed before: `placed` when created, and where they are now.
UPDATE orders SET history =
    jsonb_build_array(jsonb_build_object('status', 'placed', 'at', created_at))
    || CASE WHEN status <> 'placed'
            THEN jsonb_build_array(jsonb_build_object('status', status, 'at', updated_at))
            ELSE '[]'::jsonb END;

-- The admins' list of every order, newest first, filtered by status or
-- by a range of creation times.
CREATE INDEX orders_created_at_id_idx ON orders (created_at DESC, id DESC);
CREATE INDEX orders_status_created_at_id_idx ON orders (status, created_at DESC, id DESC);
