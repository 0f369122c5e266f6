//! Opaque list cursors (`after`): where the last row of a page stood in the
//! list's order, so that the next page starts right after it with an index
//! seek instead of an OFFSET that reads every row before it. A client only
//! ever copies one from a `next` URL; the server checks that it belongs to
//! the list it is sent to.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

/// The position after which a page starts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Cursor {
    /// The order it was taken in (`price:ASC`, `id:DESC`, ...).
    #[serde(rename = "o")]
    pub order: String,
    /// The last row's sort value, as text (absent for an order by id alone).
    #[serde(rename = "v", default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The last row's id.
    #[serde(rename = "i")]
    pub id: i32,
    /// The number of the page it starts, which that page's answer reports
    /// as its `page` (1 in a cursor made before it was kept).
    #[serde(rename = "p", default = "first_page")]
    pub page: i64,
}

fn first_page() -> i64 {
    1
}

impl Cursor {
    /// The number of the page after `page`, as a cursor keeps it (at most
    /// what [`Cursor::decode`] takes back).
    pub fn page_after(page: i64) -> i64 {
        page.saturating_add(1).min(i64::from(i32::MAX))
    }

    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    /// A cursor of a list ordered by `order`; any other text is an error
    /// that says so.
    pub fn decode(raw: &str, order: &str) -> Result<Self, String> {
        let unreadable = || "is not a cursor of this list: copy it from a `next` URL".to_owned();
        let bytes = URL_SAFE_NO_PAD
            .decode(raw.trim())
            .map_err(|_| unreadable())?;
        let cursor: Self = serde_json::from_slice(&bytes).map_err(|_| unreadable())?;
        if !(1..=i64::from(i32::MAX)).contains(&cursor.page) {
            return Err(unreadable());
        }
        if cursor.order != order || cursor.id < 1 {
            return Err(format!(
                "belongs to a list in another order (sortBy and order must stay as they were): {}",
                cursor.order
            ));
        }
        Ok(cursor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_only_in_its_own_order() {
        let cursor = Cursor {
            order: "price:ASC".into(),
            value: Some("14.99".into()),
            id: 7,
            page: 3,
        };
        let text = cursor.encode();
        assert!(
            text.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_eq!(Cursor::decode(&text, "price:ASC"), Ok(cursor.clone()));
        assert!(Cursor::decode(&text, "price:DESC").is_err());
        assert!(Cursor::decode("not a cursor", "price:ASC").is_err());
        assert!(Cursor::decode("", "price:ASC").is_err());
        let made_up = Cursor { page: 0, ..cursor };
        assert!(Cursor::decode(&made_up.encode(), "price:ASC").is_err());
    }
}
