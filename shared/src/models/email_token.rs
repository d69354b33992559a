//! `email_tokens`: single-use tokens mailed to an owner (address verification, password
//! reset). Only SHA-256 hashes are stored.

use crate::schema::email_tokens;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

/// What a token lets its holder do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenPurpose {
    /// Prove the account's address receives mail.
    VerifyEmail,
    /// Set a new password without the old one.
    PasswordReset,
}

impl TokenPurpose {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::PasswordReset => "password_reset",
        }
    }
}

/// A mailed token, as stored.
#[derive(Clone, Debug, Queryable, Selectable, Identifiable)]
#[diesel(table_name = email_tokens)]
pub struct EmailToken {
    /// Primary key.
    pub id: Uuid,
    /// The account it acts on.
    pub user_id: Uuid,
    /// `verify_email` or `password_reset`.
    pub purpose: String,
    /// SHA-256 of the token.
    pub token_hash: Vec<u8>,
    /// The address it was mailed to.
    pub email: String,
    /// After this the token is refused.
    pub expires_at: DateTime<Utc>,
    /// When it was spent.
    pub used_at: Option<DateTime<Utc>>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// Insert form for [`EmailToken`].
#[derive(Debug, Insertable)]
#[diesel(table_name = email_tokens)]
pub struct NewEmailToken<'a> {
    /// The account.
    pub user_id: Uuid,
    /// [`TokenPurpose::as_str`].
    pub purpose: &'a str,
    /// SHA-256 of the token.
    pub token_hash: &'a [u8],
    /// The address it is mailed to.
    pub email: &'a str,
    /// Creation time (the expiry check compares with it).
    pub created_at: DateTime<Utc>,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
}

impl EmailToken {
    /// Stores a new token, dropping the account's unspent tokens of the same purpose: only the
    /// newest link mailed works, so an old mail lying around grants nothing.
    pub async fn replace(conn: &mut AsyncPgConnection, new: &NewEmailToken<'_>) -> QueryResult<Self> {
        conn.transaction(async |conn| {
            diesel::delete(email_tokens::table)
                .filter(email_tokens::user_id.eq(new.user_id))
                .filter(email_tokens::purpose.eq(new.purpose))
                .filter(email_tokens::used_at.is_null())
                .execute(conn)
                .await?;
            diesel::insert_into(email_tokens::table).values(new).returning(Self::as_returning()).get_result(conn).await
        })
        .await
    }

    /// The token of `purpose` whose hash is `token_hash`, spent or not.
    pub async fn by_hash(
        conn: &mut AsyncPgConnection,
        purpose: TokenPurpose,
        token_hash: &[u8],
    ) -> QueryResult<Option<Self>> {
        email_tokens::table
            .filter(email_tokens::token_hash.eq(token_hash))
            .filter(email_tokens::purpose.eq(purpose.as_str()))
            .select(Self::as_select())
            .first(conn)
            .await
            .optional()
    }

    /// Spends the token if it is unspent and unexpired at `now`, returning it; `None` otherwise.
    /// The condition is in the update, so two concurrent requests cannot both spend it.
    pub async fn spend(
        conn: &mut AsyncPgConnection,
        purpose: TokenPurpose,
        token_hash: &[u8],
        now: DateTime<Utc>,
    ) -> QueryResult<Option<Self>> {
        diesel::update(email_tokens::table)
            .filter(email_tokens::token_hash.eq(token_hash))
            .filter(email_tokens::purpose.eq(purpose.as_str()))
            .filter(email_tokens::used_at.is_null())
            .filter(email_tokens::expires_at.gt(now))
            .set(email_tokens::used_at.eq(now))
            .returning(Self::as_returning())
            .get_result(conn)
            .await
            .optional()
    }
}
