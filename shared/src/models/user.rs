//! `users`: account holders.

use crate::schema::users;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

/// An account.
#[derive(Clone, Debug, Queryable, Selectable, Identifiable)]
#[diesel(table_name = users)]
pub struct User {
    /// Primary key.
    pub id: Uuid,
    /// Login and contact address, lower-cased.
    pub email: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// A disabled account's aliases receive nothing.
    pub disabled: bool,
    /// Row creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// When the owner proved the address receives mail; `None` until then.
    pub email_verified_at: Option<DateTime<Utc>>,
}

/// Insert form for [`User`].
#[derive(Debug, Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    /// Lower-cased email.
    pub email: &'a str,
    /// argon2id PHC string.
    pub password_hash: &'a str,
}

impl User {
    /// Inserts a user.
    pub async fn create(conn: &mut AsyncPgConnection, new: &NewUser<'_>) -> QueryResult<Self> {
        diesel::insert_into(users::table).values(new).returning(Self::as_returning()).get_result(conn).await
    }

    /// Finds a user by (lower-cased) email.
    pub async fn by_email(conn: &mut AsyncPgConnection, email: &str) -> QueryResult<Option<Self>> {
        users::table.filter(users::email.eq(email)).select(Self::as_select()).first(conn).await.optional()
    }

    /// All users, by email.
    pub async fn list(conn: &mut AsyncPgConnection) -> QueryResult<Vec<Self>> {
        users::table.order(users::email).select(Self::as_select()).load(conn).await
    }

    /// Enables or disables an account; returns whether it existed.
    pub async fn set_disabled(conn: &mut AsyncPgConnection, id: Uuid, disabled: bool) -> QueryResult<bool> {
        diesel::update(users::table.find(id)).set(users::disabled.eq(disabled)).execute(conn).await.map(|n| n > 0)
    }

    /// Marks the account's address verified at `now`, unless it was already (the first proof
    /// is kept); `email` guards against a link mailed to an address the account no longer has.
    pub async fn mark_email_verified(
        conn: &mut AsyncPgConnection,
        id: Uuid,
        email: &str,
        now: DateTime<Utc>,
    ) -> QueryResult<Option<Self>> {
        let updated = diesel::update(users::table.find(id))
            .filter(users::email.eq(email))
            .filter(users::email_verified_at.is_null())
            .set(users::email_verified_at.eq(now))
            .returning(Self::as_returning())
            .get_result(conn)
            .await
            .optional()?;
        match updated {
            Some(user) => Ok(Some(user)),
            None => users::table
                .find(id)
                .filter(users::email.eq(email))
                .select(Self::as_select())
                .first(conn)
                .await
                .optional(),
        }
    }

    /// Replaces the password hash.
    pub async fn set_password_hash(conn: &mut AsyncPgConnection, id: Uuid, password_hash: &str) -> QueryResult<bool> {
        diesel::update(users::table.find(id))
            .set(users::password_hash.eq(password_hash))
            .execute(conn)
            .await
            .map(|n| n > 0)
    }
}
