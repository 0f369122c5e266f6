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
            WHERE k.id = sku_ids[i] AND k.quantity >= quantities[i];
        END IF;
        IF NOT FOUND THEN
            RETURN i;
        END IF;
    END LOOP;
    RETURN 0;
END $$;
