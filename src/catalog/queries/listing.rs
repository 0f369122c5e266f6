//! Product lists: the filters, the search, the order and the `after`
//! cursor of `GET /api/products`, as one statement built per request (its
//! values always bound, never in the text), and the capped count.

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Double, Int4, Numeric, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::products::with_category_and_tags;
use super::{TOTAL_CAP, Total};
use crate::catalog::domain::{ProductFilter, SortBy, SortOrder};
use crate::catalog::models::{Product, ProductRecord};
use crate::domain::Cursor;

/// What a list is narrowed to besides the filter's own values, resolved
/// first: the ids of the categories and of the tags it names (a product in
/// any of them), and the categories whose names the search matches.
#[derive(Debug, Default)]
pub struct ListScope {
    pub category_ids: Option<Vec<i32>>,
    pub tag_ids: Option<Vec<i32>>,
    pub search_categories: Vec<i32>,
    /// The search's words as names spell them (`queries::spellings`).
    pub spellings: Option<String>,
}

/// Relevance ranks at most this many matches, the newest: a word common to
/// tens of thousands of products would otherwise have every one of them
/// fetched and scored for each page (0.3 s at a million products). Like
/// Algolia's default `paginationLimitedTo`; every other order pages
/// through every match.
pub const RELEVANCE_WINDOW: i32 = 1_000;

/// A page of products (one past the limit was loaded, to know whether
/// more follow).
pub struct ProductPage {
    pub records: Vec<ProductRecord>,
    pub has_next: bool,
    /// Where the next page starts, when one does.
    pub next: Option<Cursor>,
    pub total: i64,
    pub total_capped: bool,
}

#[derive(QueryableByName)]
struct ListedRow {
    #[diesel(embed)]
    product: Product,
    #[diesel(sql_type = Double)]
    score: f64,
}

/// A statement's text and parameters, built piece by piece (`$1`, `$2`, ...
/// numbered as they are added). The list's filters, search and order vary
/// too much for one prepared shape; every value still travels as a bound
/// parameter, never in the text.
#[derive(Default)]
struct Statement {
    text: String,
    params: Vec<Param>,
}

enum Param {
    Int(i32),
    Ints(Vec<i32>),
    Text(String),
    Numeric(rust_decimal::Decimal),
}

impl Statement {
    fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Binds `param`, answering its placeholder.
    fn bind(&mut self, param: Param) -> String {
        self.params.push(param);
        format!("${}", self.params.len())
    }

    fn query(
        self,
    ) -> diesel::query_builder::BoxedSqlQuery<'static, Pg, diesel::query_builder::SqlQuery> {
        let mut query = diesel::sql_query(self.text).into_boxed();
        for param in self.params {
            query = match param {
                Param::Int(value) => query.bind::<Int4, _>(value),
                Param::Ints(values) => query.bind::<Array<Int4>, _>(values),
                Param::Text(value) => query.bind::<Text, _>(value),
                Param::Numeric(value) => query.bind::<Numeric, _>(value),
            };
        }
        query
    }
}

/// A search, bound: the full-text query of the words as typed, or as names
/// spell them, as one `tsquery` expression of placeholders.
struct Search(String);

impl Statement {
    fn bind_search(&mut self, filter: &ProductFilter, scope: &ListScope) -> Option<Search> {
        let search = filter.search.as_ref()?.as_str();
        let q = self.bind(Param::Text(search.to_owned()));
        let typed = format!("websearch_to_tsquery('english', {q})");
        Some(Search(match &scope.spellings {
            None => typed,
            Some(spellings) => {
                let spelled = self.bind(Param::Text(spellings.clone()));
                format!("({typed} || to_tsquery('english', {spelled}))")
            }
        }))
    }
}

/// (`search_document` is the stored `product_search_document` of the name,
/// slogan and description: migration `product_search_stored`.)
/// A search's relevance: how well the document covers the words, the name
/// weighing most.
fn relevance(Search(query): &Search) -> String {
    format!("ts_rank_cd(p.search_document, {query})::float8")
}

/// The conditions of `filter` (and of the `after` cursor), as `WHERE ...`.
fn conditions(
    statement: &mut Statement,
    filter: &ProductFilter,
    scope: &ListScope,
    search: Option<&Search>,
) {
    statement.push(" WHERE TRUE");
    if let Some(ids) = &scope.category_ids {
        let ids = statement.bind(Param::Ints(ids.clone()));
        statement.push(&format!(" AND p.category_id = ANY({ids})"));
    }
    if let Some(ids) = &scope.tag_ids {
        let ids = statement.bind(Param::Ints(ids.clone()));
        statement.push(&format!(
            " AND p.id IN (SELECT t.product_id FROM product_tags t WHERE t.tag_id = ANY({ids}))"
        ));
    }
    if let Some(min_price) = filter.min_price {
        let min = statement.bind(Param::Numeric(min_price.amount()));
        statement.push(&format!(" AND p.price >= {min}"));
    }
    if let Some(max_price) = filter.max_price {
        let max = statement.bind(Param::Numeric(max_price.amount()));
        statement.push(&format!(" AND p.price <= {max}"));
    }
    match filter.in_stock {
        Some(true) => statement.push(" AND p.stock > 0"),
        Some(false) => statement.push(" AND p.stock = 0"),
        None => statement,
    };
    if let Some(Search(query)) = search {
        let categories = statement.bind(Param::Ints(scope.search_categories.clone()));
        // Both sides are index-backed (the document's GIN index, the
        // category index), so PostgreSQL ORs bitmaps.
        statement.push(&format!(
            " AND (p.search_document @@ {query} OR p.category_id = ANY({categories}))"
        ));
    }
}

