DROP INDEX products_search_idx;
DROP FUNCTION product_search_document(TEXT, TEXT, TEXT);
