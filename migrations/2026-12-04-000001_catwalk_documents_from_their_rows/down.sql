-- The documents as migration 2026-11-23-000006 built them.

CREATE OR REPLACE FUNCTION catwalk_styles_document(product integer) RETURNS text
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

CREATE OR REPLACE FUNCTION catwalk_related_document(product integer) RETURNS text
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (
        SELECT COALESCE((SELECT json_agg(r.related_product_id ORDER BY r.id)
                         FROM related_products r WHERE r.product_id = p.id), '[]'::json)::text
        FROM products p WHERE p.id = product);
END $$;
