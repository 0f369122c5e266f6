//! What makes a line of each SDC file a row of its table: its fields
//! checked, and the ids it points to checked against those loaded before
//! (products for features, styles and related rows; styles for photos and
//! SKUs), so that rows are rejected with their line instead of failing the
//! foreign keys at the end.
//!
//! The products are read first and their ids are then only read, so the
//! other files can load at the same time on separate connections; the
//! styles' ids likewise for photos and SKUs.

use std::collections::HashMap;

use bytes::BytesMut;

use super::csv::{copy_row, nullable, parse_id, parse_price};
use super::report::IdSet;
use crate::catalog::domain::{MAX_DESCRIPTION_CHARS, MAX_SLOGAN_CHARS};
use crate::domain::Name;
use crate::domain::text::{lower_as_postgres, parse_free_text};

/// The line's own id (its first field) and its parent's (the second, named
/// `parent_field`), as text to copy; the parent must be in `parents`.
fn ids(
    fields: &[String],
    seen: &mut IdSet,
    parent_field: &str,
    parents: &IdSet,
    what: &str,
) -> Result<(String, String), String> {
    let id = parse_id(&fields[0], "id")?;
    let parent_id = parse_id(&fields[1], parent_field)?;
    if !parents.contains(parent_id) {
        return Err(format!("{parent_field} {parent_id} names no loaded {what}"));
    }
    // (Its caller checks the rest of the row first.)
    once(seen, id)?;
    Ok((id.to_string(), parent_id.to_string()))
}

/// A row's own id, the first time it comes (a repeat is refused, as the
/// table's key would refuse the whole load). Called once every other check
/// of the row has passed: an id is taken only by a row that is loaded.
fn once(seen: &mut IdSet, id: i32) -> Result<(), String> {
    if seen.insert(id) {
        Ok(())
    } else {
        Err(format!("id {id} came before"))
    }
}

/// The products loaded, and the categories they name.
#[derive(Default)]
pub(super) struct Products {
    pub(super) ids: IdSet,
    /// Lower-cased name -> (id, first spelling): names are unique regardless of case.
    pub(super) categories: HashMap<String, (i32, String)>,
}

impl Products {
    /// `id,name,slogan,description,category,default_price`.
    pub(super) fn row(&mut self, fields: &[String], buffer: &mut BytesMut) -> Result<(), String> {
        let id = parse_id(&fields[0], "id")?;
        let name = Name::parse(&fields[1])
            .map(Name::into_inner)
            .map_err(|message| format!("name {message}"))?;
        let price = parse_price(&fields[5], "default_price")?
            .ok_or_else(|| "default_price is missing".to_owned())?;
        if self.ids.contains(id) {
            return Err(format!("id {id} came before"));
        }
        // The slogan and the description as the API takes them (trimmed,
        // blank is none, bounded, no control character): else text no PUT
        // could send back, or a search document past PostgreSQL's size
        // failing the whole load. Before the category is noted: a line
        // refused after it would leave a category no product names.
        let text = |at: usize, what: &str, max: usize| match nullable(&fields[at]) {
            None => Ok(None),
            Some(raw) => parse_free_text(raw, max).map_err(|message| format!("{what} {message}")),
        };
        let slogan = text(2, "slogan", MAX_SLOGAN_CHARS)?;
        let description = text(3, "description", MAX_DESCRIPTION_CHARS)?;
        let category = fields[4].trim();
        let category_id = if category.is_empty() || category.eq_ignore_ascii_case("null") {
            None
        } else {
            // A category's name as the API takes one (1 to 255 characters,
            // no control character): else a category no filter could name,
            // or one the table refuses, failing the whole load.
            Name::parse(category).map_err(|message| format!("category {message}"))?;
            let next = self.categories.len() as i32 + 1;
            let (id, _) = self
                .categories
                .entry(lower_as_postgres(category))
                .or_insert_with(|| (next, category.to_owned()));
            Some(id.to_string())
        };
        once(&mut self.ids, id)?;
        copy_row(
            buffer,
            &[
                Some(&id.to_string()),
                Some(&name),
                slogan.as_deref(),
                description.as_deref(),
                category_id.as_deref(),
                Some(&price),
                // A product sold by SKU gets its stock from its SKUs when
                // it is written, after them (`stage::write_products`).
                Some("0"),
            ],
        );
        Ok(())
    }
}

