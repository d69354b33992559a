//! `invitations`: single-use codes that let someone register when registration is
//! invite-only. Only SHA-256 hashes of the codes are stored.

use crate::schema::invitations;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

/// An invitation, as stored.
#[derive(Clone, Debug, Queryable, Selectable, Identifiable)]
#[diesel(table_name = invitations)]
pub struct Invitation {
    /// Primary key.
    pub id: Uuid,
    /// SHA-256 of the code.
    pub code_hash: Vec<u8>,
    /// When set, only this (lower-cased) address may register with it.
    pub email: Option<String>,
    /// After this the code is refused.
    pub expires_at: DateTime<Utc>,
    /// When it was spent.
    pub used_at: Option<DateTime<Utc>>,
    /// The account registered with it.
    pub used_by: Option<Uuid>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// Insert form for [`Invitation`].
#[derive(Debug, Insertable)]
#[diesel(table_name = invitations)]
pub struct NewInvitation<'a> {
    /// SHA-256 of the code.
    pub code_hash: &'a [u8],
    /// The only address that may use it, lower-cased.
    pub email: Option<&'a str>,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
}

impl Invitation {
    /// Inserts an invitation.
    pub async fn create(conn: &mut AsyncPgConnection, new: &NewInvitation<'_>) -> QueryResult<Self> {
        diesel::insert_into(invitations::table).values(new).returning(Self::as_returning()).get_result(conn).await
    }

    /// The invitation whose code hashes to `code_hash`, locked until the transaction ends so
    /// that two registrations cannot both spend it.
    pub async fn by_code_hash_for_update(conn: &mut AsyncPgConnection, code_hash: &[u8]) -> QueryResult<Option<Self>> {
        invitations::table
            .filter(invitations::code_hash.eq(code_hash))
            .select(Self::as_select())
            .for_update()
            .first(conn)
            .await
            .optional()
    }

    /// Marks an unused invitation spent by `user_id`; returns whether it was unused.
    pub async fn spend(conn: &mut AsyncPgConnection, id: Uuid, user_id: Uuid, now: DateTime<Utc>) -> QueryResult<bool> {
        diesel::update(invitations::table.find(id))
            .filter(invitations::used_at.is_null())
            .set((invitations::used_at.eq(now), invitations::used_by.eq(user_id)))
            .execute(conn)
            .await
            .map(|n| n > 0)
    }
}