/// The expression a list is sorted by, and the type its cursor value casts to.
fn sort_expression(sort_by: SortBy, search: Option<&Search>) -> (String, &'static str) {
    match sort_by {
        SortBy::CreatedAt => ("p.created_at".to_owned(), "timestamptz"),
        SortBy::Price => ("p.price".to_owned(), "numeric"),
        SortBy::Name => ("p.product_name".to_owned(), "text"),
        SortBy::Relevance => match search {
            Some(search) => (relevance(search), "float8"),
            None => ("0::float8".to_owned(), "float8"),
        },
    }
}

/// How many products match `filter` within `scope` (its page and order
/// aside).
pub async fn count_products(
    conn: &mut AsyncPgConnection,
    filter: &ProductFilter,
    scope: &ListScope,
) -> QueryResult<Total> {
    let mut count = Statement::default();
    let search = count.bind_search(filter, scope);
    count.push("SELECT count(*) AS total FROM (SELECT 1 FROM products p");
    conditions(&mut count, filter, scope, search.as_ref());
    let cap = count.bind(Param::Int(i32::try_from(TOTAL_CAP + 1).unwrap_or(i32::MAX)));
    count.push(&format!(" LIMIT {cap}) matched"));
    let matched = count.query().get_result::<Counted>(conn).await?.total;
    Ok(Total::of_matched(matched))
}

/// A page of products matching `filter` within `scope`, with how many
/// match: `total` when it is known, else counted here. Equal sort values
/// are ordered by id, in the same direction, so pages never overlap and a
/// (column, id) index serves either direction; a page `after` a cursor
/// seeks to it, with no OFFSET.
pub async fn list_products(
    conn: &mut AsyncPgConnection,
    filter: &ProductFilter,
    scope: &ListScope,
    total: Option<Total>,
) -> QueryResult<ProductPage> {
    let mut page = Statement::default();
    let search = page.bind_search(filter, scope);
    let (sort, cast) = sort_expression(filter.sort_by, search.as_ref());
    let direction = filter.order.as_str();
    let ranked = filter.sort_by == SortBy::Relevance && search.is_some();
    page.push(&format!(
        concat!("SELECT ", product_columns!(), ", {} AS score FROM "),
        if ranked { sort.as_str() } else { "0::float8" }
    ));
    if ranked {
        // Ranked in a window: the newest matches, at most RELEVANCE_WINDOW.
        page.push(concat!(
            "(SELECT ",
            product_columns!(),
            ", p.search_document FROM products p"
        ));
        conditions(&mut page, filter, scope, search.as_ref());
        let window = page.bind(Param::Int(RELEVANCE_WINDOW));
        page.push(&format!(" ORDER BY p.id DESC LIMIT {window}) p WHERE TRUE"));
    } else {
        page.push("products p");
        conditions(&mut page, filter, scope, search.as_ref());
    }
    if let Some(after) = &filter.after {
        let value = page.bind(Param::Text(after.value.clone().unwrap_or_default()));
        let id = page.bind(Param::Int(after.id));
        let beyond = if filter.order == SortOrder::Asc {
            ">"
        } else {
            "<"
        };
        page.push(&format!(
            " AND ({sort}, p.id) {beyond} ({value}::{cast}, {id})"
        ));
    }
    page.push(&format!(" ORDER BY {sort} {direction}, p.id {direction}"));
    let limit = page.bind(Param::Int(
        i32::try_from(filter.page.limit + 1).unwrap_or(i32::MAX),
    ));
    page.push(&format!(" LIMIT {limit}"));
    if filter.after.is_none() {
        let offset = page.bind(Param::Int(
            i32::try_from(filter.page.offset()).unwrap_or(i32::MAX),
        ));
        page.push(&format!(" OFFSET {offset}"));
    }
    let mut rows: Vec<ListedRow> = page.query().load(conn).await?;

    let total = match total {
        Some(total) => total,
        None => count_products(conn, filter, scope).await?,
    };

    let has_next = rows.len() as i64 > filter.page.limit;
    rows.truncate(usize::try_from(filter.page.limit).unwrap_or(usize::MAX));
    let next = rows
        .last()
        .filter(|_| has_next)
        .map(|row| cursor_after(filter, row));
    let products = rows.into_iter().map(|row| row.product).collect();
    let records = with_category_and_tags(conn, products).await?;
    Ok(ProductPage {
        records,
        has_next,
        next,
        total: total.total,
        total_capped: total.capped,
    })
}

#[derive(QueryableByName)]
struct Counted {
    #[diesel(sql_type = BigInt)]
    total: i64,
}

/// The cursor of the row a page ends with.
fn cursor_after(filter: &ProductFilter, row: &ListedRow) -> Cursor {
    let value = match filter.sort_by {
        SortBy::CreatedAt => row
            .product
            .created_at
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        SortBy::Price => row.product.price.to_string(),
        SortBy::Name => row.product.product_name.clone(),
        SortBy::Relevance => row.score.to_string(),
    };
    Cursor {
        order: filter.order_key(),
        value: Some(value),
        id: row.product.id,
        page: Cursor::page_after(filter.page.page),
    }
}
