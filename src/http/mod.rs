//! The HTTP front door: routes, GraphQL transport, health.

pub mod apq;
pub mod graphiql;
mod graphql;
mod health;
pub mod reports;

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
    pub max_anonymous_body_bytes: usize,
    pub max_batch: usize,
    pub max_response_bytes: usize,
    /// How long a WebSocket may wait before sending `connection_init`.
    pub ws_init_timeout: std::time::Duration,
    /// Browser origins allowed to call `/graphql` (`--cors-origin`); none:
    /// same-origin only.
    pub cors_origins: Vec<axum::http::HeaderValue>,
    /// Automatic persisted queries of this process.
    pub persisted: apq::PersistedQueries,
}

impl AppState {
    pub fn new(
        config: &Config,
        db: DatabaseConnection,
        notifier: RunNotifier,
        senders: crate::delivery::deliver::Senders,
    ) -> Self {
        Self {
            schema: build_schema(
                db.clone(),
                config.limits,
                crate::graphql::EngineSettings {
                    listing: config.listing,
                    secret_key: config.secret_key.clone(),
                    senders,
                },
                notifier,
            ),
            db,
            max_body_bytes: config.max_body_bytes,
            max_anonymous_body_bytes: config.max_anonymous_body_bytes,
            max_batch: config.max_batch,
            max_response_bytes: config.max_response_bytes,
            ws_init_timeout: config.ws_init_timeout,
            cors_origins: config.cors_origins.clone(),
            persisted: apq::PersistedQueries::default(),
        }
    }
}

/// The one router, used by `serve` and by tests.
pub fn build_app(state: AppState) -> Router {
    let graphql_route = get(graphql::get).post(graphql::post);
    // Preflights answered for the listed origins only; a browser refuses
    // the answer for any other, since it has no Allow-Origin of its own.
    let graphql_route = if state.cors_origins.is_empty() {
        graphql_route
    } else {
        use axum::http::{Method, header};
        graphql_route.layer(
            tower_http::cors::CorsLayer::new()
                .allow_origin(tower_http::cors::AllowOrigin::list(
                    state.cors_origins.clone(),
                ))
                .allow_methods([Method::GET, Method::POST])
                .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
                .max_age(std::time::Duration::from_secs(600)),
        )
    };
    Router::new()
        .route("/graphql", graphql_route)
        .route("/graphql/ws", get(graphql::websocket))
        .route("/graphql/assets/{name}", get(graphiql::asset))
        .route("/reports/findings", get(reports::findings))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics))
        .layer(axum::middleware::from_fn(count_requests))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .with_state(state)
}

/// The request's span: method and path, never the query string (a GET
/// carries its GraphQL variables there), and the operation name once the
/// GraphQL handler knows it.
fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    tracing::debug_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        operation = tracing::field::Empty,
    )
}

async fn metrics() -> ([(axum::http::HeaderName, &'static str); 1], String) {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        crate::metrics::render(),
    )
}

/// Counts requests by matched route (never the raw path, to bound labels).
async fn count_requests(
    route: Option<axum::extract::MatchedPath>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let route = route
        .map(|r| r.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let response = next.run(request).await;
    crate::metrics::http_request(&route, response.status().as_u16());
    response
}
