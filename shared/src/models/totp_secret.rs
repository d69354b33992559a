//! `totp_secrets`: each account's TOTP secret (RFC 6238), sealed at rest, pending until a
//! first code from it is seen.

use crate::schema::totp_secrets;
use chrono::{DateTime, Utc};
use diesel::{prelude::*, upsert::excluded};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

/// An account's TOTP secret, as stored.
#[derive(Clone, Debug, Queryable, Selectable, Identifiable)]
#[diesel(table_name = totp_secrets)]
pub struct TotpSecret {
    /// Primary key.
    pub id: Uuid,
    /// The account.
    pub user_id: Uuid,
    /// The secret, sealed for [`TotpSecret::seal_context`].
    pub secret_sealed: String,
    /// When a first code confirmed it; `None` while pending.
    pub confirmed_at: Option<DateTime<Utc>>,
    /// The last time step a code was accepted for.
    pub last_used_step: Option<i64>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl TotpSecret {
    /// The sealing context of `user_id`'s secret: a sealed secret copied to another account
    /// (or into another table) does not open there.
    pub fn seal_context(user_id: Uuid) -> String {
        format!("totp:{user_id}")
    }

    /// Whether two-factor login is on (the secret is confirmed).
    pub fn is_confirmed(&self) -> bool {
        self.confirmed_at.is_some()
    }

    /// `user_id`'s secret, pending or confirmed.
    pub async fn for_user(conn: &mut AsyncPgConnection, user_id: Uuid) -> QueryResult<Option<Self>> {
        totp_secrets::table
            .filter(totp_secrets::user_id.eq(user_id))
            .select(Self::as_select())
            .first(conn)
            .await
            .optional()
    }

    /// Stores `secret_sealed` as `user_id`'s pending secret, replacing a pending one; returns
    /// `None` (and changes nothing) when a confirmed secret exists.
    pub async fn store_pending(
        conn: &mut AsyncPgConnection,
        user_id: Uuid,
        secret_sealed: &str,
    ) -> QueryResult<Option<Self>> {
        // `ON CONFLICT ... DO UPDATE ... WHERE` takes its condition through `FilterDsl`, which
        // the prelude does not bring in (it would clash with `QueryDsl::filter` elsewhere).
        use diesel::query_dsl::methods::FilterDsl as _;
        diesel::insert_into(totp_secrets::table)
            .values((totp_secrets::user_id.eq(user_id), totp_secrets::secret_sealed.eq(secret_sealed)))
            .on_conflict(totp_secrets::user_id)
            .do_update()
            .set((
                totp_secrets::secret_sealed.eq(excluded(totp_secrets::secret_sealed)),
                totp_secrets::last_used_step.eq(None::<i64>),
            ))
            .filter(totp_secrets::confirmed_at.is_null())
            .returning(Self::as_returning())
            .get_result(conn)
            .await
            .optional()
    }

    /// Confirms the pending secret `pending` with a code of time step `step`, which is spent;
    /// returns false when it is no longer pending or was replaced meanwhile (by another
    /// enable), so a code is never taken as proof for a secret it was not checked against.
    pub async fn confirm(
        conn: &mut AsyncPgConnection,
        pending: &Self,
        step: i64,
        now: DateTime<Utc>,
    ) -> QueryResult<bool> {
        diesel::update(totp_secrets::table.find(pending.id))
            .filter(totp_secrets::secret_sealed.eq(&pending.secret_sealed))
            .filter(totp_secrets::confirmed_at.is_null())
            .set((totp_secrets::confirmed_at.eq(now), totp_secrets::last_used_step.eq(step)))
            .execute(conn)
            .await
            .map(|n| n > 0)
    }

    /// Spends time step `step` of `user_id`'s confirmed secret: true when no code of this step
    /// or a later one was accepted before. The check is in the query, so two requests racing
    /// with the same code cannot both win.
    pub async fn spend_step(conn: &mut AsyncPgConnection, user_id: Uuid, step: i64) -> QueryResult<bool> {
        diesel::update(totp_secrets::table)
            .filter(totp_secrets::user_id.eq(user_id))
            .filter(totp_secrets::confirmed_at.is_not_null())
            .filter(totp_secrets::last_used_step.is_null().or(totp_secrets::last_used_step.lt(step)))
            .set(totp_secrets::last_used_step.eq(step))
            .execute(conn)
            .await
            .map(|n| n > 0)
    }

    /// Removes `user_id`'s secret; returns whether there was one.
    pub async fn delete_for_user(conn: &mut AsyncPgConnection, user_id: Uuid) -> QueryResult<bool> {
        diesel::delete(totp_secrets::table.filter(totp_secrets::user_id.eq(user_id))).execute(conn).await.map(|n| n > 0)
    }
}
