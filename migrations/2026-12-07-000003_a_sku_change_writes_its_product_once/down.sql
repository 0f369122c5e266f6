CREATE OR REPLACE FUNCTION skus_follow_updates() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE products p
    SET stock = LEAST(GREATEST(p.stock::bigint - OLD.quantity, 0), 2147483647)::integer,
        updated_at = now()
    FROM styles s WHERE s.id = OLD.style_id AND p.id = s.product_id;
    UPDATE products p
    SET stock = LEAST(p.stock::bigint + NEW.quantity, 2147483647)::integer, updated_at = now()
    FROM styles s WHERE s.id = NEW.style_id AND p.id = s.product_id;
    RETURN NULL;
END $$;
