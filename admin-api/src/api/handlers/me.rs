//! `GET /users/me`

use crate::api::{ApiError, ApiState, ErrorBody, auth::Caller, two_factor, views::UserView};
use actix_web::web;

/// The caller's account, with whether two-factor login is on and any pending deletion date.
#[utoipa::path(get, path = "/api/v1/users/me", tag = "users",
    security(("session_cookie" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The caller's account", body = UserView),
        (status = 401, description = "Not logged in", body = ErrorBody),
    ))]
pub async fn me(state: web::Data<ApiState>, caller: Caller) -> Result<web::Json<UserView>, ApiError> {
    let mut conn = state.conn().await?;
    let two_factor = two_factor::is_enabled(&state, &mut conn, caller.user.id).await?;
    Ok(web::Json(UserView::new(&caller.user, two_factor)))
}
