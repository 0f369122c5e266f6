-- A SKU's quantity change (a sale, a cancellation, an admin's edit) moved
-- its product's stock in two UPDATEs, the old quantity out, then the new
-- one in: two row versions of the product, and, when the update is not HOT,
-- two sets of index entries (the search document's GIN index among them)
-- for every SKU line sold. Within one style it is now one UPDATE computing
-- the same value (the same clamps, in the same order).
CREATE OR REPLACE FUNCTION skus_follow_updates() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.style_id = OLD.style_id THEN
        UPDATE products p
        SET stock = LEAST(GREATEST(p.stock::bigint - OLD.quantity, 0) + NEW.quantity,
                          2147483647)::integer,
            updated_at = now()
        FROM styles s WHERE s.id = NEW.style_id AND p.id = s.product_id;
        RETURN NULL;
    END IF;
    UPDATE products p
    SET stock = LEAST(GREATEST(p.stock::bigint - OLD.quantity, 0), 2147483647)::integer,
        updated_at = now()
    FROM styles s WHERE s.id = OLD.style_id AND p.id = s.product_id;
    UPDATE products p
    SET stock = LEAST(p.stock::bigint + NEW.quantity, 2147483647)::integer, updated_at = now()
    FROM styles s WHERE s.id = NEW.style_id AND p.id = s.product_id;
    RETURN NULL;
END $$;
