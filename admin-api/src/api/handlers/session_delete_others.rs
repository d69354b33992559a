//! `DELETE /users/sessions`

use crate::api::{ApiError, ApiState, ErrorBody, activity, auth::Writer, client::ClientInfo};
use actix_web::web;
use chrono::Utc;
use diesel_async::AsyncConnection;
use serde::Serialize;
use serde_json::json;
use smtpy_shared::models::{ActivityAction, Session};
use utoipa::ToSchema;

/// How many sessions were logged out.
#[derive(Debug, Serialize, ToSchema)]
pub struct RevokedSessions {
    /// The number of sessions revoked.
    pub revoked: usize,
}

/// Logs out every session of the caller's account except the one making the request ("log
/// out everywhere else"). With an API key there is no current session: all are logged out.
/// When any were, one `session_revoked` entry with their number goes to the activity log.
#[utoipa::path(delete, path = "/api/v1/users/sessions", tag = "sessions",
    security(("session_cookie" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The other sessions are revoked", body = RevokedSessions),
        (status = 401, description = "Not logged in", body = ErrorBody),
        (status = 403, description = "Missing X-CSRF-Token or read-only key", body = ErrorBody),
    ))]
pub async fn delete_other_sessions(
    client: ClientInfo,
    state: web::Data<ApiState>,
    Writer(caller): Writer,
) -> Result<web::Json<RevokedSessions>, ApiError> {
    let mut conn = state.conn().await?;
    let (user_id, kept) = (caller.user.id, caller.session_id());
    let revoked = state
        .bounded(conn.transaction(async |conn| {
            let revoked = Session::revoke_all_except(conn, user_id, kept, Utc::now()).await?;
            if revoked > 0 {
                let details = json!({"revoked": revoked, "kept_session_id": kept});
                activity::record(conn, user_id, ActivityAction::SessionRevoked, &client, details).await?;
            }
            Ok::<_, diesel::result::Error>(revoked)
        }))
        .await?;
    tracing::info!(user = %caller.user.id, revoked, "other sessions revoked");
    Ok(web::Json(RevokedSessions { revoked }))
}
