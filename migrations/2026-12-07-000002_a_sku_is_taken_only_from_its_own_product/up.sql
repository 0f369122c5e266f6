-- A SKU is taken only for its own product.
--
-- An order's lines are checked by the server (`inventory::resolve`), but an
-- order in a transaction (one with `expected_total` or an Idempotency-Key,
-- or from the cart) sends that read and `place_order_with_lines` in the
-- same round trip, so the locked part runs before the server has refused a
-- line naming another product's SKU. `take_stock` then took that SKU's
-- quantity, and the SKU's trigger (`skus_follow_updates`) locked the SKU's
-- own product: a product lock taken after a SKU lock, out of the documented
-- order (products by id, then SKUs). A cancellation or an order of that
-- product, holding it and waiting for the SKU, deadlocked with it, and one
-- of them was answered 503.
--
-- Now such a line is taken from nothing: `take_stock` reports it as the
-- line it could not take (the caller then refuses the order, and the
-- server answers the 422 its own read found). Its signature is kept.

CREATE OR REPLACE FUNCTION take_stock(product_ids integer[], sku_ids integer[], quantities integer[])
RETURNS integer
LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1 .. coalesce(array_length(product_ids, 1), 0) LOOP
        IF sku_ids[i] IS NULL THEN
            UPDATE products p SET stock = p.stock - quantities[i], updated_at = now()
            WHERE p.id = product_ids[i] AND p.stock >= quantities[i];
        ELSE
            UPDATE skus k SET quantity = k.quantity - quantities[i]
            WHERE k.id = sku_ids[i] AND k.quantity >= quantities[i]
              AND EXISTS (SELECT 1 FROM styles s
                          WHERE s.id = k.style_id AND s.product_id = product_ids[i]);
        END IF;
        IF NOT FOUND THEN
            RETURN i;
        END IF;
    END LOOP;
    RETURN 0;
END $$;
