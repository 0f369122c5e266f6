DROP FUNCTION place_order(integer, jsonb, integer[], integer[], integer[]);

-- As migration checkout_statements made it.
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

