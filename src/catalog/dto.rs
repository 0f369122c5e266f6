//! What the catalog sends and accepts over the wire.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::Schema;
use utoipa::{IntoParams, ToSchema};

use super::domain::{MAX_DESCRIPTION_CHARS, MAX_SLOGAN_CHARS, SortBy, SortOrder};
use super::models::{Category, Feature, Product, Tag};
use super::queries::{GroupRecord, ProductRecord};
use crate::domain::text::{free_text_pattern, string_schema};
use crate::domain::{JsonDecimal, JsonInteger, Money, MoneyInput, Name, RowId, Stock};
use crate::error::FieldErrors;
use crate::extract::ParseBody;

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
    /// Unique regardless of case.
    #[schema(value_type = Name, required)]
    pub category_name: Option<String>,
}

/// `PUT /api/categories/{id}`: fields left out stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoryChangesBody {
    #[schema(value_type = Option<Name>)]
    pub category_name: Option<String>,
}

/// `POST /api/tags`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TagBody {
    /// Unique regardless of case.
    #[schema(value_type = Name, required)]
    pub tag_name: Option<String>,
}

/// `PUT /api/tags/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TagChangesBody {
    #[schema(value_type = Option<Name>)]
    pub tag_name: Option<String>,
}

/// A required name, or its errors.
fn required_name(errors: &mut FieldErrors, field: &str, raw: Option<String>) -> Option<Name> {
    errors
        .required(field, raw)
        .and_then(|raw| errors.check(field, Name::parse(&raw)))
}

/// A name that may be left out (`Some(None)`), or its errors (`None`).
fn optional_name(
    errors: &mut FieldErrors,
    field: &str,
    raw: Option<String>,
) -> Option<Option<Name>> {
    match raw {
        None => Some(None),
        Some(raw) => errors.check(field, Name::parse(&raw)).map(Some),
    }
}

impl ParseBody for CategoryBody {
    type Parsed = Name;

    fn parse(self, errors: &mut FieldErrors) -> Option<Name> {
        required_name(errors, "category_name", self.category_name)
    }
}

impl ParseBody for CategoryChangesBody {
    type Parsed = Option<Name>;

    fn parse(self, errors: &mut FieldErrors) -> Option<Option<Name>> {
        optional_name(errors, "category_name", self.category_name)
    }
}

impl ParseBody for TagBody {
    type Parsed = Name;

    fn parse(self, errors: &mut FieldErrors) -> Option<Name> {
        required_name(errors, "tag_name", self.tag_name)
    }
}

impl ParseBody for TagChangesBody {
    type Parsed = Option<Name>;

    fn parse(self, errors: &mut FieldErrors) -> Option<Option<Name>> {
        optional_name(errors, "tag_name", self.tag_name)
    }
}

/// `POST /api/products`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProductBody {
    #[schema(value_type = Name, required)]
    pub product_name: Option<String>,
    #[schema(value_type = MoneyInput, required)]
    pub price: Option<JsonDecimal>,
    /// 0 when left out.
    #[schema(value_type = Option<Stock>)]
    pub stock: Option<JsonInteger>,
    #[schema(value_type = Option<Slogan>)]
    pub slogan: Option<String>,
    #[schema(value_type = Option<Description>)]
    pub description: Option<String>,
    #[schema(value_type = Option<RowId>)]
    pub category_id: Option<JsonInteger>,
    /// Ids of existing tags (at most 100).
    #[serde(rename = "tagIds")]
    #[schema(value_type = Option<Vec<RowId>>, max_items = 100)]
    pub tag_ids: Option<Vec<JsonInteger>>,
}

/// `PUT /api/products/{id}`: fields left out (or `null`) stay as they are,
/// but `null` clears `category_id`, `slogan` and `description`; `tagIds`
/// replaces the tag set.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProductBody {
    #[schema(value_type = Option<Name>)]
    pub product_name: Option<String>,
    #[schema(value_type = Option<MoneyInput>)]
    pub price: Option<JsonDecimal>,
    #[schema(value_type = Option<Stock>)]
    pub stock: Option<JsonInteger>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Slogan>)]
    pub slogan: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Description>)]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<RowId>)]
    pub category_id: Option<Option<JsonInteger>>,
    #[serde(rename = "tagIds")]
    #[schema(value_type = Option<Vec<RowId>>, max_items = 100)]
    pub tag_ids: Option<Vec<JsonInteger>>,
}

