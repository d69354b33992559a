//! The HTTP server: health, readiness, and the owner API under `/api/v1`.

use crate::{AdminError, api};
use actix_web::{
    App, HttpResponse, HttpServer,
    body::BoxBody,
    dev::{Service, ServiceFactory, ServiceRequest, ServiceResponse},
    middleware::Condition,
    web,
};
use diesel_async::RunQueryDsl;
use smtpy_shared::{Config, Db, sealed::SealKey};
use std::{path::Path, time::Duration};

/// How often expired rate-limit counters are deleted.
const RATE_LIMIT_CLEANUP_EVERY: Duration = Duration::from_secs(600);

/// Runs the API server until it is stopped.
pub async fn serve(config: Config) -> Result<(), AdminError> {
    // Before binding: a missing key file is a start-up error that says how to create it.
    let seal = SealKey::load(Path::new(&config.secrets.key_file))
        .map_err(|e| AdminError::Invalid(format!("secrets.key_file: {e}")))?;
    let db = Db::from_config(&config.database)?;
    let listen = config.api.listen.clone();
    let mailer = api::mail::Mailer::smtp(&config.smtp).map_err(|e| AdminError::Invalid(e.to_string()))?;
    let state = api::ApiState::new(db, &config.api, seal).with_mailer(mailer);
    actix_web::rt::spawn(clean_rate_limits(state.clone()));
    tracing::info!(%listen, "smtpy-admin serving");
    HttpServer::new(move || app(state.clone()))
        .bind(&listen)
        .map_err(|e| AdminError::Internal(format!("cannot listen on {listen}: {e}")))?
        .run()
        .await
        .map_err(|e| AdminError::Internal(format!("server failed: {e}")))
}

/// The whole HTTP application: health, readiness and `/api/v1`, behind the security headers
/// and CORS. The server and the API tests both build it here, so tests see what clients see.
pub fn app(
    state: api::ApiState,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<BoxBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let tls = state.cookie_secure;
    let cors = Condition::new(!state.cors_origins.is_empty(), api::security::cors(&state.cors_origins));
    App::new()
        .app_data(web::Data::new(state.db.clone()))
        .route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .service(api::scope(state))
        .wrap(cors)
        // Outside CORS, so its own answers (a refused preflight) carry the headers too.
        .wrap(api::security::headers(tls))
        // One body type for every response, whatever the middleware above made of it.
        .wrap_fn(|req, service| {
            let response = service.call(req);
            async move {
                let mut response = response.await?;
                api::security::drop_stray_cors_headers(response.headers_mut());
                Ok(response.map_into_boxed_body())
            }
        })
}

/// Deletes expired rate-limit counters now and then. Every instance runs it; the DELETE is
/// idempotent and cheap (an index range on `expires_at`), so no leader election is needed.
async fn clean_rate_limits(state: api::ApiState) {
    let mut every = actix_web::rt::time::interval(RATE_LIMIT_CLEANUP_EVERY);
    loop {
        every.tick().await;
        match state.limits.delete_expired(&state.db).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(deleted = n, "expired rate-limit counters deleted"),
            Err(e) => tracing::warn!("cannot delete expired rate-limit counters: {e}"),
        }
    }
}

/// Liveness: the process answers.
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// Readiness: the database answers within the configured bound.
async fn readyz(db: web::Data<Db>) -> HttpResponse {
    let ping = db
        .bounded(async {
            let mut conn = db.conn().await?;
            diesel::sql_query("SELECT 1").execute(&mut conn).await?;
            Ok(())
        })
        .await;
    match ping {
        Ok(()) => HttpResponse::Ok().json(serde_json::json!({"status": "ready"})),
        Err(e) => {
            tracing::warn!("readiness check failed: {e}");
            HttpResponse::ServiceUnavailable().json(serde_json::json!({
                "error": {"code": "database_unavailable", "message": "the database is not reachable"}
            }))
        }
    }
}
