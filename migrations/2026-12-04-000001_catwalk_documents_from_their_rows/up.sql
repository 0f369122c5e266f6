-- A product's styles and related documents start from their own rows
-- (`styles`, `related_products`, by the product's id) and look the product
-- up only when it has none, to tell "no such product" (NULL, a 404) from
-- "a product with no styles" (an empty list). The documents are the same
-- bytes as before; a request reads one index and one heap page fewer
-- (`docs/performance.md`, session 11).

CREATE OR REPLACE FUNCTION catwalk_styles_document(product integer) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    results json;
BEGIN
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
      INTO results
      FROM styles s WHERE s.product_id = product;
    IF results IS NULL AND NOT EXISTS (SELECT FROM products WHERE id = product) THEN
        RETURN NULL;
    END IF;
    RETURN json_build_object('product_id', product::text,
                             'results', COALESCE(results, '[]'::json))::text;
END $$;

CREATE OR REPLACE FUNCTION catwalk_related_document(product integer) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    related json;
BEGIN
    SELECT json_agg(r.related_product_id ORDER BY r.id)
      INTO related
      FROM related_products r WHERE r.product_id = product;
    IF related IS NULL AND NOT EXISTS (SELECT FROM products WHERE id = product) THEN
        RETURN NULL;
    END IF;
    RETURN COALESCE(related, '[]'::json)::text;
END $$;
