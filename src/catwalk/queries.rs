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
    let mut bytes = text.into_bytes();
    let len = bytes.len();
    let (mut read, mut write) = (0, 0);
    // In place. `"`, `\\` and the whitespace are ASCII, and no byte of a
    // multi-byte UTF-8 character is; a string is copied whole, up to its
    // closing quote (found with `memchr`, past every escape).
    while read < len {
        let byte = bytes[read];
        if byte == b'"' {
            let mut end = read + 1;
            while end < len {
                match memchr::memchr2(b'"', b'\\', &bytes[end..]) {
                    None => end = len,
                    Some(at) if bytes[end + at] == b'"' => {
                        end += at + 1;
                        break;
                    }
                    // A backslash and the byte it escapes.
                    Some(at) => end += at + 2,
                }
            }
            let end = end.min(len);
            bytes.copy_within(read..end, write);
            write += end - read;
            read = end;
        } else {
            if !byte.is_ascii_whitespace() {
                bytes[write] = byte;
                write += 1;
            }
            read += 1;
        }
    }
    bytes.truncate(write);
    // Dropping ASCII bytes from UTF-8 text leaves UTF-8 text.
    String::from_utf8(bytes)
        .unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned())
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

    #[test]
    fn text_cut_off_inside_a_string_is_kept_as_it_is() {
        assert_eq!(compact(r#"{"a" : "b c"#.to_owned()), r#"{"a":"b c"#);
        assert_eq!(compact(r#"[ "x\"#.to_owned()), r#"["x\"#);
        assert_eq!(compact(r#"[ "x\" , 1 ]"#.to_owned()), r#"["x\" , 1 ]"#);
        assert_eq!(compact(r#"[ "x\\" , 1 ]"#.to_owned()), r#"["x\\",1]"#);
        assert_eq!(compact(String::new()), "");
    }

    /// The rule, byte by byte: the same answer for any text.
    fn compacted_byte_by_byte(text: &str) -> String {
        let (mut out, mut in_string, mut escaped) = (Vec::new(), false, false);
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
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn any_text_is_compacted_as_the_byte_by_byte_rule_does() {
        use rand::{Rng, SeedableRng};
        let pieces = [" ", "\n", "\"", "\\", "a", "é", ":", ",", "{", "1"];
        let mut rng = rand::rngs::StdRng::seed_from_u64(15);
        for _ in 0..20_000 {
            let length = rng.random_range(0..24);
            let text: String = (0..length)
                .map(|_| pieces[rng.random_range(0..pieces.len())])
                .collect();
            assert_eq!(
                compact(text.clone()),
                compacted_byte_by_byte(&text),
                "{text:?}"
            );
        }
    }
}
