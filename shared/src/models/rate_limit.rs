//! `rate_limits`: fixed-window attempt counters that every API instance shares.

use crate::schema::rate_limits;
use chrono::{DateTime, Utc};
use diesel::{prelude::*, upsert::excluded};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

/// Insert form of one counter's first attempt.
#[derive(Debug, Insertable)]
#[diesel(table_name = rate_limits)]
struct NewCounter<'a> {
    bucket: &'a str,
    key: &'a str,
    window_start: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    count: i32,
}

/// The counters of one limit.
pub struct RateLimitCounter;

impl RateLimitCounter {
    /// Counts one attempt for each of `keys` (distinct) in `bucket`'s window starting at
    /// `window_start`, in one statement; returns each key's count including this attempt. The
    /// upsert is atomic, so instances counting the same key at once never lose an attempt.
    pub async fn hit(
        conn: &mut AsyncPgConnection,
        bucket: &str,
        keys: &[&str],
        window_start: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> QueryResult<Vec<(String, i32)>> {
        let rows: Vec<NewCounter<'_>> =
            keys.iter().map(|key| NewCounter { bucket, key, window_start, expires_at, count: 1 }).collect();
        diesel::insert_into(rate_limits::table)
            .values(&rows)
            .on_conflict((rate_limits::bucket, rate_limits::key, rate_limits::window_start))
            .do_update()
            // `excluded.count` is the proposed 1: adding it bumps the stored count.
            .set(rate_limits::count.eq(rate_limits::count + excluded(rate_limits::count)))
            .returning((rate_limits::key, rate_limits::count))
            .get_results(conn)
            .await
    }

    /// Deletes the counters of windows that ended at or before `now`; returns how many.
    pub async fn delete_expired(conn: &mut AsyncPgConnection, now: DateTime<Utc>) -> QueryResult<usize> {
        diesel::delete(rate_limits::table.filter(rate_limits::expires_at.le(now))).execute(conn).await
    }
}
