//! The HTTP front door: routes, GraphQL transport, health.

mod graphql;
mod health;

use axum::Router;
use axum::routing::get;
use sea_orm::DatabaseConnection;
use tower_http::trace::TraceLayer;

use crate::config::Config;
use crate::graphql::{AppSchema, build_schema};
use crate::runs::worker::RunNotifier;

#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub schema: AppSchema,
    pub max_body_bytes: usize,
}

impl AppState {
    pub fn new(config: &Config, db: DatabaseConnection, notifier: RunNotifier) -> Self {
        Self {
            schema: build_schema(db.clone(), config.limits, notifier),
            db,
            max_body_bytes: config.max_body_bytes,
        }
    }
}

/// The one router, used by `serve` and by tests.
pub fn build_app(state: AppState) -> Router {
    Router::new()
        .route("/graphql", get(graphql::get).post(graphql::post))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
