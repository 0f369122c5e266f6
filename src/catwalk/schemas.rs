//! The OpenAPI schemas of the Catwalk documents. PostgreSQL builds the JSON
//! itself (`queries`), so these types are never serialized: they describe
//! the Atelier shapes for `/docs` and for generated clients, and a test
//! checks real answers against them field by field.
#![expect(dead_code, reason = "documentation only; PostgreSQL builds the JSON")]

use std::collections::BTreeMap;

use utoipa::ToSchema;

/// A Catwalk product document: the fields every one has, then its own.
macro_rules! catwalk_product {
    ($(#[$doc:meta])* $name:ident { $($own:tt)* }) => {
        $(#[$doc])*
        #[derive(ToSchema)]
        pub struct $name {
            #[schema(example = 1)]
            id: i32,
            #[schema(example = "Camo Onesie")]
            name: String,
            slogan: Option<String>,
            description: Option<String>,
            /// The category's name.
            #[schema(example = "Jackets")]
            category: Option<String>,
            /// A decimal string.
            #[schema(example = "140.00")]
            default_price: String,
            $($own)*
        }
    };
}

catwalk_product!(
    /// A product of a `/catwalk/products` page.
    CatwalkListProduct {}
);

catwalk_product!(
    /// `/catwalk/products/{product_id}`: a product with its features.
    CatwalkProduct {
        features: Vec<CatwalkFeature>,
    }
);

#[derive(ToSchema)]
pub struct CatwalkFeature {
    #[schema(example = "Fabric")]
    feature: String,
    value: Option<String>,
}

/// `/catwalk/products/{product_id}/styles`.
#[derive(ToSchema)]
pub struct CatwalkStyles {
    /// The product's id, as a string (as the Atelier API had it).
    #[schema(example = "1")]
    product_id: String,
    results: Vec<CatwalkStyle>,
}

#[derive(ToSchema)]
pub struct CatwalkStyle {
    #[schema(example = 1)]
    style_id: i32,
    #[schema(example = "Forest Green & Black")]
    name: String,
    #[schema(example = "140.00")]
    original_price: String,
    /// `null` when the style is not on sale.
    #[schema(example = "100.00")]
    sale_price: Option<String>,
    #[schema(rename = "default?")]
    default: bool,
    /// At least one: a style without photos has `[{url: null, thumbnail_url: null}]`.
    photos: Vec<CatwalkPhoto>,
    /// By SKU id; a style without SKUs has `{"null": {quantity: null, size: null}}`.
    skus: BTreeMap<String, CatwalkSku>,
}

#[derive(ToSchema)]
pub struct CatwalkPhoto {
    thumbnail_url: Option<String>,
    url: Option<String>,
}

#[derive(ToSchema)]
pub struct CatwalkSku {
    #[schema(example = 8)]
    quantity: Option<i32>,
    #[schema(example = "XS")]
    size: Option<String>,
}
