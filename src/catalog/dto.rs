//! What the catalog sends and accepts over the wire.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::models::{Category, Feature, Product, Tag};
use super::queries::{GroupRecord, ProductRecord};
use crate::domain::{JsonDecimal, Money};

// ---- responses -----------------------------------------------------------

/// A category as embedded in a product.
#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryRef {
    pub id: i32,
    pub category_name: String,
}

/// A tag as embedded in a product.
#[derive(Debug, Serialize, ToSchema)]
pub struct TagRef {
    pub id: i32,
    pub tag_name: String,
}

/// A product's own fields.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProductFields {
    pub id: i32,
    pub product_name: String,
    pub slogan: Option<String>,
    pub description: Option<String>,
    /// A decimal string with two places.
    #[schema(value_type = String, example = "14.99")]
    pub price: Money,
    pub stock: i32,
    pub category_id: Option<i32>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A product with its category and tags.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProductView {
    #[serde(flatten)]
    pub fields: ProductFields,
    pub category: Option<CategoryRef>,
    pub tags: Vec<TagRef>,
}

/// One feature of a product (`{"feature": "Fabric", "value": "Canvas"}`).
#[derive(Debug, Serialize, ToSchema)]
pub struct FeatureView {
    pub feature: String,
    pub value: Option<String>,
}

/// A product with its category, tags and features.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProductDetail {
    #[serde(flatten)]
    pub product: ProductView,
    pub features: Vec<FeatureView>,
}

/// A category with its first 100 products (lowest ids first).
#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryView {
    pub id: i32,
    pub category_name: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub products: Vec<ProductFields>,
    /// How many products the category has in all.
    pub products_total: i64,
}

/// A tag with its first 100 products (lowest ids first).
#[derive(Debug, Serialize, ToSchema)]
pub struct TagView {
    pub id: i32,
    pub tag_name: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub products: Vec<ProductFields>,
    /// How many products carry the tag in all.
    pub products_total: i64,
}

impl From<Product> for ProductFields {
    fn from(product: Product) -> Self {
        Self {
            id: product.id,
            product_name: product.product_name,
            slogan: product.slogan,
            description: product.description,
            price: Money::from_stored(product.price),
            stock: product.stock,
            category_id: product.category_id,
            created_at: product.created_at,
            updated_at: product.updated_at,
        }
    }
}

impl From<ProductRecord> for ProductView {
    fn from(record: ProductRecord) -> Self {
        Self {
            fields: record.product.into(),
            category: record.category.map(|category| CategoryRef {
                id: category.id,
                category_name: category.category_name,
            }),
            tags: record
                .tags
                .into_iter()
                .map(|tag| TagRef {
                    id: tag.id,
                    tag_name: tag.tag_name,
                })
                .collect(),
        }
    }
}

impl ProductDetail {
    pub fn new(record: ProductRecord, features: Vec<Feature>) -> Self {
        Self {
            product: record.into(),
            features: features
                .into_iter()
                .map(|feature| FeatureView {
                    feature: feature.feature,
                    value: feature.value,
                })
                .collect(),
        }
    }
}

impl From<GroupRecord<Category>> for CategoryView {
    fn from(record: GroupRecord<Category>) -> Self {
        Self {
            id: record.group.id,
            category_name: record.group.category_name,
            created_at: record.group.created_at,
            updated_at: record.group.updated_at,
            products: record.products.into_iter().map(Into::into).collect(),
            products_total: record.products_total,
        }
    }
}

impl From<GroupRecord<Tag>> for TagView {
    fn from(record: GroupRecord<Tag>) -> Self {
        Self {
            id: record.group.id,
            tag_name: record.group.tag_name,
            created_at: record.group.created_at,
            updated_at: record.group.updated_at,
            products: record.products.into_iter().map(Into::into).collect(),
            products_total: record.products_total,
        }
    }
}

// ---- requests ------------------------------------------------------------

/// `POST /api/categories`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoryBody {
    /// 1 to 255 characters, unique regardless of case.
    #[schema(min_length = 1, max_length = 255, example = "Jackets")]
    pub category_name: String,
}

/// `PUT /api/categories/{id}`: fields left out stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoryChangesBody {
    #[schema(min_length = 1, max_length = 255)]
    pub category_name: Option<String>,
}

/// `POST /api/tags`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TagBody {
    /// 1 to 255 characters, unique regardless of case.
    #[schema(min_length = 1, max_length = 255, example = "vintage")]
    pub tag_name: String,
}

/// `PUT /api/tags/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TagChangesBody {
    #[schema(min_length = 1, max_length = 255)]
    pub tag_name: Option<String>,
}

/// `POST /api/products`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProductBody {
    #[schema(min_length = 1, max_length = 255, example = "Plain T-Shirt")]
    pub product_name: String,
    /// From 0 to 99999999.99, at most two places; a JSON number or string.
    #[schema(value_type = String, example = "14.99")]
    pub price: JsonDecimal,
    /// From 0 to 2147483647; 0 when left out.
    #[schema(minimum = 0, maximum = 2147483647)]
    pub stock: Option<i64>,
    #[schema(max_length = 1000)]
    pub slogan: Option<String>,
    #[schema(max_length = 10000)]
    pub description: Option<String>,
    pub category_id: Option<i64>,
    /// Ids of existing tags (at most 100).
    #[serde(rename = "tagIds")]
    pub tag_ids: Option<Vec<i64>>,
}

/// `PUT /api/products/{id}`: fields left out stay as they are; `null` clears
/// `category_id`, `slogan` and `description`; `tagIds` replaces the tag set.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProductBody {
    #[schema(min_length = 1, max_length = 255)]
    pub product_name: Option<String>,
    #[schema(value_type = Option<String>, example = "14.99")]
    pub price: Option<JsonDecimal>,
    #[schema(minimum = 0, maximum = 2147483647)]
    pub stock: Option<i64>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub slogan: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    pub category_id: Option<Option<i64>>,
    #[serde(rename = "tagIds")]
    pub tag_ids: Option<Vec<i64>>,
}

/// Tells a field sent as `null` (`Some(None)`) from one left out (`None`).
fn present<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// The query of `GET /api/products`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ProductListQuery {
    /// A category name (case-insensitive); an unknown name is a 422.
    pub category: Option<String>,
    /// Lowest price, inclusive.
    #[param(value_type = Option<String>, example = "20")]
    pub min_price: Option<String>,
    /// Highest price, inclusive.
    #[param(value_type = Option<String>, example = "40")]
    pub max_price: Option<String>,
    /// `true`: only products in stock; `false`: only sold-out ones.
    pub in_stock: Option<bool>,
    /// Part of the product name, case-insensitive.
    #[param(max_length = 255)]
    pub q: Option<String>,
    /// `createdAt` (default), `price` or `name`.
    #[param(value_type = Option<String>, pattern = "^(createdAt|price|name)$")]
    pub sort_by: Option<String>,
    /// `ASC` or `DESC` (default).
    #[param(value_type = Option<String>, pattern = "^(?i)(asc|desc)$")]
    pub order: Option<String>,
    #[param(minimum = 1, maximum = 2147483647, default = 1)]
    pub page: Option<i64>,
    #[param(minimum = 1, maximum = 100, default = 20)]
    pub limit: Option<i64>,
}
