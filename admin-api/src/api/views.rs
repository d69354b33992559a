//! The JSON shapes of requests and responses (field names are a contract: DESIGN.md §4).

use super::ApiError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use smtpy_shared::models::{ActivityAction, ActivityFilter, ActivityLog, ApiKey, ApiKeyScope, Session, User};
use utoipa::{
    IntoParams, ToSchema,
    openapi::schema::{Object, ObjectBuilder, Type},
};
use uuid::Uuid;

/// An account, as its owner sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    /// The account's id.
    pub id: Uuid,
    /// Login and contact address.
    pub email: String,
    /// Whether login needs a TOTP or backup code.
    pub two_factor_enabled: bool,
    /// When the account will be deleted, if its owner asked for that (cancel with
    /// `DELETE /users/me/deletion` until then).
    pub deletion_scheduled_at: Option<DateTime<Utc>>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Whether the owner followed the verification link mailed to `email`.
    pub email_verified: bool,
}

impl UserView {
    /// The view of `u`, whose two-factor login is on or off as `two_factor_enabled` says.
    pub fn new(u: &User, two_factor_enabled: bool) -> Self {
        Self {
            id: u.id,
            email: u.email.clone(),
            two_factor_enabled,
            deletion_scheduled_at: u.deletion_scheduled_at,
            created_at: u.created_at,
            updated_at: u.updated_at,
            email_verified: u.email_verified_at.is_some(),
        }
    }
}

/// A plain acknowledgement, for requests whose effect is a mail.
#[derive(Debug, Serialize, ToSchema)]
pub struct Notice {
    /// What happens next.
    pub message: String,
}

/// `?page=&per_page=` of every list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1-based page number (default 1).
    #[param(minimum = 1)]
    pub page: Option<u32>,
    /// Items per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub per_page: Option<u32>,
}

impl PageQuery {
    /// (page, per_page, offset), validated.
    pub fn resolve(&self) -> Result<(u32, u32, i64), ApiError> {
        let page = self.page.unwrap_or(1);
        let per_page = self.per_page.unwrap_or(50);
        if page == 0 {
            return Err(ApiError::InvalidInput("page starts at 1".to_owned()));
        }
        if !(1..=200).contains(&per_page) {
            return Err(ApiError::InvalidInput("per_page must be between 1 and 200".to_owned()));
        }
        Ok((page, per_page, i64::from(page - 1) * i64::from(per_page)))
    }
}

/// What an API key may do.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// GET requests only.
    Read,
    /// Everything the owner may do.
    Full,
}

impl From<Scope> for ApiKeyScope {
    fn from(s: Scope) -> Self {
        match s {
            Scope::Read => Self::Read,
            Scope::Full => Self::Full,
        }
    }
}

impl From<ApiKeyScope> for Scope {
    fn from(s: ApiKeyScope) -> Self {
        match s {
            ApiKeyScope::Read => Self::Read,
            ApiKeyScope::Full => Self::Full,
        }
    }
}

/// An API key in lists: never the key itself.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyView {
    /// The key's id.
    pub id: Uuid,
    /// The owner's label.
    pub name: String,
    /// The first 8 characters after `smtpy_sk_`.
    pub prefix: String,
    /// `read` or `full`.
    pub scope: Scope,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Last use, to within a minute.
    pub last_used_at: Option<DateTime<Utc>>,
    /// Expiry, if any.
    pub expires_at: Option<DateTime<Utc>>,
}

impl From<&ApiKey> for ApiKeyView {
    fn from(k: &ApiKey) -> Self {
        Self {
            id: k.id,
            name: k.name.clone(),
            prefix: k.prefix.clone(),
            scope: k.scope().into(),
            created_at: k.created_at,
            updated_at: k.updated_at,
            last_used_at: k.last_used_at,
            expires_at: k.expires_at,
        }
    }
}

/// A page of API keys.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyList {
    /// The keys.
    pub items: Vec<ApiKeyView>,
    /// How many there are in all.
    pub total: i64,
    /// This page's number.
    pub page: u32,
    /// Page size.
    pub per_page: u32,
}

/// A live session.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    /// The session's id.
    pub id: Uuid,
    /// Device label derived from the User-Agent.
    pub device: Option<String>,
    /// The User-Agent at login.
    pub user_agent: Option<String>,
    /// The client address at login.
    pub ip: Option<String>,
    /// Whether this is the session making the request.
    pub current: bool,
    /// Login time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Last activity, to within a minute.
    pub last_seen_at: DateTime<Utc>,
    /// When it ends unless revoked first.
    pub expires_at: DateTime<Utc>,
}

