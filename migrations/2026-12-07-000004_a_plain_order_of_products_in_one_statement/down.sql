-- Back to the procedure of migration lock_waits_end_by_a_deadline.
CREATE OR REPLACE PROCEDURE place_plain_order(
    buyer integer, address jsonb,
    line_products integer[], line_skus integer[], line_quantities integer[],
    OUT short_lines integer[], OUT short_available integer[],
    OUT order_id integer, OUT placed_at timestamptz, OUT order_total numeric,
    OUT unit_prices numeric[], OUT unbuyable boolean, OUT would_empty boolean,
    OUT product_names text[], OUT style_names text[], OUT sizes text[])
LANGUAGE plpgsql AS $$
DECLARE
    emptied boolean;
    -- (Computed before any lock is held: the check below is one comparison.)
    deadline timestamptz := call_deadline();
BEGIN
    -- (A procedure that commits may not carry SET clauses: these hold
    -- until its first commit.)
    PERFORM set_config('synchronous_commit', 'off', true),
            set_config('plan_cache_mode', 'force_generic_plan', true);
    unbuyable := EXISTS (
        SELECT 1 FROM unnest(line_products, line_skus) AS u(product, sku)
        WHERE CASE WHEN u.sku IS NULL
                   THEN EXISTS (SELECT 1 FROM sku_offers o WHERE o.product_id = u.product)
                   ELSE NOT EXISTS (SELECT 1 FROM sku_offers o
                                    WHERE o.sku_id = u.sku AND o.product_id = u.product) END);
    would_empty := false;
    IF unbuyable THEN
        ROLLBACK;
        RETURN;
    END IF;
    SELECT p.short_lines, p.short_available, p.order_id, p.placed_at, p.order_total,
           p.unit_prices, p.emptied, p.product_names, p.style_names, p.sizes
    INTO short_lines, short_available, order_id, placed_at, order_total, unit_prices, emptied,
         product_names, style_names, sizes
    FROM place_order_with_lines(buyer, address, line_products, line_skus, line_quantities) AS p;
    IF order_id IS NULL OR emptied THEN
        would_empty := coalesce(emptied, false);
        order_id := NULL;
        placed_at := NULL;
        order_total := NULL;
        unit_prices := NULL;
        product_names := NULL;
        style_names := NULL;
        sizes := NULL;
        ROLLBACK;
        RETURN;
    END IF;
    IF clock_timestamp() > deadline THEN
        -- Too late to commit: the request may have been answered 503
        -- already. Nothing is ordered (the error rolls it all back).
        RAISE EXCEPTION 'lock timeout: the order''s locks came too late to commit it; nothing was ordered'
            USING ERRCODE = 'lock_not_available';
    END IF;
    COMMIT;
    PERFORM set_config('synchronous_commit', 'on', true),
            pg_logical_emit_message(true, 'emporium', 'durable');
    -- Here, not at the end of `CALL`: the answer's row is sent when the
    -- procedure returns, and the client may read it before the statement's
    -- own end, so the flush is over before there is an answer.
    COMMIT;
END $$;