/// `id,product_id,feature,value`.
pub(super) fn feature(
    products: &IdSet,
    seen: &mut IdSet,
    fields: &[String],
    buffer: &mut BytesMut,
) -> Result<(), String> {
    let (id, product_id) = ids(fields, seen, "product_id", products, "product")?;
    let row = [
        Some(&*id),
        Some(&product_id),
        Some(&fields[2]),
        nullable(&fields[3]),
    ];
    copy_row(buffer, &row);
    Ok(())
}

/// `id,productId,name,sale_price,original_price,default_style`; the style's
/// id joins `styles`.
pub(super) fn style(
    products: &IdSet,
    styles: &mut IdSet,
    fields: &[String],
    buffer: &mut BytesMut,
) -> Result<(), String> {
    let sale_price = parse_price(&fields[3], "sale_price")?;
    let original_price = parse_price(&fields[4], "original_price")?
        .ok_or_else(|| "original_price is missing".to_owned())?;
    let is_default = match fields[5].trim() {
        "1" | "true" | "t" => "t",
        "0" | "false" | "f" => "f",
        other => return Err(format!("default_style {other:?} is not 0 or 1")),
    };
    // Last: a style is known (to its photos and SKUs) only once accepted.
    let (id, product_id) = ids(fields, styles, "productId", products, "product")?;
    let name = Some(fields[2].as_str());
    let prices = [sale_price.as_deref(), Some(&*original_price)];
    copy_row(
        buffer,
        &[
            Some(&*id),
            Some(&product_id),
            name,
            prices[0],
            prices[1],
            Some(is_default),
        ],
    );
    Ok(())
}

/// `id,styleId,url,thumbnail_url`.
pub(super) fn photo(
    styles: &IdSet,
    seen: &mut IdSet,
    fields: &[String],
    buffer: &mut BytesMut,
) -> Result<(), String> {
    let (id, style_id) = ids(fields, seen, "styleId", styles, "style")?;
    copy_row(
        buffer,
        &[
            Some(&*id),
            Some(&style_id),
            nullable(&fields[2]),
            nullable(&fields[3]),
        ],
    );
    Ok(())
}

/// `id,styleId,size,quantity`.
pub(super) fn sku(
    styles: &IdSet,
    seen: &mut IdSet,
    fields: &[String],
    buffer: &mut BytesMut,
) -> Result<(), String> {
    let quantity = match fields[3].trim().parse::<i32>() {
        Ok(quantity) if quantity >= 0 => quantity.to_string(),
        _ => {
            let raw = &fields[3];
            return Err(format!("quantity {raw:?} is not a non-negative integer"));
        }
    };
    let (id, style_id) = ids(fields, seen, "styleId", styles, "style")?;
    copy_row(
        buffer,
        &[
            Some(&*id),
            Some(&style_id),
            Some(&fields[2]),
            Some(&quantity),
        ],
    );
    Ok(())
}

/// `id,current_product_id,related_product_id`.
pub(super) fn related(
    products: &IdSet,
    seen: &mut IdSet,
    fields: &[String],
    buffer: &mut BytesMut,
) -> Result<(), String> {
    let related = fields[2]
        .trim()
        .parse::<i32>()
        .map_err(|_| format!("related_product_id {:?} is not an integer", fields[2]))?;
    if related <= 0 {
        return Err(format!("related_product_id is {related}"));
    }
    if !products.contains(related) {
        return Err(format!(
            "related_product_id {related} names no loaded product"
        ));
    }
    let (id, product_id) = ids(fields, seen, "current_product_id", products, "product")?;
    copy_row(
        buffer,
        &[Some(&*id), Some(&product_id), Some(&related.to_string())],
    );
    Ok(())
}
