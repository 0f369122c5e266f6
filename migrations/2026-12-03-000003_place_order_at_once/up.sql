-- A plain order (items, no idempotency key, no expected total) placed,
-- committed and flushed in one call: one round trip from the server
-- instead of three (`BEGIN`; the statements; `COMMIT` and the wait for the
-- disk). The product rows stay locked only while PostgreSQL works, no
-- longer across the server's turn between the statement and its `COMMIT`,
-- which is what a hot product's buyers wait for in turn.
--
-- A procedure may commit when `CALL` runs in its own transaction. It
-- commits only an order the server would have committed after reading
-- `place_order`'s answer, and rolls back everything else:
--
-- - lines that ask for more than is left (`short_lines`, as `place_order`
--   answers them);
-- - lines that name nothing buyable (`unbuyable`): a SKU that is not the
--   product's own, or no SKU for a product sold by SKU. These are the
--   inventory's rules (`inventory::resolve`, which the server runs beside
--   this call and whose answer it gives);
-- - an order that would leave a product with no stock (`would_empty`). The
--   server retires the `inStock` lists before such a commit, so it places
--   that order again as one transaction of its own (`docs/cache.md`).
--
-- The commit is asynchronous, so the row locks go at once. A second
-- transaction then writes a transactional logical message and commits
-- synchronously, which flushes the WAL past the order's commit record
-- before `CALL` answers (as `db::commit_and_wait_for_disk` does).
--
-- The server runs it beside its reads with a `lock_timeout` shorter than
-- its request timeout: a buyer answered 503 is not charged afterwards.
CREATE PROCEDURE place_order_at_once(
    buyer integer, address jsonb,
    line_products integer[], line_skus integer[], line_quantities integer[],
    OUT short_lines integer[], OUT short_available integer[],
    OUT order_id integer, OUT placed_at timestamptz, OUT order_total numeric,
    OUT unit_prices numeric[], OUT unbuyable boolean, OUT would_empty boolean)
LANGUAGE plpgsql AS $$
DECLARE
    emptied boolean;
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
           p.unit_prices, p.emptied
    INTO short_lines, short_available, order_id, placed_at, order_total, unit_prices, emptied
    FROM place_order(buyer, address, line_products, line_skus, line_quantities) AS p;
    IF order_id IS NULL OR emptied THEN
        would_empty := coalesce(emptied, false);
        order_id := NULL;
        placed_at := NULL;
        order_total := NULL;
        unit_prices := NULL;
        ROLLBACK;
        RETURN;
    END IF;
    COMMIT;
    PERFORM set_config('synchronous_commit', 'on', true),
            pg_logical_emit_message(true, 'emporium', 'durable');
    -- Here, not at the end of `CALL`: the answer's row is sent when the
    -- procedure returns, and the client may read it before the statement's
    -- own end, so the flush is over before there is an answer.
    COMMIT;
END $$;
