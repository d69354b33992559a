//! `user_preferences`: what mail an owner wants and how the web UI looks. No row means the
//! defaults of [`Preferences::default`].

use crate::schema::user_preferences;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

/// An owner's preferences, without the row's bookkeeping.
#[derive(Clone, Debug, PartialEq, Eq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = user_preferences)]
pub struct Preferences {
    /// Mail about events on the account (bounces, quarantined mail).
    pub email_notifications: bool,
    /// News about the service.
    pub marketing_emails: bool,
    /// Mail about sign-ins from new devices.
    pub security_alerts: bool,
    /// A weekly summary of forwarded mail.
    pub weekly_reports: bool,
    /// `light`, `dark` or `auto`.
    pub theme: String,
    /// A short language tag such as `en` or `pt-BR`.
    pub language: String,
}

impl Default for Preferences {
    /// The same defaults as the table's column defaults.
    fn default() -> Self {
        Self {
            email_notifications: true,
            marketing_emails: false,
            security_alerts: true,
            weekly_reports: false,
            theme: "auto".to_owned(),
            language: "en".to_owned(),
        }
    }
}

impl Preferences {
    /// `user_id`'s preferences, or the defaults when none were saved.
    pub async fn for_user(conn: &mut AsyncPgConnection, user_id: Uuid) -> QueryResult<Self> {
        let saved = user_preferences::table
            .filter(user_preferences::user_id.eq(user_id))
            .select(Self::as_select())
            .first(conn)
            .await
            .optional()?;
        Ok(saved.unwrap_or_default())
    }

    /// Saves `user_id`'s preferences (insert or update) and returns them as stored.
    pub async fn save(conn: &mut AsyncPgConnection, user_id: Uuid, prefs: &Self) -> QueryResult<Self> {
        diesel::insert_into(user_preferences::table)
            .values((user_preferences::user_id.eq(user_id), prefs))
            .on_conflict(user_preferences::user_id)
            .do_update()
            .set(prefs)
            .returning(Self::as_returning())
            .get_result(conn)
            .await
    }
}
