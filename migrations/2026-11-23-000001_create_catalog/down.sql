DROP TABLE features;
DROP TABLE product_tags;
DROP TABLE products;
DROP TABLE tags;
DROP TABLE categories;
