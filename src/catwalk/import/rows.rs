//! What makes a line of each SDC file a row of its table: its fields
//! checked, and the ids it points to checked against those loaded before
//! (products for features, styles and related rows; styles for photos and
//! SKUs), so that rows are rejected with their line instead of failing the
//! foreign keys at the end.

use std::collections::HashMap;

use bytes::BytesMut;

use super::csv::{copy_row, nullable, parse_id, parse_price};
use super::report::IdSet;
use crate::domain::Name;

/// The ids loaded so far, and the categories named by products.
#[derive(Default)]
pub(super) struct Loaded {
    products: IdSet,
    styles: IdSet,
    /// Lower-cased name -> (id, first spelling): names are unique regardless of case.
    pub(super) categories: HashMap<String, (i32, String)>,
}

impl Loaded {
    fn product_exists(&self, name: &str, id: i32) -> Result<(), String> {
        if self.products.contains(id) {
            Ok(())
        } else {
            Err(format!("{name} {id} names no loaded product"))
        }
    }

    fn style_exists(&self, id: i32) -> Result<(), String> {
        if self.styles.contains(id) {
            Ok(())
        } else {
            Err(format!("styleId {id} names no loaded style"))
        }
    }

    /// `id,name,slogan,description,category,default_price`.
    pub(super) fn product(
        &mut self,
        fields: &[String],
        buffer: &mut BytesMut,
    ) -> Result<(), String> {
        let id = parse_id(&fields[0], "id")?;
        let name = Name::parse(&fields[1])
            .map(Name::into_inner)
            .map_err(|message| format!("name {message}"))?;
        let price = parse_price(&fields[5], "default_price")?
            .ok_or_else(|| "default_price is missing".to_owned())?;
        let category = fields[4].trim();
        let category_id = if category.is_empty() || category.eq_ignore_ascii_case("null") {
            None
        } else {
            let next = self.categories.len() as i32 + 1;
            let (id, _) = self
                .categories
                .entry(category.to_lowercase())
                .or_insert_with(|| (next, category.to_owned()));
            Some(id.to_string())
        };
        self.products.insert(id);
        copy_row(
            buffer,
            &[
                Some(&id.to_string()),
                Some(&name),
                nullable(&fields[2]),
                nullable(&fields[3]),
                category_id.as_deref(),
                Some(&price),
                // A product sold by SKU gets its stock from its SKUs (the
                // `skus` triggers), as it is loaded.
                Some("0"),
            ],
        );
        Ok(())
    }

    /// `id,product_id,feature,value`.
    pub(super) fn feature(
        &mut self,
        fields: &[String],
        buffer: &mut BytesMut,
    ) -> Result<(), String> {
        let id = parse_id(&fields[0], "id")?;
        let product_id = parse_id(&fields[1], "product_id")?;
        self.product_exists("product_id", product_id)?;
        copy_row(
            buffer,
            &[
                Some(&id.to_string()),
                Some(&product_id.to_string()),
                Some(&fields[2]),
                nullable(&fields[3]),
            ],
        );
        Ok(())
    }

    /// `id,productId,name,sale_price,original_price,default_style`.
    pub(super) fn style(&mut self, fields: &[String], buffer: &mut BytesMut) -> Result<(), String> {
        let id = parse_id(&fields[0], "id")?;
        let product_id = parse_id(&fields[1], "productId")?;
        self.product_exists("productId", product_id)?;
        let sale_price = parse_price(&fields[3], "sale_price")?;
        let original_price = parse_price(&fields[4], "original_price")?
            .ok_or_else(|| "original_price is missing".to_owned())?;
        let is_default = match fields[5].trim() {
            "1" | "true" | "t" => "t",
            "0" | "false" | "f" => "f",
            other => return Err(format!("default_style {other:?} is not 0 or 1")),
        };
        self.styles.insert(id);
        copy_row(
            buffer,
            &[
                Some(&id.to_string()),
                Some(&product_id.to_string()),
                Some(&fields[2]),
                sale_price.as_deref(),
                Some(&original_price),
                Some(is_default),
            ],
        );
        Ok(())
    }

    /// `id,styleId,url,thumbnail_url`.
    pub(super) fn photo(&mut self, fields: &[String], buffer: &mut BytesMut) -> Result<(), String> {
        let id = parse_id(&fields[0], "id")?;
        let style_id = parse_id(&fields[1], "styleId")?;
        self.style_exists(style_id)?;
        copy_row(
            buffer,
            &[
                Some(&id.to_string()),
                Some(&style_id.to_string()),
                nullable(&fields[2]),
                nullable(&fields[3]),
            ],
        );
        Ok(())
    }

    /// `id,styleId,size,quantity`.
    pub(super) fn sku(&mut self, fields: &[String], buffer: &mut BytesMut) -> Result<(), String> {
        let id = parse_id(&fields[0], "id")?;
        let style_id = parse_id(&fields[1], "styleId")?;
        self.style_exists(style_id)?;
        let quantity = match fields[3].trim().parse::<i32>() {
            Ok(quantity) if quantity >= 0 => quantity,
            _ => {
                return Err(format!(
                    "quantity {:?} is not a non-negative integer",
                    fields[3]
                ));
            }
        };
        copy_row(
            buffer,
            &[
                Some(&id.to_string()),
                Some(&style_id.to_string()),
                Some(&fields[2]),
                Some(&quantity.to_string()),
            ],
        );
        Ok(())
    }

    /// `id,current_product_id,related_product_id`.
    pub(super) fn related(
        &mut self,
        fields: &[String],
        buffer: &mut BytesMut,
    ) -> Result<(), String> {
        let id = parse_id(&fields[0], "id")?;
        let product_id = parse_id(&fields[1], "current_product_id")?;
        let related = fields[2]
            .trim()
            .parse::<i32>()
            .map_err(|_| format!("related_product_id {:?} is not an integer", fields[2]))?;
        if related <= 0 {
            return Err(format!("related_product_id is {related}"));
        }
        self.product_exists("current_product_id", product_id)?;
        self.product_exists("related_product_id", related)?;
        copy_row(
            buffer,
            &[
                Some(&id.to_string()),
                Some(&product_id.to_string()),
                Some(&related.to_string()),
            ],
        );
        Ok(())
    }
}
