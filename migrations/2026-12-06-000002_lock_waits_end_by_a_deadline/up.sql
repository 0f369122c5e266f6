-- A plain order never commits after its client may have been answered 503.
-- It is one call that commits by itself (`orders::service`), and the
-- request's timeout cannot roll it back. Until now each of its lock waits
-- ended at `lock_timeout` (two thirds of the request timeout, `db`), but an
-- order could wait for one lock after another, each under the limit, and
-- commit after the timeout had answered 503 and told the client to retry.
--
-- - `call_deadline`: the statement's start plus the session's
--   `lock_timeout` (none when it is 0, as in psql or pgbench).
-- - `place_plain_order` commits only before that deadline; past it, it
--   raises a lock timeout and nothing is ordered. The server starts the
--   call only while the deadline falls before the request's own timeout
--   with a tenth of it to spare (`orders::service::in_time_to_place`).
-- - `queue_within_deadline`: the products' queue (`queue_for_products`),
--   each wait for a busy product ending at the deadline rather than a whole
--   `lock_timeout` later, so that a call past its deadline does not hold a
--   connection for long. An uncontended queue is taken as before, without
--   touching `lock_timeout` (the locked part of a hot product's checkout is
--   serial: every microsecond in it counts). `place_order_with_lines`'s
--   SET clause puts `lock_timeout` back when it returns.
--
-- The routines keep their signatures, so a server of the release before
-- is served by them as well (`place_order` and `place_order_at_once` call
-- `place_order_with_lines`).

CREATE FUNCTION call_deadline() RETURNS timestamptz
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN current_setting('lock_timeout') <> '0'
                THEN statement_timestamp() + current_setting('lock_timeout')::interval END
$$;

CREATE FUNCTION queue_within_deadline(product_ids integer[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    product integer;
    deadline timestamptz;
BEGIN
    FOREACH product IN ARRAY coalesce(
        (SELECT array_agg(DISTINCT id ORDER BY id) FROM unnest(product_ids) AS id), '{}') LOOP
        -- (pg_try_advisory_xact_lock does not jump the queue of waiters.)
        IF NOT pg_try_advisory_xact_lock(1, product) THEN
            deadline := call_deadline();
            IF deadline IS NOT NULL THEN
                PERFORM set_config('lock_timeout',
                    greatest(1, ceil(extract(epoch FROM deadline - clock_timestamp()) * 1000))::bigint::text,
                    true);
            END IF;
            PERFORM pg_advisory_xact_lock(1, product);
        END IF;
    END LOOP;
END $$;

CREATE OR REPLACE FUNCTION place_order_with_lines(
    buyer integer, address jsonb,
    line_products integer[], line_skus integer[], line_quantities integer[],
    OUT short_lines integer[], OUT short_available integer[],
    OUT order_id integer, OUT placed_at timestamptz, OUT order_total numeric,
    OUT unit_prices numeric[], OUT emptied boolean,
    OUT product_names text[], OUT style_names text[], OUT sizes text[])
-- Its statements are planned once per connection: with PL/pgSQL's default
-- they were planned again on every call (the generic plan's guess of 100
-- lines per array looks dearer than a custom plan for one), which doubled
-- PostgreSQL's time per order in `pgbench` (1,505-1,622 orders/s against
-- 2,462-2,619 once generic; c8, one line each).
SET plan_cache_mode = force_generic_plan
LANGUAGE plpgsql AS $$
DECLARE
    short_take integer;
BEGIN
    PERFORM queue_within_deadline(line_products);
    PERFORM 1 FROM products p WHERE p.id = ANY(line_products) ORDER BY p.id FOR UPDATE;
    PERFORM 1 FROM skus k WHERE k.id = ANY(line_skus) ORDER BY k.id FOR UPDATE;
    SELECT coalesce(array_agg(l.n ORDER BY l.n), '{}'),
           coalesce(array_agg(coalesce(l.left_over, 0) ORDER BY l.n), '{}')
    INTO short_lines, short_available
    FROM (SELECT n,
                 CASE WHEN sku IS NULL THEN (SELECT p.stock FROM products p WHERE p.id = product)
                      ELSE (SELECT k.quantity FROM skus k WHERE k.id = sku) END AS left_over,
                 quantity
          FROM unnest(line_products, line_skus, line_quantities) WITH ORDINALITY
               AS u(product, sku, quantity, n)) l
    WHERE coalesce(l.left_over, 0) < l.quantity;
    IF cardinality(short_lines) > 0 THEN
        RETURN;
    END IF;
    short_take := take_stock(line_products, line_skus, line_quantities);
    IF short_take > 0 THEN
        -- A product sold by SKU whose own stock fell below its SKUs' sum.
        short_lines := ARRAY[short_take];
        short_available := ARRAY[0];
        RETURN;
    END IF;
    WITH priced AS (
        SELECT u.n, u.product, u.sku, p.product_name, coalesce(o.price, p.price) AS unit_price,
               u.quantity, o.style_name, o.size
        FROM unnest(line_products, line_skus, line_quantities) WITH ORDINALITY
             AS u(product, sku, quantity, n)
        JOIN products p ON p.id = u.product
        LEFT JOIN sku_offers o ON o.sku_id = u.sku
    ), placed AS (
        INSERT INTO orders (user_id, total, shipping_address, history)
        SELECT buyer, coalesce(sum(unit_price * quantity), 0), address,
               jsonb_build_array(jsonb_build_object('status', 'placed', 'at', now()))
        FROM priced
        RETURNING id, created_at, total
    ), lines AS (
        INSERT INTO order_lines
            (order_id, product_id, sku_id, product_name, unit_price, quantity, style_name, size)
        SELECT placed.id, priced.product, priced.sku, priced.product_name, priced.unit_price,
               priced.quantity, priced.style_name, priced.size
        FROM placed, priced
        ORDER BY priced.n
    )
    SELECT placed.id, placed.created_at, placed.total,
           per_line.unit_prices, per_line.product_names, per_line.style_names, per_line.sizes
    INTO order_id, placed_at, order_total, unit_prices, product_names, style_names, sizes
    FROM placed, (SELECT array_agg(unit_price ORDER BY n) AS unit_prices,
                         array_agg(product_name ORDER BY n) AS product_names,
                         array_agg(style_name ORDER BY n) AS style_names,
                         array_agg(size ORDER BY n) AS sizes
                  FROM priced) AS per_line;
    emptied := EXISTS (SELECT 1 FROM products p WHERE p.id = ANY(line_products) AND p.stock = 0);
END $$;

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
