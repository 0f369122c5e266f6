-- A plain order of products sold without SKUs takes their stock and writes
-- the order and its lines in one statement.
--
-- `place_plain_order` (migration lock_waits_end_by_a_deadline) checked that
-- every line names something buyable, then called `place_order_with_lines`
-- (a function with a `SET` clause), which queued for the products
-- (`queue_within_deadline`), locked the products and then the SKUs, read
-- each line's stock for the short ones, took the stock line by line
-- (`take_stock`, a loop of its own), priced and wrote the order, and looked
-- for a product left at zero: about ten statements in three nested PL/pgSQL
-- calls for a one-line order. `perf` and `track_functions` put most of
-- PostgreSQL's time per order there (`docs/performance.md`, session 30).
--
-- Now, when every line names a product and no SKU, the procedure checks
-- that each is buyable (unchanged: before any lock), queues for the
-- products and locks them by id as before, and then, when the lock took
-- every line's product, one statement takes every line and writes the
-- order and its lines, but only when every line can be taken: each names
-- a different product that has the quantity. Otherwise that statement
-- writes nothing, and the statements of before decide in the same
-- transaction, with the locks already held (a product short of stock, one
-- that does not exist, one named twice: the refusals and their precedence
-- are theirs).
-- An order that takes a product's last unit is rolled back as before
-- (`would_empty`: the server places it in a transaction of its own).
-- Orders that name a SKU go the way they went.
--
-- Its signature and answers are kept: a server of the release before calls
-- it the same way.

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
    locked bigint;
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
    IF cardinality(line_products) > 0 AND array_ndims(line_products) = 1
       AND array_ndims(line_quantities) = 1
       AND array_lower(line_products, 1) = 1 AND array_lower(line_quantities, 1) = 1
       AND cardinality(line_quantities) = cardinality(line_products)
       AND NOT EXISTS (SELECT 1 FROM unnest(line_skus) AS s(sku) WHERE s.sku IS NOT NULL) THEN
        -- Products only: in the order every writer of stock takes them.
        PERFORM queue_within_deadline(line_products);
        PERFORM 1 FROM products p WHERE p.id = ANY(line_products) ORDER BY p.id FOR UPDATE;
        -- Only rows this lock took: a product committed after it (a new id
        -- named early) would be read by the statement below unlocked.
        GET DIAGNOSTICS locked = ROW_COUNT;
    END IF;
    IF locked = cardinality(line_products) THEN
        WITH wanted AS (
            SELECT u.product, u.quantity, u.n
            FROM unnest(line_products, line_quantities) WITH ORDINALITY AS u(product, quantity, n)
        ), takeable AS (
            -- Every line, each a different product that has its quantity
            -- (every line's product is locked: what this reads stays so
            -- until the commit). Else the statement writes nothing.
            SELECT count(*) = cardinality(line_products)
                   AND count(DISTINCT w.product) = count(*) AS every_line
            FROM wanted w JOIN products p ON p.id = w.product
            WHERE p.stock >= w.quantity
        ), taken AS (
            UPDATE products p SET stock = p.stock - w.quantity, updated_at = now()
            FROM wanted w
            WHERE p.id = w.product AND p.stock >= w.quantity AND (SELECT every_line FROM takeable)
            RETURNING w.n, p.id, p.product_name, p.price, w.quantity, p.stock
        ), placed AS (
            INSERT INTO orders (user_id, total, shipping_address, history)
            SELECT buyer, sum(taken.price * taken.quantity), address,
                   jsonb_build_array(jsonb_build_object('status', 'placed', 'at', now()))
            FROM taken
            HAVING count(*) = cardinality(line_products)
            RETURNING id, created_at, total
        ), lines AS (
            INSERT INTO order_lines (order_id, product_id, sku_id, product_name, unit_price, quantity)
            SELECT placed.id, taken.id, NULL, taken.product_name, taken.price, taken.quantity
            FROM placed, taken
            ORDER BY taken.n
        )
        SELECT placed.id, placed.created_at, placed.total, per_line.unit_prices,
               per_line.product_names, per_line.emptied
        INTO order_id, placed_at, order_total, unit_prices, product_names, emptied
        FROM (SELECT array_agg(taken.price ORDER BY taken.n) AS unit_prices,
                     array_agg(taken.product_name ORDER BY taken.n) AS product_names,
                     bool_or(taken.stock = 0) AS emptied
              FROM taken) AS per_line
        LEFT JOIN placed ON true;
        IF order_id IS NOT NULL THEN
            short_lines := '{}';
            short_available := '{}';
            IF emptied THEN
                would_empty := true;
                order_id := NULL;
                placed_at := NULL;
                order_total := NULL;
                unit_prices := NULL;
                product_names := NULL;
                ROLLBACK;
                RETURN;
            END IF;
            IF clock_timestamp() > deadline THEN
                RAISE EXCEPTION 'lock timeout: the order''s locks came too late to commit it; nothing was ordered'
                    USING ERRCODE = 'lock_not_available';
            END IF;
            style_names := array_fill(NULL::text, ARRAY[cardinality(line_products)]);
            sizes := style_names;
            COMMIT;
            PERFORM set_config('synchronous_commit', 'on', true),
                    pg_logical_emit_message(true, 'emporium', 'durable');
            COMMIT;
            RETURN;
        END IF;
        IF unit_prices IS NOT NULL THEN
            -- Some line was taken and no order written (it cannot happen
            -- with the rows locked): none of it stays.
            ROLLBACK;
            PERFORM set_config('synchronous_commit', 'off', true),
                    set_config('plan_cache_mode', 'force_generic_plan', true);
        END IF;
        -- Nothing was written: the statements below say which line and
        -- why (the queue and the rows are held already).
        unit_prices := NULL;
        product_names := NULL;
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
