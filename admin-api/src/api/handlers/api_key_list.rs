//! `GET /users/api-keys`

use crate::api::{
    ApiError, ApiState, ErrorBody,
    auth::Caller,
    views::{ApiKeyList, ApiKeyView, PageQuery},
};
use actix_web::web;
use smtpy_shared::models::ApiKey;

/// The caller's keys that are not revoked (expired ones included, marked by `expires_at`).
#[utoipa::path(get, path = "/api/v1/users/api-keys", tag = "api-keys", params(PageQuery),
    security(("session_cookie" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "One page of keys; never the keys themselves", body = ApiKeyList),
        (status = 400, description = "Bad page or per_page", body = ErrorBody),
        (status = 401, description = "Not logged in", body = ErrorBody),
    ))]
pub async fn list_api_keys(
    state: web::Data<ApiState>,
    caller: Caller,
    query: web::Query<PageQuery>,
) -> Result<web::Json<ApiKeyList>, ApiError> {
    let (page, per_page, offset) = query.resolve()?;
    let mut conn = state.conn().await?;
    let (keys, total) =
        state.bounded(ApiKey::unrevoked_for_user(&mut conn, caller.user.id, offset, i64::from(per_page))).await?;
    Ok(web::Json(ApiKeyList { items: keys.iter().map(ApiKeyView::from).collect(), total, page, per_page }))
}
