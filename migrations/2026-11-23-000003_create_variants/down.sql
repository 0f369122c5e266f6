DROP TABLE related_products;
DROP TABLE skus;
DROP TABLE photos;
DROP TABLE styles;
