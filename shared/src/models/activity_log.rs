//! `activity_logs`: what happened to an account (logins, keys, sessions, security settings),
//! for its owner to review. Rows are only ever inserted.

use crate::schema::activity_logs;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use std::{fmt, str::FromStr};
use uuid::Uuid;

/// Declares the actions once: the enum, its stored names and the list of all of them.
macro_rules! actions {
    ($($variant:ident => $name:literal, $doc:literal;)*) => {
        /// What happened. The stored and wire name is the snake_case string.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum ActivityAction {
            $(#[doc = $doc] $variant,)*
        }

        impl ActivityAction {
            /// Every action, in declaration order.
            pub const ALL: &[Self] = &[$(Self::$variant),*];

            /// The stored and wire name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)*
                }
            }
        }
    };
}

actions! {
    LoginSucceeded => "login_succeeded", "A password login that opened a session.";
    LoginFailed => "login_failed", "A login to this account refused (wrong password or code, disabled account).";
    Logout => "logout", "A session ended by its own logout.";
    SessionRevoked => "session_revoked", "A session revoked from the session list.";
    ApiKeyCreated => "api_key_created", "An API key created.";
    ApiKeyRevoked => "api_key_revoked", "An API key revoked.";
    PasswordChanged => "password_changed", "The password changed by its owner.";
    PasswordResetRequested => "password_reset_requested", "A password-reset mail requested.";
    PasswordReset => "password_reset", "The password set through a reset link.";
    EmailVerified => "email_verified", "The account's email address verified.";
    TwoFactorEnabled => "two_factor_enabled", "Two-factor authentication turned on.";
    TwoFactorDisabled => "two_factor_disabled", "Two-factor authentication turned off.";
    BackupCodesRegenerated => "backup_codes_regenerated", "New backup codes generated (the old ones stop working).";
    BackupCodeUsed => "backup_code_used", "A backup code used to log in.";
    PreferencesUpdated => "preferences_updated", "Account preferences changed.";
    DeletionRequested => "deletion_requested", "Account deletion requested.";
    DeletionCancelled => "deletion_cancelled", "A pending account deletion cancelled.";
}

impl fmt::Display for ActivityAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ActivityAction {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.iter().copied().find(|a| a.as_str() == s).ok_or_else(|| {
            let names: Vec<&str> = Self::ALL.iter().map(|a| a.as_str()).collect();
            format!("'{s}' is not an action; expected one of {}", names.join(", "))
        })
    }
}

/// An entry, as stored.
#[derive(Clone, Debug, Queryable, Selectable, Identifiable)]
#[diesel(table_name = activity_logs)]
pub struct ActivityLog {
    /// Primary key.
    pub id: Uuid,
    /// The account it concerns.
    pub user_id: Uuid,
    /// The action's stored name (see [`ActivityAction`]).
    pub action: String,
    /// The client address.
    pub ip: Option<String>,
    /// The client's User-Agent (truncated).
    pub user_agent: Option<String>,
    /// What the action concerned, a JSON object.
    pub details: serde_json::Value,
    /// When it happened.
    pub created_at: DateTime<Utc>,
    /// Equal to `created_at`: entries are never changed.
    pub updated_at: DateTime<Utc>,
}

/// Insert form for [`ActivityLog`].
#[derive(Debug, Insertable)]
#[diesel(table_name = activity_logs)]
pub struct NewActivityLog<'a> {
    /// The account it concerns.
    pub user_id: Uuid,
    /// The action's stored name.
    pub action: &'a str,
    /// The client address.
    pub ip: Option<&'a str>,
    /// The User-Agent, at most 512 characters.
    pub user_agent: Option<&'a str>,
    /// A JSON object.
    pub details: &'a serde_json::Value,
}

/// Which entries to read: all bounds optional; `from` inclusive, `to` exclusive.
#[derive(Clone, Debug, Default)]
pub struct ActivityFilter {
    /// Only this action.
    pub action: Option<ActivityAction>,
    /// At or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Before this time.
    pub to: Option<DateTime<Utc>>,
}

type BoxedQuery<'a> = activity_logs::BoxedQuery<'a, diesel::pg::Pg>;

impl ActivityLog {
    /// Inserts an entry.
    pub async fn create(conn: &mut AsyncPgConnection, new: &NewActivityLog<'_>) -> QueryResult<Self> {
        diesel::insert_into(activity_logs::table).values(new).returning(Self::as_returning()).get_result(conn).await
    }

    fn matching(user_id: Uuid, filter: &ActivityFilter) -> BoxedQuery<'static> {
        let mut query = activity_logs::table.filter(activity_logs::user_id.eq(user_id)).into_boxed();
        if let Some(action) = filter.action {
            query = query.filter(activity_logs::action.eq(action.as_str()));
        }
        if let Some(from) = filter.from {
            query = query.filter(activity_logs::created_at.ge(from));
        }
        if let Some(to) = filter.to {
            query = query.filter(activity_logs::created_at.lt(to));
        }
        query
    }

    /// How many of `user_id`'s entries match `filter`.
    pub async fn count_for_user(
        conn: &mut AsyncPgConnection,
        user_id: Uuid,
        filter: &ActivityFilter,
    ) -> QueryResult<i64> {
        Self::matching(user_id, filter).count().get_result(conn).await
    }

    /// One page of `user_id`'s entries matching `filter`, newest first, with the total count.
    pub async fn for_user(
        conn: &mut AsyncPgConnection,
        user_id: Uuid,
        filter: &ActivityFilter,
        offset: i64,
        limit: i64,
    ) -> QueryResult<(Vec<Self>, i64)> {
        let total = Self::count_for_user(conn, user_id, filter).await?;
        let items = Self::matching(user_id, filter)
            .order((activity_logs::created_at.desc(), activity_logs::id.desc()))
            .offset(offset)
            .limit(limit)
            .select(Self::as_select())
            .load(conn)
            .await?;
        Ok((items, total))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::ActivityAction;

    #[test]
    fn every_action_round_trips_through_its_name() {
        for action in ActivityAction::ALL {
            assert_eq!(action.as_str().parse::<ActivityAction>(), Ok(*action));
            // The migration's CHECK: lower-case snake_case, at most 63 characters.
            let name = action.as_str();
            assert!(name.len() < 64 && name.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{name}");
        }
        assert!("LOGIN_FAILED".parse::<ActivityAction>().unwrap_err().contains("login_failed"));
    }
}
