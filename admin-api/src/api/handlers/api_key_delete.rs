//! `DELETE /users/api-keys/{id}`

use crate::api::{ApiError, ApiState, ErrorBody, activity, auth::Writer, client::ClientInfo};
use actix_web::{HttpResponse, web};
use chrono::Utc;
use diesel_async::AsyncConnection;
use serde_json::json;
use smtpy_shared::models::{ActivityAction, ApiKey};
use uuid::Uuid;

/// Revokes one of the caller's keys; it is refused from the next request on.
#[utoipa::path(delete, path = "/api/v1/users/api-keys/{id}", tag = "api-keys",
    params(("id" = Uuid, Path, description = "The key's id")),
    security(("session_cookie" = []), ("api_key" = [])),
    responses(
        (status = 204, description = "Revoked"),
        (status = 400, description = "The id is not a UUID", body = ErrorBody),
        (status = 401, description = "Not logged in", body = ErrorBody),
        (status = 403, description = "Missing X-CSRF-Token or read-only key", body = ErrorBody),
        (status = 404, description = "No such key of the caller's (or revoked already)", body = ErrorBody),
    ))]
pub async fn delete_api_key(
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
            let revoked = ApiKey::revoke(conn, user_id, id, Utc::now()).await?;
            if revoked {
                let details = json!({"key_id": id});
                activity::record(conn, user_id, ActivityAction::ApiKeyRevoked, &client, details).await?;
            }
            Ok::<_, diesel::result::Error>(revoked)
        }))
        .await?;
    if !revoked {
        return Err(ApiError::NotFound("no such API key".to_owned()));
    }
    tracing::info!(user = %caller.user.id, key = %id, "API key revoked");
    Ok(HttpResponse::NoContent().finish())
}
