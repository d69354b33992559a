//! Recording what happens to an account in its activity log.
//!
//! An entry is written on the connection that does the action, inside the same transaction
//! when the action writes anything: the action and its entry are committed together or not
//! at all. So a request whose entry cannot be written fails (500) and changes nothing: an owner
//! can rely on the log listing every key created, every session revoked, every login. A
//! refused login changes nothing else; its entry is written on the connection that looked the
//! account up, and if that write fails the caller gets 500 rather than the 401.

use super::client::ClientInfo;
use diesel::QueryResult;
use diesel_async::AsyncPgConnection;
use serde_json::Value;
use smtpy_shared::models::{ActivityAction, ActivityLog, NewActivityLog};
use uuid::Uuid;

/// Records `action` on `user_id`'s account, done by `client`; `details` is a JSON object
/// (`json!({"key_id": id})`), `Value::Null` for none.
pub async fn record(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    action: ActivityAction,
    client: &ClientInfo,
    details: Value,
) -> QueryResult<()> {
    let details = if details.is_null() { Value::Object(Default::default()) } else { details };
    let ip = client.ip_string();
    let new = NewActivityLog {
        user_id,
        action: action.as_str(),
        ip: ip.as_deref(),
        user_agent: client.user_agent.as_deref(),
        details: &details,
    };
    ActivityLog::create(conn, &new).await?;
    Ok(())
}
