use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use super::AppState;
use crate::db;

/// The process is up and serving.
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// The database answers and every migration is applied.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    if let Err(err) = state.db.execute_unprepared("SELECT 1").await {
        tracing::warn!(error = %err, "readiness: database unreachable");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "unavailable", "database": "unreachable"})),
        );
    }
    match db::migrations_current(&state.db).await {
        Ok(true) => (
            StatusCode::OK,
            Json(json!({"status": "ready", "database": "ok", "migrations": "current"})),
        ),
        Ok(false) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "unavailable", "database": "ok", "migrations": "pending"})),
        ),
        Err(err) => {
            tracing::warn!(error = %err, "readiness: cannot read migration state");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "unavailable", "database": "ok", "migrations": "unknown"})),
            )
        }
    }
}
