//! `known_devices`: the devices (User-Agent label and client address) an account has signed
//! in from, so a sign-in from a new one can be mailed about.

use crate::schema::known_devices;
use chrono::{DateTime, Utc};
use diesel::{PgExpressionMethods, prelude::*};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

/// What a sign-in tells about the device it came from.
#[derive(Clone, Copy, Debug)]
pub struct DeviceSeen<'a> {
    /// The account.
    pub user_id: Uuid,
    /// Device label derived from the User-Agent.
    pub device: Option<&'a str>,
    /// Client address.
    pub ip: Option<&'a str>,
    /// When.
    pub at: DateTime<Utc>,
}

/// How a sign-in's device compares with the account's earlier ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceNovelty {
    /// The account had never signed in before: there is nothing to compare with.
    FirstEver,
    /// Seen before.
    Known,
    /// The account signed in before, but never from this device.
    New,
}

/// Records a sign-in's device and says whether it was new.
pub async fn record_sign_in(conn: &mut AsyncPgConnection, seen: DeviceSeen<'_>) -> QueryResult<DeviceNovelty> {
    conn.transaction(async |conn| {
        let any_before: bool =
            diesel::select(diesel::dsl::exists(known_devices::table.filter(known_devices::user_id.eq(seen.user_id))))
                .get_result(conn)
                .await?;
        let inserted = diesel::insert_into(known_devices::table)
            .values((
                known_devices::user_id.eq(seen.user_id),
                known_devices::device.eq(seen.device),
                known_devices::ip.eq(seen.ip),
                known_devices::first_seen_at.eq(seen.at),
                known_devices::last_seen_at.eq(seen.at),
            ))
            .on_conflict((known_devices::user_id, known_devices::device, known_devices::ip))
            .do_nothing()
            .returning(known_devices::id)
            .get_result::<Uuid>(conn)
            .await
            .optional()?
            .is_some();
        if !inserted {
            // `IS NOT DISTINCT FROM`: an unknown label or address matches the stored NULL.
            diesel::update(known_devices::table)
                .filter(known_devices::user_id.eq(seen.user_id))
                .filter(known_devices::device.is_not_distinct_from(seen.device))
                .filter(known_devices::ip.is_not_distinct_from(seen.ip))
                .set(known_devices::last_seen_at.eq(seen.at))
                .execute(conn)
                .await?;
        }
        Ok(match (any_before, inserted) {
            (false, _) => DeviceNovelty::FirstEver,
            (true, false) => DeviceNovelty::Known,
            (true, true) => DeviceNovelty::New,
        })
    })
    .await
}
