CREATE FUNCTION sold_by_sku(product integer) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM sku_offers o WHERE o.product_id = product)
$$;
