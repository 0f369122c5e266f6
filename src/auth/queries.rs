//! Every query on `users`.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::models::{NewUser, User};
use crate::db::lower_text;
use crate::schema::users;

pub async fn insert_user(
    conn: &mut AsyncPgConnection,
    new_user: &NewUser<'_>,
) -> QueryResult<User> {
    diesel::insert_into(users::table)
        .values(new_user)
        .returning(User::as_returning())
        .get_result(conn)
        .await
}

/// The account with this email, compared case-insensitively (the unique index's expression).
pub async fn find_user_by_email(
    conn: &mut AsyncPgConnection,
    email: &str,
) -> QueryResult<Option<User>> {
    users::table
        .filter(lower_text(users::email).eq(email.to_lowercase()))
        .select(User::as_select())
        .first(conn)
        .await
        .optional()
}

pub async fn find_user(conn: &mut AsyncPgConnection, id: i32) -> QueryResult<Option<User>> {
    users::table
        .find(id)
        .select(User::as_select())
        .first(conn)
        .await
        .optional()
}

/// Renames the account; the row as it is now (`None` when it is gone).
pub async fn update_name(
    conn: &mut AsyncPgConnection,
    id: i32,
    name: &str,
) -> QueryResult<Option<User>> {
    diesel::update(users::table.find(id))
        .set(users::name.eq(name))
        .returning(User::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// The account's password hash, its row locked until the transaction ends
/// (against other changes of it, not against orders' key checks); `None`
/// when the account is gone.
pub async fn lock_password_hash(
    conn: &mut AsyncPgConnection,
    id: i32,
) -> QueryResult<Option<String>> {
    users::table
        .find(id)
        .select(users::password_hash)
        .for_no_key_update()
        .first(conn)
        .await
        .optional()
}

/// Replaces the account's password hash; false when the account is gone.
pub async fn update_password_hash(
    conn: &mut AsyncPgConnection,
    id: i32,
    password_hash: &str,
) -> QueryResult<bool> {
    let updated = diesel::update(users::table.find(id))
        .set(users::password_hash.eq(password_hash))
        .execute(conn)
        .await?;
    Ok(updated == 1)
}

/// Replaces the account's password hash `old` with `new` (the same
/// password, hashed with the current settings); nothing when the hash is
/// no longer `old` (the password changed meanwhile).
pub async fn remake_password_hash(
    conn: &mut AsyncPgConnection,
    id: i32,
    old: &str,
    new: &str,
) -> QueryResult<()> {
    diesel::update(users::table.find(id).filter(users::password_hash.eq(old)))
        .set(users::password_hash.eq(new))
        .execute(conn)
        .await
        .map(drop)
}

/// The accounts of `ids` (those that exist).
pub async fn find_users(conn: &mut AsyncPgConnection, ids: &[i32]) -> QueryResult<Vec<User>> {
    users::table
        .filter(users::id.eq_any(ids))
        .select(User::as_select())
        .load(conn)
        .await
}
