//! `api_keys`: bearer keys (`smtpy_sk_...`) for scripts. Only a SHA-256 hash is stored.

use super::User;
use crate::schema::{api_keys, users};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

/// What a key may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApiKeyScope {
    /// Safe methods only (GET/HEAD).
    Read,
    /// Everything the owner may do.
    Full,
}

impl ApiKeyScope {
    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Full => "full",
        }
    }

    /// Parses the stored name; anything unknown is treated as the least powerful scope.
    pub fn from_stored(s: &str) -> Self {
        if s == "full" { Self::Full } else { Self::Read }
    }
}

/// An API key, as stored.
#[derive(Clone, Debug, Queryable, Selectable, Identifiable)]
#[diesel(table_name = api_keys)]
pub struct ApiKey {
    /// Primary key.
    pub id: Uuid,
    /// The owner.
    pub user_id: Uuid,
    /// The owner's label.
    pub name: String,
    /// First 8 characters of the key's random part.
    pub prefix: String,
    /// SHA-256 of the whole key.
    pub key_hash: Vec<u8>,
    /// `read` or `full`.
    pub scope: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Last request authenticated with it.
    pub last_used_at: Option<DateTime<Utc>>,
    /// After this the key is refused.
    pub expires_at: Option<DateTime<Utc>>,
    /// Set when revoked; refused from then on.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Insert form for [`ApiKey`].
#[derive(Debug, Insertable)]
#[diesel(table_name = api_keys)]
pub struct NewApiKey<'a> {
    /// The owner.
    pub user_id: Uuid,
    /// The owner's label.
    pub name: &'a str,
    /// First 8 characters of the key's random part.
    pub prefix: &'a str,
    /// SHA-256 of the whole key.
    pub key_hash: &'a [u8],
    /// `read` or `full`.
    pub scope: &'a str,
    /// Optional expiry.
    pub expires_at: Option<DateTime<Utc>>,
}

/// `last_used_at` is written at most this often per key.
pub const LAST_USED_GRANULARITY: chrono::TimeDelta = chrono::TimeDelta::minutes(1);

impl ApiKey {
    /// The key's scope.
    pub fn scope(&self) -> ApiKeyScope {
        ApiKeyScope::from_stored(&self.scope)
    }

    /// Inserts a key.
    pub async fn create(conn: &mut AsyncPgConnection, new: &NewApiKey<'_>) -> QueryResult<Self> {
        diesel::insert_into(api_keys::table).values(new).returning(Self::as_returning()).get_result(conn).await
    }

    /// The key hashing to `key_hash`, with its user, if neither revoked nor expired at `now`.
    pub async fn live_by_hash(
        conn: &mut AsyncPgConnection,
        key_hash: &[u8],
        now: DateTime<Utc>,
    ) -> QueryResult<Option<(Self, User)>> {
        api_keys::table
            .inner_join(users::table)
            .filter(api_keys::key_hash.eq(key_hash))
            .filter(api_keys::revoked_at.is_null())
            .filter(api_keys::expires_at.is_null().or(api_keys::expires_at.gt(now)))
            .select((Self::as_select(), User::as_select()))
            .first(conn)
            .await
            .optional()
    }

    /// Records use at `now`, at most once per [`LAST_USED_GRANULARITY`].
    pub async fn touch(conn: &mut AsyncPgConnection, id: Uuid, now: DateTime<Utc>) -> QueryResult<bool> {
        diesel::update(api_keys::table.find(id))
            .filter(api_keys::last_used_at.is_null().or(api_keys::last_used_at.le(now - LAST_USED_GRANULARITY)))
            .set(api_keys::last_used_at.eq(now))
            .execute(conn)
            .await
            .map(|n| n > 0)
    }

    /// A user's unrevoked keys, newest first, one page, with the total count.
    pub async fn unrevoked_for_user(
        conn: &mut AsyncPgConnection,
        user_id: Uuid,
        offset: i64,
        limit: i64,
    ) -> QueryResult<(Vec<Self>, i64)> {
        let unrevoked = || api_keys::table.filter(api_keys::user_id.eq(user_id)).filter(api_keys::revoked_at.is_null());
        let total = unrevoked().count().get_result(conn).await?;
        let items = unrevoked()
            .order((api_keys::created_at.desc(), api_keys::id))
            .offset(offset)
            .limit(limit)
            .select(Self::as_select())
            .load(conn)
            .await?;
        Ok((items, total))
    }

    /// Revokes one of `user_id`'s keys; returns whether there was one to revoke (another
    /// user's key id counts as none).
    pub async fn revoke(
        conn: &mut AsyncPgConnection,
        user_id: Uuid,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> QueryResult<bool> {
        diesel::update(api_keys::table.find(id))
            .filter(api_keys::user_id.eq(user_id))
            .filter(api_keys::revoked_at.is_null())
            .set(api_keys::revoked_at.eq(now))
            .execute(conn)
            .await
            .map(|n| n > 0)
    }
}
