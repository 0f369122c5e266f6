DROP PROCEDURE place_order_at_once(integer, jsonb, integer[], integer[], integer[]);
