//! drift-engine: tells operators whether their tenants still match a
//! golden-master baseline.
//!
//! The engine and directory modules know nothing of HTTP or GraphQL; `http`
//! and `graphql` are front doors, like the CLI and the tests.

pub mod audit;
pub mod auth;
pub mod bootstrap;
pub mod config;
pub mod db;
pub mod directory;
pub mod error;
pub mod evidence;
pub mod graphql;
pub mod http;
pub mod import;
pub mod runs;

use std::future::Future;

use sea_orm::DatabaseConnection;
use tokio::net::TcpListener;

pub use config::Config;
pub use http::{AppState, build_app};

/// Serves the API on `listener` until `shutdown` resolves. The database must
/// already be migrated; `main` and the tests both call this.
pub async fn serve(
    config: Config,
    db: DatabaseConnection,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let app = build_app(AppState::new(&config, db));
    tracing::info!(address = %listener.local_addr()?, "drift-engine listening");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}
