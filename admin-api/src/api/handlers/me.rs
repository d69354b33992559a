//! `GET /users/me`

use crate::api::{ApiError, ErrorBody, auth::Caller, views::UserView};
use actix_web::web;

/// The caller's account.
#[utoipa::path(get, path = "/api/v1/users/me", tag = "users",
    security(("session_cookie" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The caller's account", body = UserView),
        (status = 401, description = "Not logged in", body = ErrorBody),
    ))]
pub async fn me(caller: Caller) -> Result<web::Json<UserView>, ApiError> {
    Ok(web::Json(UserView::from(&caller.user)))
}
