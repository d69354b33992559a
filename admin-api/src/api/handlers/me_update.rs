//! `PATCH /users/me`

use crate::api::{
    ApiError, ApiState, ErrorBody, activity, auth::Writer, client::ClientInfo, password, two_factor, views::UserView,
};
use actix_web::web;
use chrono::Utc;
use diesel_async::AsyncConnection;
use serde::Deserialize;
use serde_json::json;
use smtpy_shared::models::{ActivityAction, Session, User};
use utoipa::ToSchema;

/// Changes to the caller's account. Today that is the password; accounts have no other
/// editable field yet.
#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateMeRequest {
    /// The password now, to confirm a password change.
    pub current_password: Option<String>,
    /// The new password, 12 to 1024 characters.
    #[schema(min_length = 12, max_length = 1024)]
    pub new_password: Option<String>,
}

/// Changes the caller's password. Every other session of the account is logged out (a thief
/// who had one loses it); the session making the request stays. Needs a login session (not an
/// API key). The change goes to the account's activity log (`password_changed`).
#[utoipa::path(patch, path = "/api/v1/users/me", tag = "users", request_body = UpdateMeRequest,
    security(("session_cookie" = [])),
    responses(
        (status = 200, description = "Changed; the other sessions are logged out", body = UserView),
        (status = 400, description = "Nothing to change, current_password missing, or the new password \
            is too short or too long", body = ErrorBody),
        (status = 401, description = "Not logged in, or current_password is wrong (`wrong_password`)", body = ErrorBody),
        (status = 403, description = "Missing X-CSRF-Token, or an API key", body = ErrorBody),
    ))]
pub async fn update_me(
    client: ClientInfo,
    state: web::Data<ApiState>,
    Writer(caller): Writer,
    body: web::Json<UpdateMeRequest>,
) -> Result<web::Json<UserView>, ApiError> {
    let session_id = caller.require_session()?;
    let UpdateMeRequest { current_password, new_password } = body.into_inner();
    let Some(new_password) = new_password else {
        return Err(ApiError::InvalidInput("nothing to change: send current_password and new_password".to_owned()));
    };
    let Some(current_password) = current_password else {
        return Err(ApiError::InvalidInput("send current_password to change the password".to_owned()));
    };
    password::check_strength(&new_password)?;
    let user_id = caller.user.id;
    if !password::verify(current_password, Some(caller.user.password_hash.clone())).await? {
        return Err(ApiError::WrongPassword);
    }
    let new_hash = password::hash(new_password).await?;
    // Sessions live on the system clock, as everywhere else in session bookkeeping.
    let now = Utc::now();
    let mut conn = state.conn().await?;
    let (user, revoked) = state
        .bounded(conn.transaction(async |conn| {
            let user = User::set_password_hash(conn, user_id, &new_hash).await?;
            let revoked = Session::revoke_all_except(conn, user_id, Some(session_id), now).await?;
            let details = json!({"other_sessions_revoked": revoked});
            activity::record(conn, user_id, ActivityAction::PasswordChanged, &client, details).await?;
            Ok((user, revoked))
        }))
        .await?;
    tracing::info!(user = %user_id, other_sessions_revoked = revoked, "password changed");
    let two_factor = two_factor::is_enabled(&state, &mut conn, user_id).await?;
    Ok(web::Json(UserView::new(&user, two_factor)))
}
