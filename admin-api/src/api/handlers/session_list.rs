//! `GET /users/sessions`

use crate::api::{
    ApiError, ApiState, ErrorBody,
    auth::Caller,
    views::{PageQuery, SessionList, SessionView},
};
use actix_web::web;
use chrono::Utc;
use smtpy_shared::models::Session;

/// The caller's live sessions, newest first; `current` marks the one making the request.
#[utoipa::path(get, path = "/api/v1/users/sessions", tag = "sessions", params(PageQuery),
    security(("session_cookie" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "One page of sessions", body = SessionList),
        (status = 400, description = "Bad page or per_page", body = ErrorBody),
        (status = 401, description = "Not logged in", body = ErrorBody),
    ))]
pub async fn list_sessions(
    state: web::Data<ApiState>,
    caller: Caller,
    query: web::Query<PageQuery>,
) -> Result<web::Json<SessionList>, ApiError> {
    let (page, per_page, offset) = query.resolve()?;
    let mut conn = state.conn().await?;
    let (sessions, total) = state
        .bounded(Session::live_for_user(&mut conn, caller.user.id, Utc::now(), offset, i64::from(per_page)))
        .await?;
    let current = caller.session_id();
    Ok(web::Json(SessionList {
        items: sessions.iter().map(|s| SessionView::new(s, current)).collect(),
        total,
        page,
        per_page,
    }))
}
