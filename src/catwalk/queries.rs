//! The Catwalk documents, each built by PostgreSQL as the JSON text the
//! Atelier API answered (see the `catwalk_*_document` functions in the
//! migrations): no rows cross the wire to be re-assembled, a product's
//! styles with all their photos and SKUs are one round trip, and both the
//! call (a prepared statement) and the query inside the function (a cached
//! PL/pgSQL plan) are planned once per connection, not per request.
//! PostgreSQL writes `json` as `{"id" : 1, ...}`; [`compact`] makes it read
//! like every other answer of the API (`{"id":1,...}`).

use diesel::expression::functions::declare_sql_function;
use diesel::sql_types::{BigInt, Int4};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

#[declare_sql_function]
extern "SQL" {
    fn catwalk_product_page(page_size: BigInt, skip: BigInt) -> Nullable<Text>;
    fn catwalk_product_document(product: Int4) -> Nullable<Text>;
    fn catwalk_styles_document(product: Int4) -> Nullable<Text>;
    fn catwalk_related_document(product: Int4) -> Nullable<Text>;
}

/// A page of products, lowest ids first.
pub async fn product_page(
    conn: &mut AsyncPgConnection,
    page: i64,
    count: i64,
) -> diesel::QueryResult<String> {
    let skip = (page - 1).saturating_mul(count);
    let document: Option<String> = diesel::select(catwalk_product_page(count, skip))
        .get_result(conn)
        .await?;
    Ok(document.map_or_else(|| "[]".into(), compact))
}

/// The JSON text PostgreSQL built, without the spaces it puts around `:`
/// and `,` and the newlines between array elements: the same document,
/// spelled as serde_json spells every other answer. Only whitespace outside
/// strings goes; everything else (numbers as written, escapes, key order)
/// is kept byte for byte. (serde-transcode would re-spell numbers through
/// serde_json's `arbitrary_precision` marker, and a `Value` would sort keys.)
fn compact(text: String) -> String {
    let mut out = Vec::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    // Byte by byte: `"`, `\\` and the whitespace are ASCII, and no byte of a
    // multi-byte UTF-8 character is.
    for &byte in text.as_bytes() {
        if in_string {
            out.push(byte);
            if escaped {
                escaped = false;
            } else if byte == b'\\' {
                escaped = true;
            } else if byte == b'"' {
                in_string = false;
            }
        } else if byte == b'"' {
            in_string = true;
            out.push(byte);
        } else if !byte.is_ascii_whitespace() {
            out.push(byte);
        }
    }
    // Dropping ASCII bytes from UTF-8 text leaves UTF-8 text; were it not
    // so, the document as PostgreSQL spelled it is still the same JSON.
    String::from_utf8(out).unwrap_or(text)
}

/// One of a product's documents.
#[derive(Debug, Clone, Copy)]
pub enum ProductDocument {
    /// The product with its features.
    Product,
    /// Its styles with their photos and SKUs, in the Atelier's shape
    /// (including its placeholders for a style with no photos or no SKUs).
    Styles,
    /// The ids of its related products.
    Related,
}

/// The document of product `product_id`; `None` when there is no such product.
pub async fn product_document(
    conn: &mut AsyncPgConnection,
    document: ProductDocument,
    product_id: i32,
) -> diesel::QueryResult<Option<String>> {
    let text: Option<String> = match document {
        ProductDocument::Product => {
            diesel::select(catwalk_product_document(product_id))
                .get_result(conn)
                .await
        }
        ProductDocument::Styles => {
            diesel::select(catwalk_styles_document(product_id))
                .get_result(conn)
                .await
        }
        ProductDocument::Related => {
            diesel::select(catwalk_related_document(product_id))
                .get_result(conn)
                .await
        }
    }?;
    Ok(text.map(compact))
}

#[cfg(test)]
mod tests {
    use super::compact;

    #[test]
    fn documents_are_spelled_like_every_other_answer() {
        let from_postgres = r#"{"id" : 1, "name" : "a : b, \"c\" ", "price" : 140.00, "results" : [{"x" : null}, 
 {"y" : "\\", "z" : "\u00e9 é"}]}"#;
        let compacted = compact(from_postgres.to_owned());
        assert_eq!(
            compacted,
            r#"{"id":1,"name":"a : b, \"c\" ","price":140.00,"results":[{"x":null},{"y":"\\","z":"\u00e9 é"}]}"#
        );
        let before: serde_json::Value = serde_json::from_str(from_postgres).unwrap();
        let after: serde_json::Value = serde_json::from_str(&compacted).unwrap();
        assert_eq!(before, after);
    }
}
