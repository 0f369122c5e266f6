-- The Catwalk documents, built by PostgreSQL as the JSON text the Atelier
-- API answered. In PL/pgSQL functions so that each query is planned once per
-- connection and its plan reused (a raw query from the application is
-- parsed and planned on every call, which cost as much as running it); the
-- application calls them through prepared statements. NULL: no such product.

CREATE FUNCTION catwalk_product_page(page_size bigint, skip bigint) RETURNS text
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (
        SELECT COALESCE(json_agg(json_build_object(
                   'id', p.id, 'name', p.product_name, 'slogan', p.slogan,
                   'description', p.description, 'category', c.category_name,
                   'default_price', p.price::text) ORDER BY p.id), '[]'::json)::text
        FROM (SELECT * FROM products ORDER BY id LIMIT page_size OFFSET skip) p
        LEFT JOIN categories c ON c.id = p.category_id);
END $$;

CREATE FUNCTION catwalk_product_document(product integer) RETURNS text
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (
        SELECT json_build_object(
                   'id', p.id, 'name', p.product_name, 'slogan', p.slogan,
                   'description', p.description, 'category', c.category_name,
                   'default_price', p.price::text,
                   'features', COALESCE((SELECT json_agg(json_build_object(
                                   'feature', f.feature, 'value', f.value) ORDER BY f.id)
                                 FROM features f WHERE f.product_id = p.id), '[]'::json))::text
        FROM products p LEFT JOIN categories c ON c.id = p.category_id
        WHERE p.id = product);
END $$;

CREATE FUNCTION catwalk_styles_document(product integer) RETURNS text
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (
        SELECT json_build_object('product_id', p.id::text, 'results', COALESCE((
                   SELECT json_agg(json_build_object(
                       'style_id', s.id, 'name', s.name,
                       'original_price', s.original_price::text,
                       'sale_price', s.sale_price::text,
                       'default?', s.is_default,
                       -- The Atelier's placeholders for no photos and no SKUs.
                       'photos', COALESCE((SELECT json_agg(json_build_object(
                                       'thumbnail_url', ph.thumbnail_url, 'url', ph.url) ORDER BY ph.id)
                                   FROM photos ph WHERE ph.style_id = s.id),
                                 '[{"thumbnail_url": null, "url": null}]'::json),
                       'skus', COALESCE((SELECT json_object_agg(k.id::text, json_build_object(
                                       'quantity', k.quantity, 'size', k.size) ORDER BY k.id)
                                   FROM skus k WHERE k.style_id = s.id),
                                 '{"null": {"quantity": null, "size": null}}'::json)
                   ) ORDER BY s.id)
                   FROM styles s WHERE s.product_id = p.id), '[]'::json))::text
        FROM products p WHERE p.id = product);
END $$;

CREATE FUNCTION catwalk_related_document(product integer) RETURNS text
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (
        SELECT COALESCE((SELECT json_agg(r.related_product_id ORDER BY r.id)
                         FROM related_products r WHERE r.product_id = p.id), '[]'::json)::text
        FROM products p WHERE p.id = product);
END $$;
