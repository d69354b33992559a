//! `sessions`: cookie logins. Only SHA-256 hashes of the session and CSRF tokens are stored.

use super::User;
use crate::schema::{sessions, users};
use chrono::{DateTime, TimeDelta, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

/// A login session, as stored.
#[derive(Clone, Debug, Queryable, Selectable, Identifiable)]
#[diesel(table_name = sessions)]
pub struct Session {
    /// Primary key.
    pub id: Uuid,
    /// The account logged in.
    pub user_id: Uuid,
    /// SHA-256 of the cookie's token.
    pub token_hash: Vec<u8>,
    /// SHA-256 of the CSRF token handed out at login.
    pub csrf_token_hash: Vec<u8>,
    /// The User-Agent at login (truncated).
    pub user_agent: Option<String>,
    /// A short device label derived from the User-Agent.
    pub device: Option<String>,
    /// The client address at login.
    pub ip: Option<String>,
    /// Login time.
    pub created_at: DateTime<Utc>,
    /// Last request seen, to within [`LAST_SEEN_GRANULARITY`].
    pub last_seen_at: DateTime<Utc>,
    /// After this the session is refused.
    pub expires_at: DateTime<Utc>,
    /// Set by logout or revocation; the session is refused from then on.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// Insert form for [`Session`].
#[derive(Debug, Insertable)]
#[diesel(table_name = sessions)]
pub struct NewSession<'a> {
    /// The account logging in.
    pub user_id: Uuid,
    /// SHA-256 of the cookie's token.
    pub token_hash: &'a [u8],
    /// SHA-256 of the CSRF token.
    pub csrf_token_hash: &'a [u8],
    /// The User-Agent (truncated).
    pub user_agent: Option<&'a str>,
    /// Device label.
    pub device: Option<&'a str>,
    /// Client address.
    pub ip: Option<&'a str>,
    /// Login time.
    pub created_at: DateTime<Utc>,
    /// Initial last activity (the login time).
    pub last_seen_at: DateTime<Utc>,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
}

/// `last_seen_at` is written at most this often per session, not on every request.
pub const LAST_SEEN_GRANULARITY: TimeDelta = TimeDelta::minutes(1);

impl Session {
    /// Inserts a session.
    pub async fn create(conn: &mut AsyncPgConnection, new: &NewSession<'_>) -> QueryResult<Self> {
        diesel::insert_into(sessions::table).values(new).returning(Self::as_returning()).get_result(conn).await
    }

    /// The session whose token hashes to `token_hash`, with its user, if it is neither
    /// revoked nor expired at `now`.
    pub async fn live_by_token_hash(
        conn: &mut AsyncPgConnection,
        token_hash: &[u8],
        now: DateTime<Utc>,
    ) -> QueryResult<Option<(Self, User)>> {
        sessions::table
            .inner_join(users::table)
            .filter(sessions::token_hash.eq(token_hash))
            .filter(sessions::revoked_at.is_null())
            .filter(sessions::expires_at.gt(now))
            .select((Self::as_select(), User::as_select()))
            .first(conn)
            .await
            .optional()
    }

    /// Records activity at `now` unless it was recorded less than [`LAST_SEEN_GRANULARITY`]
    /// ago; the condition is in the query, so concurrent requests write at most once.
    pub async fn touch(conn: &mut AsyncPgConnection, id: Uuid, now: DateTime<Utc>) -> QueryResult<bool> {
        diesel::update(sessions::table.find(id))
            .filter(sessions::last_seen_at.le(now - LAST_SEEN_GRANULARITY))
            .set(sessions::last_seen_at.eq(now))
            .execute(conn)
            .await
            .map(|n| n > 0)
    }

    /// A user's live sessions at `now`, newest first, one page, with the total count.
    pub async fn live_for_user(
        conn: &mut AsyncPgConnection,
        user_id: Uuid,
        now: DateTime<Utc>,
        offset: i64,
        limit: i64,
    ) -> QueryResult<(Vec<Self>, i64)> {
        let live = || {
            sessions::table
                .filter(sessions::user_id.eq(user_id))
                .filter(sessions::revoked_at.is_null())
                .filter(sessions::expires_at.gt(now))
        };
        let total = live().count().get_result(conn).await?;
        let items = live()
            .order((sessions::created_at.desc(), sessions::id))
            .offset(offset)
            .limit(limit)
            .select(Self::as_select())
            .load(conn)
            .await?;
        Ok((items, total))
    }

    /// Revokes one of `user_id`'s live sessions; returns whether there was one to revoke
    /// (another user's session id counts as none).
    pub async fn revoke(
        conn: &mut AsyncPgConnection,
        user_id: Uuid,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> QueryResult<bool> {
        diesel::update(sessions::table.find(id))
            .filter(sessions::user_id.eq(user_id))
            .filter(sessions::revoked_at.is_null())
            .set(sessions::revoked_at.eq(now))
            .execute(conn)
            .await
            .map(|n| n > 0)
    }

    /// Revokes all of `user_id`'s live sessions except `keep` (the caller's own, when it has
    /// one); returns how many were revoked.
    pub async fn revoke_all_except(
        conn: &mut AsyncPgConnection,
        user_id: Uuid,
        keep: Option<Uuid>,
        now: DateTime<Utc>,
    ) -> QueryResult<usize> {
        let live = sessions::table
            .filter(sessions::user_id.eq(user_id))
            .filter(sessions::revoked_at.is_null())
            .filter(sessions::expires_at.gt(now));
        match keep {
            Some(keep) => {
                diesel::update(live.filter(sessions::id.ne(keep))).set(sessions::revoked_at.eq(now)).execute(conn).await
            }
            None => diesel::update(live).set(sessions::revoked_at.eq(now)).execute(conn).await,
        }
    }
}
