//! `GET /activity-logs/export`

use crate::api::{ApiError, ApiState, ErrorBody, auth::Caller, views::ActivityQuery};
use actix_web::{
    HttpResponse,
    http::header::{self, ContentDisposition, DispositionParam, DispositionType},
    web,
};
use chrono::SecondsFormat;
use smtpy_shared::models::ActivityLog;

/// At most this many entries per export; more must be asked for in parts with from/to.
pub const MAX_EXPORT_ROWS: i64 = 10_000;

/// The caller's activity log as CSV (`text/csv`, a header row, RFC 4180 quoting), newest
/// first, with the same filters as the list. More than 10 000 matching entries: 400, narrow
/// the range with from/to (an export is never cut silently).
#[utoipa::path(get, path = "/api/v1/activity-logs/export", tag = "activity", params(ActivityQuery),
    security(("session_cookie" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "Columns: id, created_at, action, ip, user_agent, details (JSON)",
            content_type = "text/csv", body = String),
        (status = 400, description = "Bad filter, or more than 10 000 entries match", body = ErrorBody),
        (status = 401, description = "Not logged in", body = ErrorBody),
    ))]
pub async fn export_activity_logs(
    state: web::Data<ApiState>,
    caller: Caller,
    filter: web::Query<ActivityQuery>,
) -> Result<HttpResponse, ApiError> {
    let filter = filter.filter()?;
    let mut conn = state.conn().await?;
    let (entries, total) =
        state.bounded(ActivityLog::for_user(&mut conn, caller.user.id, &filter, 0, MAX_EXPORT_ROWS)).await?;
    if total > MAX_EXPORT_ROWS {
        return Err(ApiError::InvalidInput(format!(
            "{total} entries match, more than the {MAX_EXPORT_ROWS} one export holds; narrow the range with from and to"
        )));
    }
    let body = to_csv(&entries)?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/csv; charset=utf-8"))
        .insert_header(ContentDisposition {
            disposition: DispositionType::Attachment,
            parameters: vec![DispositionParam::Filename("activity-log.csv".to_owned())],
        })
        .body(body))
}

fn to_csv(entries: &[ActivityLog]) -> Result<Vec<u8>, ApiError> {
    let failed = |e: csv::Error| ApiError::Internal(format!("cannot write the CSV export: {e}"));
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(["id", "created_at", "action", "ip", "user_agent", "details"]).map_err(failed)?;
    for e in entries {
        writer
            .write_record([
                e.id.to_string(),
                e.created_at.to_rfc3339_opts(SecondsFormat::Micros, true),
                e.action.clone(),
                e.ip.clone().unwrap_or_default(),
                defuse_formula(e.user_agent.as_deref().unwrap_or_default()),
                defuse_formula(&e.details.to_string()),
            ])
            .map_err(failed)?;
    }
    writer.into_inner().map_err(|e| ApiError::Internal(format!("cannot write the CSV export: {e}")))
}

/// A spreadsheet opening the file would run a cell starting with `=`, `+`, `-` or `@` as a
/// formula; the User-Agent is whatever a client (an attacker's, for failed logins) sent. A
/// leading `'` makes it text (the OWASP "CSV injection" advice).
fn defuse_formula(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{cell}") } else { cell.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::defuse_formula;

    #[test]
    fn formulas_become_text() {
        assert_eq!(defuse_formula("=HYPERLINK(\"http://x\")"), "'=HYPERLINK(\"http://x\")");
        assert_eq!(defuse_formula("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(defuse_formula("curl/8.5.0"), "curl/8.5.0");
    }
}
