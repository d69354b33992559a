//! `DELETE /users/sessions/{id}`

use crate::api::{ApiError, ApiState, ErrorBody, activity, auth::Writer, client::ClientInfo};
use actix_web::{HttpResponse, web};
use chrono::Utc;
use diesel_async::AsyncConnection;
use serde_json::json;
use smtpy_shared::models::{ActivityAction, Session};
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
    client: ClientInfo,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let user_id = caller.user.id;
    let mut conn = state.conn().await?;
    let revoked = state
        .bounded(conn.transaction(async |conn| {
            let revoked = Session::revoke(conn, user_id, id, Utc::now()).await?;
            if revoked {
                let details = json!({"session_id": id});
                activity::record(conn, user_id, ActivityAction::SessionRevoked, &client, details).await?;
            }
            Ok::<_, diesel::result::Error>(revoked)
        }))
        .await?;
    if !revoked {
        return Err(ApiError::NotFound("no such session".to_owned()));
    }
    tracing::info!(user = %caller.user.id, session = %id, "session revoked");
    Ok(HttpResponse::NoContent().finish())
}
