//! What the API shows and takes of products, and the query of a list.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::Schema;

use crate::catalog::domain::{
    MAX_DESCRIPTION_CHARS, MAX_SLOGAN_CHARS, ValidNewProduct, ValidProductChanges, parse_tag_ids,
    parse_text,
};
use crate::catalog::models::{
    Feature, NewProduct, PricedProduct, Product, ProductChanges, ProductRecord, Variant,
};
use crate::domain::text::{free_text_pattern, string_schema};
use crate::domain::{JsonDecimal, JsonInteger, Money, MoneyInput, Name, RowId, Stock};
use crate::error::FieldErrors;
use crate::extract::ParseBody;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

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

/// A product as a category or a tag embeds it: its own fields, and what a
/// shopper pays for it (API.md: every product object in a list).
#[derive(Debug, Serialize, ToSchema)]
pub struct ListedProduct {
    #[serde(flatten)]
    pub fields: ProductFields,
    /// Whether it is bought by SKU.
    pub sold_by_sku: bool,
    /// The lowest and the highest price a shopper pays for it: over its
    /// SKUs, or its `price` twice for a product without SKUs.
    pub min_price: Money,
    pub max_price: Money,
}

/// Whether a product is sold by SKU, and the range of what a shopper pays.
fn price_range(price: Decimal, sku_prices: Option<(Decimal, Decimal)>) -> (bool, Money, Money) {
    let (low, high) = sku_prices.unwrap_or((price, price));
    (
        sku_prices.is_some(),
        Money::from_stored(low),
        Money::from_stored(high),
    )
}

impl From<PricedProduct> for ListedProduct {
    fn from(priced: PricedProduct) -> Self {
        let (sold_by_sku, min_price, max_price) =
            price_range(priced.product.price, priced.sku_prices);
        Self {
            fields: priced.product.into(),
            sold_by_sku,
            min_price,
            max_price,
        }
    }
}

/// A product with its category and tags, and what a shopper pays for it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProductView {
    #[serde(flatten)]
    pub fields: ProductFields,
    pub category: Option<CategoryRef>,
    pub tags: Vec<TagRef>,
    /// Whether it is bought by SKU (a cart line names one of its `variants`' SKUs).
    pub sold_by_sku: bool,
    /// The lowest and the highest price a shopper pays for it: over its
    /// SKUs, or its `price` twice for a product without SKUs.
    pub min_price: Money,
    pub max_price: Money,
}

/// One style of a product with its photos and SKUs.
#[derive(Debug, Serialize, ToSchema)]
pub struct VariantView {
    pub style_id: i32,
    pub name: String,
    pub original_price: Money,
    pub sale_price: Option<Money>,
    /// What a shopper pays for its SKUs: `sale_price` when set, else `original_price`.
    pub price: Money,
    pub default: bool,
    pub photos: Vec<VariantPhotoView>,
    pub skus: Vec<VariantSkuView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VariantPhotoView {
    pub thumbnail_url: Option<String>,
    pub url: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VariantSkuView {
    pub sku_id: i32,
    pub size: String,
    /// How many are left.
    pub stock: i32,
}

impl From<Variant> for VariantView {
    fn from(variant: Variant) -> Self {
        Self {
            style_id: variant.style_id,
            name: variant.name,
            original_price: Money::from_stored(variant.original_price),
            sale_price: variant.sale_price.map(Money::from_stored),
            price: Money::from_stored(variant.price),
            default: variant.is_default,
            photos: variant
                .photos
                .into_iter()
                .map(|photo| VariantPhotoView {
                    thumbnail_url: photo.thumbnail_url,
                    url: photo.url,
                })
                .collect(),
            skus: variant
                .skus
                .into_iter()
                .map(|sku| VariantSkuView {
                    sku_id: sku.sku_id,
                    size: sku.size,
                    stock: sku.stock,
                })
                .collect(),
        }
    }
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
    /// Its styles (empty for a product without SKUs).
    pub variants: Vec<VariantView>,
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
        let (sold_by_sku, min_price, max_price) =
            price_range(record.product.price, record.sku_prices);
        Self {
            sold_by_sku,
            min_price,
            max_price,
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
    pub fn new(record: ProductRecord, features: Vec<Feature>, variants: Vec<Variant>) -> Self {
        Self {
            variants: variants.into_iter().map(Into::into).collect(),
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
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(value_type = Option<Slogan>)]
    pub slogan: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(value_type = Option<Description>)]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(value_type = Option<RowId>)]
    pub category_id: Option<Option<JsonInteger>>,
    #[serde(rename = "tagIds")]
    #[schema(value_type = Option<Vec<RowId>>, max_items = 100)]
    pub tag_ids: Option<Vec<JsonInteger>>,
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

impl ParseBody for CreateProductBody {
    type Parsed = ValidNewProduct;

    /// Checks every field of a new product, reporting all that are wrong.
    fn parse(self, errors: &mut FieldErrors) -> Option<ValidNewProduct> {
        let product_name =
            errors.parse_required("product_name", self.product_name, |name| Name::parse(&name));
        let price = errors.parse_required("price", self.price, |price| Money::parse(price.0));
        let stock = errors.check("stock", Stock::parse(self.stock.unwrap_or(JsonInteger(0))));
        let slogan = errors.check("slogan", parse_text(self.slogan, MAX_SLOGAN_CHARS));
        let description = errors.check(
            "description",
            parse_text(self.description, MAX_DESCRIPTION_CHARS),
        );
        let category_id = match self.category_id {
            None => Some(None),
            Some(id) => errors.check("category_id", RowId::parse(id)).map(Some),
        };
        let tag_ids = errors.check("tagIds", parse_tag_ids(self.tag_ids.unwrap_or_default()));
        Some(ValidNewProduct {
            product: NewProduct {
                product_name: product_name?.into_inner(),
                slogan: slogan?,
                description: description?,
                price: price?.amount(),
                stock: stock?.get(),
                category_id: category_id?.map(RowId::get),
            },
            tag_ids: tag_ids?,
        })
    }
}

impl ParseBody for UpdateProductBody {
    type Parsed = ValidProductChanges;

    /// Checks the fields a partial update sends; absent fields stay as they are.
    fn parse(self, errors: &mut FieldErrors) -> Option<ValidProductChanges> {
        let mut changes = ProductChanges::default();
        if let Some(name) = self.product_name {
            changes.product_name = errors
                .check("product_name", Name::parse(&name))
                .map(Name::into_inner);
        }
        if let Some(price) = self.price {
            changes.price = errors.check("price", Money::parse(price.0).map(Money::amount));
        }
        if let Some(stock) = self.stock {
            changes.stock = errors.check("stock", Stock::parse(stock)).map(Stock::get);
        }
        if let Some(slogan) = self.slogan {
            changes.slogan = errors.check("slogan", parse_text(slogan, MAX_SLOGAN_CHARS));
        }
        if let Some(description) = self.description {
            changes.description = errors.check(
                "description",
                parse_text(description, MAX_DESCRIPTION_CHARS),
            );
        }
        if let Some(category_id) = self.category_id {
            changes.category_id = match category_id {
                None => Some(None),
                Some(id) => errors
                    .check("category_id", RowId::parse(id))
                    .map(|id| Some(id.get())),
            };
        }
        let tag_ids = match self.tag_ids {
            None => None,
            Some(ids) => errors.check("tagIds", parse_tag_ids(ids)),
        };
        errors
            .is_empty()
            .then_some(ValidProductChanges { changes, tag_ids })
    }
}
