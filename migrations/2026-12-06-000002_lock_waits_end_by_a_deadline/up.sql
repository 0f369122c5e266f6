-- Every lock a checkout waits for is waited for until one deadline: the
-- statement's start plus the session's `lock_timeout` (two thirds of the
-- request timeout, `db`). Until now `lock_timeout` bounded each wait
-- alone, and an order of several products could wait for one after the
-- other past the request's timeout: a plain order (one call that commits
-- by itself, `orders::service`) could then commit after its client was
-- answered 503 and told to retry. `lock_for_order` takes the same locks
-- in the same order as before (the products' queue, the products' rows,
-- the SKUs' rows, each by id), no wait given more than what is left of
-- the deadline, and sets `lock_timeout` back as it was. The server calls
-- it only with time enough left (`orders::service`).
--
-- `place_order_with_lines` keeps its signature and its body but for its
-- first three statements, so a server of the release before is served by
-- it as well (`place_order` and `place_order_at_once` call it).

-- What is left until `deadline`, in whole milliseconds (at least 1: a
-- deadline passed ends the next wait at once), shared by `waits` waits, as
-- `lock_timeout` takes it. (One expression: PostgreSQL inlines it.)
CREATE FUNCTION lock_ms_left(deadline timestamptz, waits integer) RETURNS text
LANGUAGE sql AS $$
    SELECT greatest(1, ceil(extract(epoch FROM deadline - clock_timestamp()) * 1000
                            / greatest(waits, 1)))::bigint::text
$$;

-- The locks of a checkout, in the order every checkout takes them: each
-- product's queue (an advisory lock, by id), the products' rows, the SKUs'
-- rows (by id). An uncontended queue is taken without touching
-- `lock_timeout`; a wait for one is given what is left; each statement that
-- locks rows shares what is left among its rows (one row: all of it).
CREATE FUNCTION lock_for_order(line_products integer[], line_skus integer[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    configured text := current_setting('lock_timeout');
    deadline timestamptz;
    product integer;
BEGIN
    -- ('0': no limit, as in psql or pgbench.)
    IF configured <> '0' THEN
        deadline := statement_timestamp() + configured::interval;
    END IF;
    FOREACH product IN ARRAY coalesce(
        (SELECT array_agg(DISTINCT id ORDER BY id) FROM unnest(line_products) AS id), '{}') LOOP
        IF NOT pg_try_advisory_xact_lock(1, product) THEN
            IF deadline IS NOT NULL THEN
                PERFORM set_config('lock_timeout', lock_ms_left(deadline, 1), true);
            END IF;
            PERFORM pg_advisory_xact_lock(1, product);
        END IF;
    END LOOP;
    IF deadline IS NOT NULL THEN
        PERFORM set_config('lock_timeout', lock_ms_left(deadline, cardinality(line_products)), true);
    END IF;
    PERFORM 1 FROM products p WHERE p.id = ANY(line_products) ORDER BY p.id FOR UPDATE;
    IF deadline IS NOT NULL THEN
        PERFORM set_config('lock_timeout', lock_ms_left(deadline, cardinality(line_skus)), true);
    END IF;
    PERFORM 1 FROM skus k WHERE k.id = ANY(line_skus) ORDER BY k.id FOR UPDATE;
    IF deadline IS NOT NULL THEN
        PERFORM set_config('lock_timeout', configured, true);
    END IF;
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
    PERFORM lock_for_order(line_products, line_skus);
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
