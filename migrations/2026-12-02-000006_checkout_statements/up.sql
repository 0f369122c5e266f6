-- Checkout's statements, callable as prepared statements (a
-- hand-written query sent through diesel's `sql_query` is parsed and
-- planned again on every call; a function call through the query builder
-- is prepared once per connection, and PL/pgSQL keeps its inner plans).

-- Whether a product is sold by SKU (some style of it has a SKU). Plain SQL,
-- so PostgreSQL inlines it into the query that calls it.
CREATE FUNCTION sold_by_sku(product integer) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM sku_offers o WHERE o.product_id = product)
$$;

-- Takes `quantities[i]` of SKU `sku_ids[i]` (its product's stock follows,
-- by the `skus` triggers) or, where `sku_ids[i]` is null, of product
-- `product_ids[i]`, each with a guarded decrement, in the order given (the
-- caller has locked the rows, products then SKUs by id). Answers 0 when
-- every line was taken, else the 1-based index of the first line that was
-- short (the caller rolls back).
CREATE FUNCTION take_stock(product_ids integer[], sku_ids integer[], quantities integer[])
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

-- Writes a placed order and its lines (in the order given, so their ids
-- follow it) in one statement, for checkout's single round trip. Rules are
-- the caller's (prices, stock, totals); this only stores.
CREATE FUNCTION record_order(
    buyer integer, order_total numeric, address jsonb,
    line_products integer[], line_skus integer[], line_names text[],
    line_prices numeric[], line_quantities integer[], line_styles text[],
    line_sizes text[],
    OUT order_id integer, OUT placed_at timestamptz)
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO orders (user_id, total, shipping_address, history)
    VALUES (buyer, order_total, address,
            jsonb_build_array(jsonb_build_object('status', 'placed', 'at', now())))
    RETURNING id, created_at INTO order_id, placed_at;
    INSERT INTO order_lines
        (order_id, product_id, sku_id, product_name, unit_price, quantity, style_name, size)
    SELECT record_order.order_id, l.product_id, l.sku_id, l.product_name, l.unit_price,
           l.quantity, l.style_name, l.size
    FROM unnest(line_products, line_skus, line_names, line_prices, line_quantities,
                line_styles, line_sizes) WITH ORDINALITY
         AS l(product_id, sku_id, product_name, unit_price, quantity, style_name, size, n)
    ORDER BY l.n;
END $$;

-- Queues the transaction behind the others that buy these products, first
-- come first served: an advisory lock per product (class 1 of the
-- two-key form, apart from the one-key locks of idempotency), taken in id
-- order, held until the transaction ends. PostgreSQL grants a row lock
-- that many wait for in no particular order (at a hot product's sale some
-- buyers waited a second while others went through); its advisory locks
-- queue in order. Answers how many products it waited for.
CREATE FUNCTION queue_for_products(product_ids integer[]) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    product integer;
    queued integer := 0;
BEGIN
    FOREACH product IN ARRAY coalesce(
        (SELECT array_agg(DISTINCT id ORDER BY id) FROM unnest(product_ids) AS id), '{}') LOOP
        PERFORM pg_advisory_xact_lock(1, product);
        queued := queued + 1;
    END LOOP;
    RETURN queued;
END $$;
