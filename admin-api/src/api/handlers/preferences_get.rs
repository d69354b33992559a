//! `GET /users/preferences`

use crate::api::{ApiError, ApiState, ErrorBody, auth::Caller, preferences::PreferencesView};
use actix_web::web;
use smtpy_shared::models::Preferences;

/// The caller's preferences; the defaults until they save any.
#[utoipa::path(get, path = "/api/v1/users/preferences", tag = "users",
    security(("session_cookie" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The caller's preferences", body = PreferencesView),
        (status = 401, description = "Not logged in", body = ErrorBody),
    ))]
pub async fn get_preferences(
    state: web::Data<ApiState>,
    caller: Caller,
) -> Result<web::Json<PreferencesView>, ApiError> {
    let mut conn = state.conn().await?;
    let prefs = state.bounded(Preferences::for_user(&mut conn, caller.user.id)).await?;
    Ok(web::Json(prefs.into()))
}
