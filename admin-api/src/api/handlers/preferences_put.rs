//! `PUT /users/preferences`

use crate::api::{
    ApiError, ApiState, ErrorBody,
    auth::Writer,
    preferences::{PreferencesUpdate, PreferencesView},
};
use actix_web::web;
use smtpy_shared::models::Preferences;

/// Changes the caller's preferences. Fields left out keep their value; an unknown field, a
/// theme other than `light|dark|auto` or an unsupported language is refused with 400
/// `invalid_input` and nothing is changed.
#[utoipa::path(put, path = "/api/v1/users/preferences", tag = "users", request_body = PreferencesUpdate,
    security(("session_cookie" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The preferences as saved", body = PreferencesView),
        (status = 400, description = "An invalid value or unknown field", body = ErrorBody),
        (status = 401, description = "Not logged in", body = ErrorBody),
        (status = 403, description = "Missing CSRF token or read-only key", body = ErrorBody),
    ))]
pub async fn put_preferences(
    state: web::Data<ApiState>,
    Writer(caller): Writer,
    body: web::Json<PreferencesUpdate>,
) -> Result<web::Json<PreferencesView>, ApiError> {
    let mut conn = state.conn().await?;
    let current = state.bounded(Preferences::for_user(&mut conn, caller.user.id)).await?;
    let wanted = body.into_inner().apply(current)?;
    let saved = state.bounded(Preferences::save(&mut conn, caller.user.id, &wanted)).await?;
    Ok(web::Json(saved.into()))
}
