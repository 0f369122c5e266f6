-- The stock functions as they were, and the trigger back.
CREATE OR REPLACE FUNCTION take_stock(product_ids integer[], sku_ids integer[], quantities integer[])
RETURNS integer
LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1 .. coalesce(array_length(product_ids, 1), 0) LOOP
        IF sku_ids[i] IS NULL THEN
            UPDATE products p SET stock = p.stock - quantities[i]
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

CREATE OR REPLACE FUNCTION skus_follow_inserts() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE products p
    SET stock = LEAST(p.stock::bigint + added.units, 2147483647)::integer
    FROM (SELECT s.product_id, sum(n.quantity) AS units
          FROM inserted_skus n JOIN styles s ON s.id = n.style_id
          GROUP BY s.product_id) added
    WHERE p.id = added.product_id;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION skus_follow_deletes() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE products p
    SET stock = GREATEST(p.stock::bigint - removed.units, 0)::integer
    FROM (SELECT s.product_id, sum(o.quantity) AS units
          FROM deleted_skus o JOIN styles s ON s.id = o.style_id
          GROUP BY s.product_id) removed
    WHERE p.id = removed.product_id;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION skus_follow_updates() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE products p
    SET stock = LEAST(GREATEST(p.stock::bigint - OLD.quantity, 0), 2147483647)::integer
    FROM styles s WHERE s.id = OLD.style_id AND p.id = s.product_id;
    UPDATE products p
    SET stock = LEAST(p.stock::bigint + NEW.quantity, 2147483647)::integer
    FROM styles s WHERE s.id = NEW.style_id AND p.id = s.product_id;
    RETURN NULL;
END $$;

SELECT diesel_manage_updated_at('products');
