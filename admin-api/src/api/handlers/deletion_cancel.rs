//! `DELETE /users/me/deletion`

use crate::api::{ApiError, ApiState, ErrorBody, auth::Writer, two_factor, views::UserView};
use actix_web::web;
use smtpy_shared::models::User;

/// Cancels the caller's scheduled account deletion.
#[utoipa::path(delete, path = "/api/v1/users/me/deletion", tag = "users",
    security(("session_cookie" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "Cancelled; `deletion_scheduled_at` is null again", body = UserView),
        (status = 401, description = "Not logged in", body = ErrorBody),
        (status = 403, description = "Missing X-CSRF-Token or read-only key", body = ErrorBody),
        (status = 404, description = "No deletion is scheduled", body = ErrorBody),
    ))]
pub async fn cancel_deletion(
    state: web::Data<ApiState>,
    Writer(caller): Writer,
) -> Result<web::Json<UserView>, ApiError> {
    let user_id = caller.user.id;
    let mut conn = state.conn().await?;
    let Some(user) = state.bounded(User::cancel_deletion(&mut conn, user_id)).await? else {
        return Err(ApiError::NotFound("no account deletion is scheduled".to_owned()));
    };
    tracing::info!(user = %user_id, "account deletion cancelled");
    let two_factor = two_factor::is_enabled(&state, &mut conn, user_id).await?;
    Ok(web::Json(UserView::new(&user, two_factor)))
}
