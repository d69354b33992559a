//! `PUT /users/preferences`

use crate::api::{
    ApiError, ApiState, ErrorBody, activity,
    auth::Writer,
    client::ClientInfo,
    preferences::{PreferencesUpdate, PreferencesView, changed_fields},
};
use actix_web::web;
use diesel_async::AsyncConnection;
use serde_json::json;
use smtpy_shared::models::{ActivityAction, Preferences};

/// Changes the caller's preferences. Fields left out keep their value; an unknown field, a
/// theme other than `light|dark|auto` or an unsupported language is refused with 400
/// `invalid_input` and nothing is changed. A change goes to the account's activity log
/// (`preferences_updated`, naming the fields that changed).
#[utoipa::path(put, path = "/api/v1/users/preferences", tag = "users", request_body = PreferencesUpdate,
    security(("session_cookie" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The preferences as saved", body = PreferencesView),
        (status = 400, description = "An invalid value or unknown field", body = ErrorBody),
        (status = 401, description = "Not logged in", body = ErrorBody),
        (status = 403, description = "Missing CSRF token or read-only key", body = ErrorBody),
    ))]
pub async fn put_preferences(
    client: ClientInfo,
    state: web::Data<ApiState>,
    Writer(caller): Writer,
    body: web::Json<PreferencesUpdate>,
) -> Result<web::Json<PreferencesView>, ApiError> {
    let user_id = caller.user.id;
    let update = body.into_inner();
    let mut conn = state.conn().await?;
    let saved = conn
        .transaction(async |conn| {
            let current = state.bounded(Preferences::for_user(conn, user_id)).await?;
            let wanted = update.apply(current.clone())?;
            let saved = state.bounded(Preferences::save(conn, user_id, &wanted)).await?;
            let changed = changed_fields(&current, &saved);
            if !changed.is_empty() {
                let details = json!({"changed": changed});
                state
                    .bounded(activity::record(conn, user_id, ActivityAction::PreferencesUpdated, &client, details))
                    .await?;
            }
            Ok::<_, ApiError>(saved)
        })
        .await?;
    Ok(web::Json(saved.into()))
}
