//! `POST /users/me/deletion`

use crate::api::{
    ApiError, ApiState, ErrorBody, activity, auth::Writer, client::ClientInfo, password, two_factor, views::UserView,
};
use actix_web::web;
use chrono::TimeDelta;
use diesel_async::AsyncConnection;
use serde::Deserialize;
use serde_json::json;
use smtpy_shared::models::{ActivityAction, User};
use utoipa::ToSchema;

/// How long an account waits between the request and its deletion, during which the owner
/// can still log in and cancel.
pub const DELETION_GRACE: TimeDelta = TimeDelta::days(30);

/// The password, to confirm.
#[derive(Debug, Deserialize, ToSchema)]
pub struct DeletionRequest {
    /// The account's password.
    pub password: String,
}

/// Schedules the caller's account for deletion in 30 days (`deletion_scheduled_at`). Until
/// then everything keeps working and `DELETE /users/me/deletion` cancels. Needs a login
/// session (not an API key). The request goes to the account's activity log
/// (`deletion_requested`).
#[utoipa::path(post, path = "/api/v1/users/me/deletion", tag = "users", request_body = DeletionRequest,
    security(("session_cookie" = [])),
    responses(
        (status = 200, description = "Scheduled; the date is in `deletion_scheduled_at`", body = UserView),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "Not logged in, or the password is wrong (`wrong_password`)", body = ErrorBody),
        (status = 403, description = "Missing X-CSRF-Token, or an API key", body = ErrorBody),
        (status = 409, description = "A deletion is scheduled already", body = ErrorBody),
    ))]
pub async fn request_deletion(
    client: ClientInfo,
    state: web::Data<ApiState>,
    Writer(caller): Writer,
    body: web::Json<DeletionRequest>,
) -> Result<web::Json<UserView>, ApiError> {
    caller.require_session()?;
    let user_id = caller.user.id;
    if !password::verify(body.into_inner().password, Some(caller.user.password_hash.clone())).await? {
        return Err(ApiError::WrongPassword);
    }
    let now = state.now();
    let mut conn = state.conn().await?;
    let scheduled = state
        .bounded(conn.transaction(async |conn| {
            let Some(user) = User::request_deletion(conn, user_id, now, now + DELETION_GRACE).await? else {
                return Ok(None);
            };
            let details = json!({"scheduled_at": user.deletion_scheduled_at});
            activity::record(conn, user_id, ActivityAction::DeletionRequested, &client, details).await?;
            Ok(Some(user))
        }))
        .await?;
    let Some(user) = scheduled else {
        return Err(ApiError::Conflict(
            "the account is scheduled for deletion already; DELETE /users/me/deletion cancels".to_owned(),
        ));
    };
    tracing::info!(user = %user_id, due = ?user.deletion_scheduled_at, "account deletion requested");
    let two_factor = two_factor::is_enabled(&state, &mut conn, user_id).await?;
    Ok(web::Json(UserView::new(&user, two_factor)))
}
