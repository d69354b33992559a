//! `DELETE /users/sessions/{id}`

use crate::api::{ApiError, ApiState, ErrorBody, auth::Writer};
use actix_web::{HttpResponse, web};
use chrono::Utc;
use smtpy_shared::models::Session;
use uuid::Uuid;

/// Revokes one of the caller's sessions (the current one too: that is a logout).
#[utoipa::path(delete, path = "/api/v1/users/sessions/{id}", tag = "sessions",
    params(("id" = Uuid, Path, description = "The session's id")),
    security(("session_cookie" = []), ("api_key" = [])),
    responses(
        (status = 204, description = "Revoked"),
        (status = 400, description = "The id is not a UUID", body = ErrorBody),
        (status = 401, description = "Not logged in", body = ErrorBody),
        (status = 403, description = "Missing X-CSRF-Token or read-only key", body = ErrorBody),
        (status = 404, description = "No such live session of the caller's", body = ErrorBody),
    ))]
pub async fn delete_session(
    state: web::Data<ApiState>,
    Writer(caller): Writer,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let mut conn = state.conn().await?;
    if !state.bounded(Session::revoke(&mut conn, caller.user.id, id, Utc::now())).await? {
        return Err(ApiError::NotFound("no such session".to_owned()));
    }
    tracing::info!(user = %caller.user.id, session = %id, "session revoked");
    Ok(HttpResponse::NoContent().finish())
}
