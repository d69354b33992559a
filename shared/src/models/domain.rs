//! `domains`: hosted domains.

use crate::schema::domains;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

/// A domain whose mail we receive.
#[derive(Clone, Debug, Queryable, Selectable, Identifiable)]
#[diesel(table_name = domains)]
pub struct Domain {
    /// Primary key.
    pub id: Uuid,
    /// The owning user.
    pub owner_id: Uuid,
    /// Lower-cased domain name.
    pub name: String,
    /// Only verified domains forward mail; others are answered `550 5.1.1`.
    pub verified: bool,
    /// When verification succeeded.
    pub verified_at: Option<DateTime<Utc>>,
    /// Row creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// Insert form for [`Domain`].
#[derive(Debug, Insertable)]
#[diesel(table_name = domains)]
pub struct NewDomain<'a> {
    /// The owning user.
    pub owner_id: Uuid,
    /// Lower-cased domain name.
    pub name: &'a str,
    /// Whether it starts out verified (sysadmin's `--verified`).
    pub verified: bool,
    /// Set together with `verified`.
    pub verified_at: Option<DateTime<Utc>>,
}

impl Domain {
    /// Inserts a domain.
    pub async fn create(conn: &mut AsyncPgConnection, new: &NewDomain<'_>) -> QueryResult<Self> {
        diesel::insert_into(domains::table).values(new).returning(Self::as_returning()).get_result(conn).await
    }

    /// Finds a domain by its (lower-cased) name.
    pub async fn by_name(conn: &mut AsyncPgConnection, name: &str) -> QueryResult<Option<Self>> {
        domains::table.filter(domains::name.eq(name)).select(Self::as_select()).first(conn).await.optional()
    }

    /// All domains, by name.
    pub async fn list(conn: &mut AsyncPgConnection) -> QueryResult<Vec<Self>> {
        domains::table.order(domains::name).select(Self::as_select()).load(conn).await
    }

    /// Marks a domain verified now.
    pub async fn mark_verified(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<bool> {
        diesel::update(domains::table.find(id))
            .set((domains::verified.eq(true), domains::verified_at.eq(diesel::dsl::now)))
            .execute(conn)
            .await
            .map(|n| n > 0)
    }
}