/// Tells a field sent as `null` (`Some(None)`) from one left out (`None`).
fn present<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// Free text of at most `MAX` characters as the OpenAPI document states
/// it (a product's slogan and description).
pub struct FreeText<const MAX: usize>;

impl<const MAX: usize> utoipa::PartialSchema for FreeText<MAX> {
    fn schema() -> RefOr<Schema> {
        string_schema(
            &format!("Free text, at most {MAX} characters once trimmed; blank means none"),
            Some(free_text_pattern(MAX)),
            "Keep it simple",
        )
    }
}

impl<const MAX: usize> ToSchema for FreeText<MAX> {
    fn name() -> std::borrow::Cow<'static, str> {
        format!("FreeText{MAX}").into()
    }
}

/// A product's slogan.
pub type Slogan = FreeText<MAX_SLOGAN_CHARS>;
/// A product's description.
pub type Description = FreeText<MAX_DESCRIPTION_CHARS>;

/// The query of `GET /api/products`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ProductListQuery {
    /// A category name (case-insensitive); an unknown name is a 422.
    #[param(value_type = Option<Name>, inline)]
    pub category: Option<String>,
    /// Lowest price, inclusive.
    #[param(value_type = Option<MoneyText>, inline)]
    pub min_price: Option<String>,
    /// Highest price, inclusive.
    #[param(value_type = Option<MoneyText>, inline)]
    pub max_price: Option<String>,
    /// `true`: only products in stock; `false`: only sold-out ones.
    pub in_stock: Option<bool>,
    /// Part of the product name, case-insensitive; blank means none.
    #[param(value_type = Option<SearchText>, inline)]
    pub q: Option<String>,
    /// `createdAt` (default), `price` or `name`, in any case.
    #[param(value_type = Option<SortByText>, inline)]
    pub sort_by: Option<String>,
    /// `ASC` or `DESC` (default), in any case.
    #[param(value_type = Option<OrderText>, inline)]
    pub order: Option<String>,
    #[param(minimum = 1, maximum = 2147483647, default = 1)]
    pub page: Option<i64>,
    #[param(minimum = 1, maximum = 100, default = 20)]
    pub limit: Option<i64>,
}

/// A price in a query: a decimal string (schema only).
pub struct MoneyText;

impl utoipa::PartialSchema for MoneyText {
    fn schema() -> RefOr<Schema> {
        string_schema(
            "An amount from 0 to 99999999.99 with at most two places",
            Some(Money::INPUT_PATTERN.to_owned()),
            "20",
        )
    }
}

impl ToSchema for MoneyText {}

/// A name search: blank, or what a name may be (schema only).
pub struct SearchText;

impl utoipa::PartialSchema for SearchText {
    fn schema() -> RefOr<Schema> {
        string_schema(
            "Part of a name: at most 255 characters once trimmed, no control characters; blank means no search",
            Some(crate::domain::text::search_pattern()),
            "shirt",
        )
    }
}

impl ToSchema for SearchText {}

/// `createdAt`, `price` or `name`, in any case (schema only).
pub struct SortByText;

impl utoipa::PartialSchema for SortByText {
    fn schema() -> RefOr<Schema> {
        string_schema(
            "`createdAt`, `price` or `name` (case does not matter)",
            Some(any_case_choice(&SortBy::CHOICES)),
            "price",
        )
    }
}

impl ToSchema for SortByText {}

/// `ASC` or `DESC`, in any case (schema only).
pub struct OrderText;

impl utoipa::PartialSchema for OrderText {
    fn schema() -> RefOr<Schema> {
        string_schema(
            "`ASC` or `DESC` (case does not matter)",
            Some(any_case_choice(&SortOrder::CHOICES)),
            "ASC",
        )
    }
}

impl ToSchema for OrderText {}

/// `^(?:[aA][sS][cC]|...)$`: one of `choices`, in any case.
fn any_case_choice(choices: &[&str]) -> String {
    let alternatives: Vec<String> = choices
        .iter()
        .map(|choice| {
            choice
                .chars()
                .map(|c| {
                    if c.is_ascii_alphabetic() {
                        format!("[{}{}]", c.to_ascii_lowercase(), c.to_ascii_uppercase())
                    } else {
                        c.to_string()
                    }
                })
                .collect()
        })
        .collect();
    format!("^(?:{})$", alternatives.join("|"))
}
