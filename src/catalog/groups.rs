//! Categories and tags: two kinds of group of products that the API treats
//! alike (a list of them, one, create, rename, delete; each shows its first
//! products). [`Group`] says what differs (the table, the key, the name);
//! the functions here are the one copy of what is the same.

use axum::http::StatusCode;
use axum::response::Response;
use diesel::QueryResult;
use diesel_async::AsyncPgConnection;
use serde::Serialize;

use super::cache;
use super::dto::{CategoryView, TagView};
use super::models::{Category, GroupRecord, Tag};
use super::queries;
use crate::cache::{CacheKey, Namespace};
use crate::config::CacheLimits;
use crate::domain::{Name, PageQuery, Pagination};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::response::{Document, Envelope, Framing, ListPage};
use crate::state::AppState;

/// A kind of group: categories or tags.
pub trait Group: Send + Sync + 'static {
    type Row: Send;
    type View: Serialize + Send + From<GroupRecord<Self::Row>>;
    /// `category` or `tag`, for messages.
    const WHAT: &'static str;

    fn namespace() -> Namespace;
    fn page_key(page: Pagination, limits: &CacheLimits) -> CacheKey;
    fn key(id: i32) -> CacheKey;

    fn list(
        conn: &mut AsyncPgConnection,
        page: Pagination,
    ) -> impl Future<Output = QueryResult<(Vec<GroupRecord<Self::Row>>, i64)>> + Send;
    fn find(
        conn: &mut AsyncPgConnection,
        id: i32,
    ) -> impl Future<Output = QueryResult<Option<GroupRecord<Self::Row>>>> + Send;
    /// Inserts one; its id.
    fn insert(
        conn: &mut AsyncPgConnection,
        name: &Name,
    ) -> impl Future<Output = QueryResult<i32>> + Send;
    /// Renames one; false when there is none.
    fn rename(
        conn: &mut AsyncPgConnection,
        id: i32,
        name: &Name,
    ) -> impl Future<Output = QueryResult<bool>> + Send;
    /// Deletes one; false when there is none.
    fn delete(
        conn: &mut AsyncPgConnection,
        id: i32,
    ) -> impl Future<Output = QueryResult<bool>> + Send;
}

/// Categories.
pub struct Categories;

impl Group for Categories {
    type Row = Category;
    type View = CategoryView;
    const WHAT: &'static str = "category";

    fn namespace() -> Namespace {
        cache::categories()
    }
    fn page_key(page: Pagination, limits: &CacheLimits) -> CacheKey {
        cache::category_page(page.page, page.limit, limits)
    }
    fn key(id: i32) -> CacheKey {
        cache::category(id)
    }
    async fn list(
        conn: &mut AsyncPgConnection,
        page: Pagination,
    ) -> QueryResult<(Vec<GroupRecord<Category>>, i64)> {
        queries::list_categories(conn, page).await
    }
    async fn find(
        conn: &mut AsyncPgConnection,
        id: i32,
    ) -> QueryResult<Option<GroupRecord<Category>>> {
        queries::find_category(conn, id).await
    }
    async fn insert(conn: &mut AsyncPgConnection, name: &Name) -> QueryResult<i32> {
        Ok(queries::insert_category(conn, name).await?.id)
    }
    async fn rename(conn: &mut AsyncPgConnection, id: i32, name: &Name) -> QueryResult<bool> {
        Ok(queries::rename_category(conn, id, name).await?.is_some())
    }
    async fn delete(conn: &mut AsyncPgConnection, id: i32) -> QueryResult<bool> {
        queries::delete_category(conn, id).await
    }
}

/// Tags.
pub struct Tags;

impl Group for Tags {
    type Row = Tag;
    type View = TagView;
    const WHAT: &'static str = "tag";

    fn namespace() -> Namespace {
        cache::tags()
    }
    fn page_key(page: Pagination, limits: &CacheLimits) -> CacheKey {
        cache::tag_page(page.page, page.limit, limits)
    }
    fn key(id: i32) -> CacheKey {
        cache::tag(id)
    }
    async fn list(
        conn: &mut AsyncPgConnection,
        page: Pagination,
    ) -> QueryResult<(Vec<GroupRecord<Tag>>, i64)> {
        queries::list_tags(conn, page).await
    }
    async fn find(conn: &mut AsyncPgConnection, id: i32) -> QueryResult<Option<GroupRecord<Tag>>> {
        queries::find_tag(conn, id).await
    }
    async fn insert(conn: &mut AsyncPgConnection, name: &Name) -> QueryResult<i32> {
        Ok(queries::insert_tag(conn, name).await?.id)
    }
    async fn rename(conn: &mut AsyncPgConnection, id: i32, name: &Name) -> QueryResult<bool> {
        Ok(queries::rename_tag(conn, id, name).await?.is_some())
    }
    async fn delete(conn: &mut AsyncPgConnection, id: i32) -> QueryResult<bool> {
        queries::delete_tag(conn, id).await
    }
}

fn not_found<G: Group>(id: i32) -> AppError {
    AppError::not_found(format!("no {} has id {id}", G::WHAT))
}

/// A page of groups, each with its first products, through the cache.
pub async fn list<G: Group>(state: &AppState, query: PageQuery) -> AppResult<Response> {
    let mut errors = FieldErrors::new();
    let page = query.parse(&mut errors);
    errors.into_result(())?;
    let key = G::page_key(page, &state.config.cache_limits);
    state
        .cached(
            &key,
            Framing::Envelope,
            async |conn: &mut AsyncPgConnection| {
                let (rows, total) = G::list(conn, page).await?;
                let data: Vec<G::View> = rows.into_iter().map(Into::into).collect();
                Document::envelope_of(&ListPage::of(data, page, total))
            },
        )
        .await
}

/// One group with its first products, through the cache.
pub async fn get<G: Group>(state: &AppState, id: i32) -> AppResult<Response> {
    state
        .cached(
            &G::key(id),
            Framing::Envelope,
            async |conn: &mut AsyncPgConnection| {
                let record = G::find(conn, id).await?.ok_or_else(|| not_found::<G>(id))?;
                Document::envelope_of(&Envelope {
                    data: G::View::from(record),
                })
            },
        )
        .await
}

/// Creates a group (409 when the name is taken in any case).
pub async fn create<G: Group>(
    state: &AppState,
    name: Name,
) -> AppResult<(StatusCode, Envelope<G::View>)> {
    let retired = cache::group_created(G::namespace());
    let record = state
        .cache
        .write(retired, async {
            let mut conn = state.conn().await?;
            let id = G::insert(&mut conn, &name).await?;
            G::find(&mut conn, id)
                .await?
                .ok_or_else(|| anyhow::anyhow!("{} {id} vanished after insert", G::WHAT).into())
        })
        .await?;
    Ok((
        StatusCode::CREATED,
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
        .write(cache::group_changed(), async {
            let mut conn = state.conn().await?;
            if let Some(name) = &name
                && !G::rename(&mut conn, id, name).await?
            {
                return Err(not_found::<G>(id));
            }
            G::find(&mut conn, id)
                .await?
                .ok_or_else(|| not_found::<G>(id))
        })
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
            let mut conn = state.conn().await?;
            if G::delete(&mut conn, id).await? {
                Ok(StatusCode::NO_CONTENT)
            } else {
                Err(not_found::<G>(id))
            }
        })
        .await
}
