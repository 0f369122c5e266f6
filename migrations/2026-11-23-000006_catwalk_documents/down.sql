DROP FUNCTION catwalk_related_document(integer);
DROP FUNCTION catwalk_styles_document(integer);
DROP FUNCTION catwalk_product_document(integer);
DROP FUNCTION catwalk_product_page(bigint, bigint);
