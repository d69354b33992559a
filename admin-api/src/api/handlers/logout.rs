//! `POST /auth/logout`

use crate::api::{ApiError, ApiState, ErrorBody, auth::SESSION_COOKIE, auth::Writer};
use actix_web::{HttpResponse, cookie::Cookie, web};
use chrono::Utc;
use smtpy_shared::models::Session;

/// Ends the cookie session making the request and clears the cookie. With an API key there is
/// no session to end and nothing happens (revoke a key with `DELETE /users/api-keys/{id}`).
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    security(("session_cookie" = []), ("api_key" = [])),
    responses(
        (status = 204, description = "Logged out"),
        (status = 401, description = "Not logged in", body = ErrorBody),
        (status = 403, description = "Missing X-CSRF-Token or read-only key", body = ErrorBody),
    ))]
pub async fn logout(state: web::Data<ApiState>, Writer(caller): Writer) -> Result<HttpResponse, ApiError> {
    if let Some(session_id) = caller.session_id() {
        let mut conn = state.conn().await?;
        state.bounded(Session::revoke(&mut conn, caller.user.id, session_id, Utc::now())).await?;
    }
    let mut gone = Cookie::build(SESSION_COOKIE, "").path("/api").finish();
    gone.make_removal();
    Ok(HttpResponse::NoContent().cookie(gone).finish())
}
