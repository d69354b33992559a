//! `DELETE /users/sessions`

use crate::api::{ApiError, ApiState, ErrorBody, auth::Writer};
use actix_web::web;
use chrono::Utc;
use serde::Serialize;
use smtpy_shared::models::Session;
use utoipa::ToSchema;

/// How many sessions were logged out.
#[derive(Debug, Serialize, ToSchema)]
pub struct RevokedSessions {
    /// The number of sessions revoked.
    pub revoked: usize,
}

/// Logs out every session of the caller's account except the one making the request ("log
/// out everywhere else"). With an API key there is no current session: all are logged out.
#[utoipa::path(delete, path = "/api/v1/users/sessions", tag = "sessions",
    security(("session_cookie" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The other sessions are revoked", body = RevokedSessions),
        (status = 401, description = "Not logged in", body = ErrorBody),
        (status = 403, description = "Missing X-CSRF-Token or read-only key", body = ErrorBody),
    ))]
pub async fn delete_other_sessions(
    state: web::Data<ApiState>,
    Writer(caller): Writer,
) -> Result<web::Json<RevokedSessions>, ApiError> {
    let mut conn = state.conn().await?;
    let revoked =
        state.bounded(Session::revoke_all_except(&mut conn, caller.user.id, caller.session_id(), Utc::now())).await?;
    tracing::info!(user = %caller.user.id, revoked, "other sessions revoked");
    Ok(web::Json(RevokedSessions { revoked }))
}
