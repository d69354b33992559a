//! `GET /activity-logs`

use crate::api::{
    ApiError, ApiState, ErrorBody,
    auth::Caller,
    views::{ActivityLogList, ActivityLogView, ActivityQuery, PageQuery},
};
use actix_web::web;
use smtpy_shared::models::ActivityLog;

/// The caller's activity log, newest first: logins (refused ones too), logouts, revoked
/// sessions, API keys created and revoked, security settings changed.
#[utoipa::path(get, path = "/api/v1/activity-logs", tag = "activity", params(ActivityQuery, PageQuery),
    security(("session_cookie" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "One page of entries", body = ActivityLogList),
        (status = 400, description = "Unknown action, a time that is not RFC 3339, from after to, bad page", body = ErrorBody),
        (status = 401, description = "Not logged in", body = ErrorBody),
    ))]
pub async fn list_activity_logs(
    state: web::Data<ApiState>,
    caller: Caller,
    filter: web::Query<ActivityQuery>,
    page: web::Query<PageQuery>,
) -> Result<web::Json<ActivityLogList>, ApiError> {
    let filter = filter.filter()?;
    let (page, per_page, offset) = page.resolve()?;
    let mut conn = state.conn().await?;
    let (entries, total) =
        state.bounded(ActivityLog::for_user(&mut conn, caller.user.id, &filter, offset, i64::from(per_page))).await?;
    Ok(web::Json(ActivityLogList { items: entries.iter().map(ActivityLogView::from).collect(), total, page, per_page }))
}
