//! `mailboxes`: the real addresses aliases forward to.

use crate::schema::mailboxes;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

/// A target mailbox of one owner.
#[derive(Clone, Debug, Queryable, Selectable, Identifiable)]
#[diesel(table_name = mailboxes)]
pub struct Mailbox {
    /// Primary key.
    pub id: Uuid,
    /// The owning user.
    pub owner_id: Uuid,
    /// Lower-cased address.
    pub address: String,
    /// Only verified mailboxes receive forwards (else we would be an open relay to any address).
    pub verified: bool,
    /// When verification succeeded.
    pub verified_at: Option<DateTime<Utc>>,
    /// Row creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// Insert form for [`Mailbox`].
#[derive(Debug, Insertable)]
#[diesel(table_name = mailboxes)]
pub struct NewMailbox<'a> {
    /// The owning user.
    pub owner_id: Uuid,
    /// Lower-cased address.
    pub address: &'a str,
    /// Whether it starts out verified (sysadmin's `--verified`).
    pub verified: bool,
    /// Set together with `verified`.
    pub verified_at: Option<DateTime<Utc>>,
}

impl Mailbox {
    /// Inserts a mailbox.
    pub async fn create(conn: &mut AsyncPgConnection, new: &NewMailbox<'_>) -> QueryResult<Self> {
        diesel::insert_into(mailboxes::table).values(new).returning(Self::as_returning()).get_result(conn).await
    }

    /// Whether `address` is a verified mailbox of `owner_id`.
    pub async fn is_verified_of(conn: &mut AsyncPgConnection, owner_id: Uuid, address: &str) -> QueryResult<bool> {
        diesel::select(diesel::dsl::exists(
            mailboxes::table
                .filter(mailboxes::owner_id.eq(owner_id))
                .filter(mailboxes::address.eq(address))
                .filter(mailboxes::verified.eq(true)),
        ))
        .get_result(conn)
        .await
    }

    /// The owner's mailboxes with these addresses.
    pub async fn by_addresses(
        conn: &mut AsyncPgConnection,
        owner_id: Uuid,
        addresses: &[String],
    ) -> QueryResult<Vec<Self>> {
        mailboxes::table
            .filter(mailboxes::owner_id.eq(owner_id))
            .filter(mailboxes::address.eq_any(addresses))
            .select(Self::as_select())
            .load(conn)
            .await
    }
}
