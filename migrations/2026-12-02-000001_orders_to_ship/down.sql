DROP INDEX orders_status_created_at_id_idx;
DROP INDEX orders_created_at_id_idx;
ALTER TABLE orders
    DROP CONSTRAINT orders_history_array,
    DROP CONSTRAINT orders_shipping_address_object,
    DROP COLUMN history,
    DROP COLUMN shipping_address;
