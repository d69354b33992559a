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
    /// When the owner asked for the account to be deleted; `None` when no deletion is pending.
    pub deletion_requested_at: Option<DateTime<Utc>>,
    /// When the pending deletion becomes due (the end of the grace period).
    pub deletion_scheduled_at: Option<DateTime<Utc>>,
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

    /// Replaces the account's password hash; returns the updated account.
    pub async fn set_password_hash(conn: &mut AsyncPgConnection, id: Uuid, password_hash: &str) -> QueryResult<Self> {
        diesel::update(users::table.find(id))
            .set(users::password_hash.eq(password_hash))
            .returning(Self::as_returning())
            .get_result(conn)
            .await
    }

    /// Records a deletion request made at `requested_at`, due at `scheduled_at`, unless one is
    /// pending already; returns the updated account, or `None` when one was pending.
    pub async fn request_deletion(
        conn: &mut AsyncPgConnection,
        id: Uuid,
        requested_at: DateTime<Utc>,
        scheduled_at: DateTime<Utc>,
    ) -> QueryResult<Option<Self>> {
        diesel::update(users::table.find(id))
            .filter(users::deletion_requested_at.is_null())
            .set((users::deletion_requested_at.eq(requested_at), users::deletion_scheduled_at.eq(scheduled_at)))
            .returning(Self::as_returning())
            .get_result(conn)
            .await
            .optional()
    }

    /// Cancels a pending deletion; returns the updated account, or `None` when none was pending.
    pub async fn cancel_deletion(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<Self>> {
        diesel::update(users::table.find(id))
            .filter(users::deletion_requested_at.is_not_null())
            .set((
                users::deletion_requested_at.eq(None::<DateTime<Utc>>),
                users::deletion_scheduled_at.eq(None::<DateTime<Utc>>),
            ))
            .returning(Self::as_returning())
            .get_result(conn)
            .await
            .optional()
    }
}
