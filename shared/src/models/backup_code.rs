//! `backup_codes`: single-use codes that stand in for a TOTP code. Only SHA-256 hashes are
//! stored.

use crate::schema::backup_codes;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

/// One backup code, as stored.
#[derive(Clone, Debug, Queryable, Selectable, Identifiable)]
#[diesel(table_name = backup_codes)]
pub struct BackupCode {
    /// Primary key.
    pub id: Uuid,
    /// The account.
    pub user_id: Uuid,
    /// SHA-256 of the normalised code.
    pub code_hash: Vec<u8>,
    /// When it was spent; refused from then on.
    pub used_at: Option<DateTime<Utc>>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl BackupCode {
    /// Replaces all of `user_id`'s codes with `hashes`: the old ones stop working. Run it in a
    /// transaction so that no moment exists with neither set.
    pub async fn replace_all(conn: &mut AsyncPgConnection, user_id: Uuid, hashes: &[[u8; 32]]) -> QueryResult<()> {
        Self::delete_for_user(conn, user_id).await?;
        let rows: Vec<_> = hashes
            .iter()
            .map(|h| (backup_codes::user_id.eq(user_id), backup_codes::code_hash.eq(h.as_slice())))
            .collect();
        diesel::insert_into(backup_codes::table).values(&rows).execute(conn).await?;
        Ok(())
    }

    /// Spends `user_id`'s unused code hashing to `code_hash`; returns whether there was one.
    /// The check is in the query, so a code cannot be spent twice by racing requests.
    pub async fn spend(
        conn: &mut AsyncPgConnection,
        user_id: Uuid,
        code_hash: &[u8],
        now: DateTime<Utc>,
    ) -> QueryResult<bool> {
        diesel::update(backup_codes::table)
            .filter(backup_codes::user_id.eq(user_id))
            .filter(backup_codes::code_hash.eq(code_hash))
            .filter(backup_codes::used_at.is_null())
            .set(backup_codes::used_at.eq(now))
            .execute(conn)
            .await
            .map(|n| n > 0)
    }

    /// Removes all of `user_id`'s codes.
    pub async fn delete_for_user(conn: &mut AsyncPgConnection, user_id: Uuid) -> QueryResult<usize> {
        diesel::delete(backup_codes::table.filter(backup_codes::user_id.eq(user_id))).execute(conn).await
    }
}
