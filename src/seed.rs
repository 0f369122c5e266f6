//! `emporium seed`: the bootcamp demo catalog of API.md, and the demo
//! accounts named by `SEED_*`.
//!
//! Idempotent: rows are found by name before they are created, in one
//! transaction under an advisory lock, so two seeds (even at once) leave
//! exactly one copy, and a seed after a Catwalk import adds its rows with
//! fresh ids.

use std::collections::HashMap;

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;

use crate::auth::domain::NewAccount;
use crate::auth::queries::find_user_by_email;
use crate::auth::service::create_account;
use crate::catalog::models::NewProduct;
use crate::catalog::queries::{self, Categories, GroupTable, Tags};
use crate::domain::Name;
use crate::domain::Role;
use crate::error::AppError;
use crate::state::AppState;

pub const CATEGORIES: [&str; 5] = ["Shirts", "Shorts", "Music", "Hats", "Shoes"];
pub const TAGS: [&str; 8] = [
    "rock music",
    "pop music",
    "blue",
    "red",
    "green",
    "white",
    "gold",
    "pop culture",
];

/// A demo product: name, price in cents, stock, category, tags.
pub struct SeedProduct {
    pub name: &'static str,
    pub price_cents: i64,
    pub stock: i32,
    pub category: &'static str,
    pub tags: &'static [&'static str],
}

pub const PRODUCTS: [SeedProduct; 5] = [
    SeedProduct {
        name: "Plain T-Shirt",
        price_cents: 1499,
        stock: 14,
        category: "Shirts",
        tags: &["white", "gold", "pop culture"],
    },
    SeedProduct {
        name: "Running Sneakers",
        price_cents: 9000,
        stock: 25,
        category: "Shoes",
        tags: &["white"],
    },
    SeedProduct {
        name: "Branded Baseball Hat",
        price_cents: 2299,
        stock: 12,
        category: "Hats",
        tags: &["rock music", "blue", "red", "green"],
    },
    SeedProduct {
        name: "Top 40 Music Compilation Vinyl Record",
        price_cents: 1299,
        stock: 50,
        category: "Music",
        tags: &["rock music", "pop music", "pop culture"],
    },
    SeedProduct {
        name: "Cargo Shorts",
        price_cents: 2999,
        stock: 22,
        category: "Shorts",
        tags: &["blue"],
    },
];

/// An arbitrary constant that names the seed's advisory lock.
const SEED_LOCK: i64 = 0x656d_706f_7269_756d; // "emporium"

/// What a seed run created (zero everywhere on a second run).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SeedReport {
    pub categories: usize,
    pub tags: usize,
    pub products: usize,
}

/// Seeds the catalog and the accounts, retiring the cached documents the
/// new rows belong in before answering (without Redis, nothing is seeded).
pub async fn run(state: &AppState) -> anyhow::Result<(SeedReport, usize)> {
    let write = state
        .cache
        .begin_write_for(crate::catalog::cache::bulk_change(), SEED_PENDING_TTL)
        .await
        .map_err(|_| {
            anyhow::anyhow!(
                "cannot reach the cache's Redis (CACHE_REDIS_URL, or REDIS_URL when unset) to retire cached documents"
            )
        })?;
    let seeded = async {
        let mut conn = state
            .conn()
            .await
            .map_err(|_| anyhow::anyhow!("cannot connect to PostgreSQL (DATABASE_URL)"))?;
        let report = seed_catalog(&mut conn).await?;
        let accounts = seed_accounts(&mut conn, state).await?;
        anyhow::Ok((report, accounts))
    }
    .await;
    // A commit on its way may land after this process is gone: finishing
    // now could let a reader store the catalog as it was and serve it after.
    let lost = |error: &anyhow::Error| {
        error.chain().any(|cause| {
            cause
                .downcast_ref::<diesel::result::Error>()
                .is_some_and(crate::db::is_connection_lost)
        })
    };
    let finished = match &seeded {
        Err(error) if lost(error) => {
            write.leave_to_lapse();
            Ok(())
        }
        _ => write.finish().await,
    };
    let seeded = seeded?;
    finished.map_err(|error| anyhow::anyhow!("{error}"))?;
    Ok(seeded)
}