impl SessionView {
    /// The view of `s`, marking it current when it is the caller's.
    pub fn new(s: &Session, current: Option<Uuid>) -> Self {
        Self {
            id: s.id,
            device: s.device.clone(),
            user_agent: s.user_agent.clone(),
            ip: s.ip.clone(),
            current: current == Some(s.id),
            created_at: s.created_at,
            updated_at: s.updated_at,
            last_seen_at: s.last_seen_at,
            expires_at: s.expires_at,
        }
    }
}

/// A page of sessions.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionList {
    /// The sessions.
    pub items: Vec<SessionView>,
    /// How many there are in all.
    pub total: i64,
    /// This page's number.
    pub page: u32,
    /// Page size.
    pub per_page: u32,
}

/// One activity-log entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActivityLogView {
    /// The entry's id.
    pub id: Uuid,
    /// What happened: `login_succeeded`, `login_failed`, `logout`, `session_revoked`,
    /// `api_key_created`, `api_key_revoked`, `password_changed`, `two_factor_enabled`, ...
    #[schema(schema_with = action_schema)]
    pub action: String,
    /// The client address.
    pub ip: Option<String>,
    /// The client's User-Agent.
    pub user_agent: Option<String>,
    /// What it concerned (a key's id and name, a session's id, a failure's reason).
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    /// When it happened.
    pub created_at: DateTime<Utc>,
    /// Equal to `created_at`: entries never change.
    pub updated_at: DateTime<Utc>,
}

impl From<&ActivityLog> for ActivityLogView {
    fn from(a: &ActivityLog) -> Self {
        Self {
            id: a.id,
            action: a.action.clone(),
            ip: a.ip.clone(),
            user_agent: a.user_agent.clone(),
            details: a.details.clone(),
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }
}

/// A page of activity-log entries.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActivityLogList {
    /// The entries, newest first.
    pub items: Vec<ActivityLogView>,
    /// How many match in all.
    pub total: i64,
    /// This page's number.
    pub page: u32,
    /// Page size.
    pub per_page: u32,
}

/// The actions as strings, in the document's order.
fn action_names() -> impl Iterator<Item = serde_json::Value> {
    ActivityAction::ALL.iter().map(|a| serde_json::Value::from(a.as_str()))
}

/// `action` of an activity-log entry: one of the actions.
fn action_schema() -> Object {
    ObjectBuilder::new().schema_type(Type::String).enum_values(Some(action_names())).build()
}

/// The `action` filter: one of the actions, or empty for all of them (a form's blank field).
fn action_filter_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(action_names().chain([String::new().into()])))
        .build()
}

/// `?action=&from=&to=` of the activity log.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ActivityQuery {
    /// Only this action (e.g. `login_failed`); empty: every action.
    #[param(schema_with = action_filter_schema)]
    pub action: Option<String>,
    /// RFC 3339 time: entries at or after it.
    #[param(format = DateTime)]
    pub from: Option<String>,
    /// RFC 3339 time: entries before it.
    #[param(format = DateTime)]
    pub to: Option<String>,
}

impl ActivityQuery {
    /// The validated filter.
    pub fn filter(&self) -> Result<ActivityFilter, ApiError> {
        let action = match self.action.as_deref().filter(|a| !a.is_empty()) {
            Some(a) => Some(a.parse::<ActivityAction>().map_err(|e| ApiError::InvalidInput(format!("action: {e}")))?),
            None => None,
        };
        let from = self.from.as_deref().map(|t| rfc3339("from", t)).transpose()?;
        let to = self.to.as_deref().map(|t| rfc3339("to", t)).transpose()?;
        if let (Some(from), Some(to)) = (from, to)
            && from > to
        {
            return Err(ApiError::InvalidInput("from must not be after to".to_owned()));
        }
        Ok(ActivityFilter { action, from, to })
    }
}

/// Parses an RFC 3339 time. A `+` offset sent unencoded arrives as a space (form encoding);
/// it is read back as the `+` the caller meant.
fn rfc3339(name: &str, value: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(value.trim())
        .or_else(|e| if value.contains(' ') { DateTime::parse_from_rfc3339(&value.replace(' ', "+")) } else { Err(e) })
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            ApiError::InvalidInput(format!(
                "{name}: '{value}' is not an RFC 3339 time ({e}), e.g. 2026-11-26T10:00:00Z"
            ))
        })
}
