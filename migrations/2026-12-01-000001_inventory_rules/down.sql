DROP TRIGGER skus_stock_on_update ON skus;
DROP TRIGGER skus_stock_on_delete ON skus;
DROP TRIGGER skus_stock_on_insert ON skus;
DROP FUNCTION skus_follow_updates();
DROP FUNCTION skus_follow_deletes();
DROP FUNCTION skus_follow_inserts();
DROP VIEW sku_offers;