/// How long the seed may run before readers stop waiting for it to finish.
const SEED_PENDING_TTL: std::time::Duration = std::time::Duration::from_secs(600);

/// The id of the demo category or tag `name`, created (and counted) when missing.
async fn demo_group<G: GroupTable>(
    conn: &mut AsyncPgConnection,
    name: &str,
    created: &mut usize,
) -> diesel::QueryResult<i32> {
    if let Some(id) = G::id_by_name(conn, name).await? {
        return Ok(id);
    }
    *created += 1;
    G::insert(conn, &demo_name(name)).await
}

/// Creates whatever part of the demo catalog is missing.
pub async fn seed_catalog(conn: &mut AsyncPgConnection) -> anyhow::Result<SeedReport> {
    conn.transaction::<_, anyhow::Error, _>(async |conn| {
        crate::db::locks::lock_until_commit(conn, SEED_LOCK).await?;
        let mut report = SeedReport::default();
        let mut category_ids = HashMap::new();
        for name in CATEGORIES {
            let id = demo_group::<Categories>(conn, name, &mut report.categories).await?;
            category_ids.insert(name, id);
        }
        let mut tag_ids = HashMap::new();
        for name in TAGS {
            tag_ids.insert(
                name,
                demo_group::<Tags>(conn, name, &mut report.tags).await?,
            );
        }
        for (place, seed) in PRODUCTS.iter().enumerate() {
            if queries::find_product_id_by_name(conn, seed.name)
                .await?
                .is_some()
            {
                continue;
            }
            let product = queries::insert_product(
                conn,
                &NewProduct {
                    product_name: seed.name.to_owned(),
                    slogan: None,
                    description: None,
                    price: Decimal::new(seed.price_cents, 2),
                    stock: seed.stock,
                    category_id: category_ids.get(seed.category).copied(),
                },
            )
            .await?;
            let mut tags: Vec<i32> = seed.tags.iter().map(|tag| tag_ids[tag]).collect();
            tags.sort_unstable();
            queries::replace_product_tags(conn, product.id, &tags).await?;
            // One transaction gives every row one `now()`: a second apart
            // instead, the first of the table newest, so that the default
            // list (newest first) shows them in the order of this table.
            diesel::sql_query(
                "UPDATE products SET created_at = created_at - make_interval(secs => $2), \
                 updated_at = created_at - make_interval(secs => $2) WHERE id = $1",
            )
            .bind::<diesel::sql_types::Int4, _>(product.id)
            .bind::<diesel::sql_types::Double, _>(place as f64)
            .execute(conn)
            .await?;
            report.products += 1;
        }
        Ok(report)
    })
    .await
}

/// Creates the demo admin and customer of `SEED_*` when set and missing.
/// An account that exists is left exactly as it is (password included).
/// Returns how many accounts were created.
pub async fn seed_accounts(
    conn: &mut AsyncPgConnection,
    state: &AppState,
) -> anyhow::Result<usize> {
    let config = &state.config;
    let mut created = 0;
    for (account, role) in [
        (&config.seed_admin, Role::Admin),
        (&config.seed_customer, Role::Customer),
    ] {
        let Some(account) = account else { continue };
        if find_user_by_email(conn, &account.email).await?.is_some() {
            continue;
        }
        let valid = NewAccount::parse(
            &account.email,
            account.password.clone(),
            default_name(role),
            role,
        )
        .map_err(|error| {
            anyhow::anyhow!("the {} seed account is invalid: {error}", role.as_str())
        })?;
        match create_account(conn, &state.hasher, valid).await {
            Ok(_) => created += 1,
            // Another seed created it in the meantime.
            Err(AppError::Conflict { .. }) => {}
            Err(error) => return Err(anyhow::anyhow!("cannot create the seed account: {error}")),
        }
    }
    Ok(created)
}

/// A name of the demo data (each is a valid name).
fn demo_name(name: &str) -> Name {
    Name::parse(name).expect("the demo names are valid names")
}

fn default_name(role: Role) -> &'static str {
    match role {
        Role::Admin => "Demo Admin",
        Role::Customer => "Demo Customer",
    }
}
