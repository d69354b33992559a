//! `DELETE /users/me/deletion`

use crate::api::{
    ApiError, ApiState, ErrorBody, activity, auth::Writer, client::ClientInfo, two_factor, views::UserView,
};
use actix_web::web;
use diesel_async::AsyncConnection;
use serde_json::Value;
use smtpy_shared::models::{ActivityAction, User};

/// Cancels the caller's scheduled account deletion; the cancellation goes to the account's
/// activity log (`deletion_cancelled`).
#[utoipa::path(delete, path = "/api/v1/users/me/deletion", tag = "users",
    security(("session_cookie" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "Cancelled; `deletion_scheduled_at` is null again", body = UserView),
        (status = 401, description = "Not logged in", body = ErrorBody),
        (status = 403, description = "Missing X-CSRF-Token or read-only key", body = ErrorBody),
        (status = 404, description = "No deletion is scheduled", body = ErrorBody),
    ))]
pub async fn cancel_deletion(
    client: ClientInfo,
    state: web::Data<ApiState>,
    Writer(caller): Writer,
) -> Result<web::Json<UserView>, ApiError> {
    let user_id = caller.user.id;
    let mut conn = state.conn().await?;
    let cancelled = state
        .bounded(conn.transaction(async |conn| {
            let Some(user) = User::cancel_deletion(conn, user_id).await? else { return Ok(None) };
            activity::record(conn, user_id, ActivityAction::DeletionCancelled, &client, Value::Null).await?;
            Ok(Some(user))
        }))
        .await?;
    let Some(user) = cancelled else {
        return Err(ApiError::NotFound("no account deletion is scheduled".to_owned()));
    };
    tracing::info!(user = %user_id, "account deletion cancelled");
    let two_factor = two_factor::is_enabled(&state, &mut conn, user_id).await?;
    Ok(web::Json(UserView::new(&user, two_factor)))
}
