//! The HTTP server: health, readiness, and the owner API under `/api/v1`.

use crate::{AdminError, api};
use actix_web::{App, HttpResponse, HttpServer, web};
use diesel_async::RunQueryDsl;
use smtpy_shared::{Config, Db, sealed::SealKey};
use std::path::Path;

/// Runs the API server until it is stopped.
pub async fn serve(config: Config) -> Result<(), AdminError> {
    // Before binding: a missing key file is a start-up error that says how to create it.
    let seal = SealKey::load(Path::new(&config.secrets.key_file))
        .map_err(|e| AdminError::Invalid(format!("secrets.key_file: {e}")))?;
    let db = Db::from_config(&config.database)?;
    let listen = config.api.listen.clone();
    let mailer = api::mail::Mailer::smtp(&config.smtp).map_err(|e| AdminError::Invalid(e.to_string()))?;
    let state = api::ApiState::new(db.clone(), &config.api, seal).with_mailer(mailer);
    tracing::info!(%listen, "smtpy-admin serving");
    HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(db.clone()))
            .route("/healthz", web::get().to(healthz))
            .route("/readyz", web::get().to(readyz))
            .service(api::scope(state.clone()))
    })
    .bind(&listen)
    .map_err(|e| AdminError::Internal(format!("cannot listen on {listen}: {e}")))?
    .run()
    .await
    .map_err(|e| AdminError::Internal(format!("server failed: {e}")))
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
