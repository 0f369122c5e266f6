//! Categories and tags: two kinds of group of products that the API treats
//! alike (a list of them, one, create, rename, delete; each shows its first
//! products). [`Group`] says what differs (the table, the key, the name);
//! the functions here are the one copy of what is the same.

use axum::http::StatusCode;
use axum::response::Response;
use diesel_async::AsyncPgConnection;
use serde::Serialize;

use super::cache;
use super::dto::{CategoryView, TagView};
use super::models::GroupRecord;
pub use super::queries::{Categories, GroupTable, Tags};
use crate::domain::{Cursor, Name, Pagination};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::response::{Created, Document, Envelope, Framing, ListPage};
use crate::state::AppState;

/// A kind of group: categories or tags. Its queries are its [`GroupTable`];
/// this adds what the API shows of it and the cache's name for it.
pub trait Group: GroupTable {
    type View: Serialize + Send + From<GroupRecord<Self::Row>>;
    /// `category` or `tag`, for messages.
    const ONE: &'static str;
    /// `categories` or `tags`: the prefix of its keys and its namespace.
    const KIND: &'static str;
}

impl Group for Categories {
    type View = CategoryView;
    const ONE: &'static str = "category";
    const KIND: &'static str = cache::CATEGORIES;
}

impl Group for Tags {
    type View = TagView;
    const ONE: &'static str = "tag";
    const KIND: &'static str = cache::TAGS;
}

fn not_found<G: Group>(id: i32) -> AppError {
    AppError::not_found(format!("no {} has id {id}", G::ONE))
}

/// The namespaces of the products these groups show (their stock).
fn shown_products<R>(records: &[GroupRecord<R>]) -> Vec<crate::cache::Namespace> {
    let ids = records
        .iter()
        .flat_map(|record| record.products.iter().flatten());
    cache::showing_products(ids.map(|priced| priced.product.id))
}

/// The query of a list of groups: a page, and whether each group shows its
/// first products (`products=false` leaves them out, keeping `products_total`).
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct GroupListQuery {
    /// 1-based page number.
    #[param(minimum = 1, maximum = 2147483647, default = 1)]
    pub page: Option<i64>,
    /// Rows per page.
    #[param(minimum = 1, maximum = 100, default = 20)]
    pub limit: Option<i64>,
    /// Whether each group embeds its first 100 products (default `true`; in any case).
    #[param(default = true)]
    #[serde(default, deserialize_with = "crate::extract::any_case_bool")]
    pub products: Option<bool>,
    /// An opaque cursor from a `next` URL: the page starts after it (with no `page`).
    pub after: Option<String>,
}

/// Group lists are ordered by id; their cursors say so.
const GROUP_ORDER: &str = "id:ASC";

/// A page of groups, each with its first products unless asked not to,
/// through the cache.
pub async fn list<G: Group>(state: &AppState, query: GroupListQuery) -> AppResult<Response> {
    let mut errors = FieldErrors::new();
    let mut page = Pagination::parse(query.page, query.limit, &mut errors);
    let after = query.after.as_deref().and_then(|raw| {
        if page.page != 1 {
            errors.add("page", "a page that starts `after` a row takes no `page`");
        }
        errors.check("after", Cursor::decode(raw, GROUP_ORDER))
    });
    if let Some(cursor) = &after {
        page.page = cursor.page;
    }
    errors.into_result(())?;
    let embed = query.products.unwrap_or(true);
    let after_id = after.as_ref().map(|cursor| cursor.id);
    let key = cache::group_page(G::KIND, page, after_id, embed, &state.config.cache_limits);
    state
        .cached(
            &key,
            Framing::Envelope,
            async |conn: &mut AsyncPgConnection| {
                let (rows, total) = G::list(conn, page, after_id, embed).await?;
                let listed = ListPage::from_rows(rows, page, total, |last| {
                    next_group_url(G::KIND, page, embed, last.id)
                });
                let shows = shown_products(&listed.data);
                let listed = listed.map(G::View::from);
                Ok(Document::envelope_of(&listed)?.showing(shows))
            },
        )
        .await
}

/// `/api/<kind>?limit=..&after=..`: the page after group `last_id`.
fn next_group_url(kind: &str, page: Pagination, embed: bool, last_id: i32) -> String {
    let cursor = Cursor {
        order: GROUP_ORDER.to_owned(),
        value: None,
        id: last_id,
        page: Cursor::page_after(page.page),
    };
    let bare = if embed { "" } else { "&products=false" };
    format!(
        "/api/{kind}?limit={}{bare}&after={}",
        page.limit,
        cursor.encode()
    )
}

/// One group with its first products, through the cache.
pub async fn get<G: Group>(state: &AppState, id: i32) -> AppResult<Response> {
    state
        .cached(
            &cache::group(G::KIND, id),
            Framing::Envelope,
            async |conn: &mut AsyncPgConnection| {
                let record = G::find(conn, id).await?.ok_or_else(|| not_found::<G>(id))?;
                let shows = shown_products(std::slice::from_ref(&record));
                let view = Envelope {
                    data: G::View::from(record),
                };
                Ok(Document::envelope_of(&view)?.showing(shows))
            },
        )
        .await
}

/// Creates a group (409 when the name is taken in any case).
pub async fn create<G: Group>(
    state: &AppState,
    name: Name,
) -> AppResult<Created<Envelope<G::View>>> {
    let retired = cache::group_created(G::KIND, &name);
    let record = state
        .cache
        .write(
            retired,
            // One transaction: the row answered is the row inserted, and a
            // failure before the commit leaves nothing to be refused (409)
            // on a retry.
            state.transaction(async |conn: &mut AsyncPgConnection| {
                let id = G::insert(conn, &name).await?;
                G::find(conn, id)
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("{} {id} vanished after insert", G::ONE).into())
            }),
        )
        .await?;
    Ok(Created::at(
        format!("/api/{}/{}", G::KIND, record.id),
        Envelope {
            data: record.into(),
        },
    ))
}

/// Renames a group (`None`: changes nothing) and answers it as it is now.
pub async fn rename<G: Group>(
    state: &AppState,
    id: i32,
    name: Option<Name>,
) -> AppResult<Envelope<G::View>> {
    let record = state
        .cache
        .write(
            cache::group_changed(),
            state.transaction(async |conn: &mut AsyncPgConnection| {
                if let Some(name) = &name
                    && !G::rename(conn, id, name).await?
                {
                    return Err(not_found::<G>(id));
                }
                G::find(conn, id).await?.ok_or_else(|| not_found::<G>(id))
            }),
        )
        .await?;
    Ok(Envelope {
        data: record.into(),
    })
}

/// Deletes a group.
pub async fn delete<G: Group>(state: &AppState, id: i32) -> AppResult<StatusCode> {
    state
        .cache
        .write(cache::group_changed(), async {
            state
                .transaction(async |conn: &mut AsyncPgConnection| {
                    if G::delete(conn, id).await? {
                        Ok(StatusCode::NO_CONTENT)
                    } else {
                        Err(not_found::<G>(id))
                    }
                })
                .await
        })
        .await
}
