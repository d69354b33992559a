//! `POST /auth/logout`

use crate::api::{
    ApiError, ApiState, ErrorBody, activity,
    auth::{SESSION_COOKIE, Writer},
    client::ClientInfo,
};
use actix_web::{HttpResponse, cookie::Cookie, web};
use chrono::Utc;
use diesel_async::AsyncConnection;
use serde_json::json;
use smtpy_shared::models::{ActivityAction, Session};

/// Ends the cookie session making the request and clears the cookie. With an API key there is
/// no session to end and nothing happens (revoke a key with `DELETE /users/api-keys/{id}`).
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    security(("session_cookie" = []), ("api_key" = [])),
    responses(
        (status = 204, description = "Logged out"),
        (status = 401, description = "Not logged in", body = ErrorBody),
        (status = 403, description = "Missing X-CSRF-Token or read-only key", body = ErrorBody),
    ))]
pub async fn logout(
    state: web::Data<ApiState>,
    Writer(caller): Writer,
    client: ClientInfo,
) -> Result<HttpResponse, ApiError> {
    if let Some(session_id) = caller.session_id() {
        let mut conn = state.conn().await?;
        let user_id = caller.user.id;
        state
            .bounded(conn.transaction(async |conn| {
                if Session::revoke(conn, user_id, session_id, Utc::now()).await? {
                    let details = json!({"session_id": session_id});
                    activity::record(conn, user_id, ActivityAction::Logout, &client, details).await?;
                }
                Ok::<_, diesel::result::Error>(())
            }))
            .await?;
    }
    let mut gone = Cookie::build(SESSION_COOKIE, "").path("/api").finish();
    gone.make_removal();
    Ok(HttpResponse::NoContent().cookie(gone).finish())
}
