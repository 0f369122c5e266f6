DROP FUNCTION queue_for_products(integer[]);
DROP FUNCTION record_order(integer, numeric, jsonb, integer[], integer[], text[], numeric[], integer[], text[], text[]);
DROP FUNCTION take_stock(integer[], integer[], integer[]);
DROP FUNCTION sold_by_sku(integer);
