DROP VIEW sku_stock;
