//! drift-engine: tells operators whether their tenants still match a
//! golden-master baseline.
//!
//! The engine and directory modules know nothing of HTTP or GraphQL; `http`
//! and `graphql` are front doors, like the CLI and the tests.

pub mod audit;
pub mod auth;
pub mod bootstrap;
pub mod cli;
pub mod collector;
pub mod config;
pub mod db;
pub mod delivery;
pub mod demo;
pub mod directory;
pub mod drift;
pub mod error;
pub mod evidence;
pub mod governance;
pub mod graphql;
pub mod http;
pub mod import;
pub mod metrics;
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
    serve_with_worker_db(config, db.clone(), db, listener, shutdown).await
}

/// The workers' settings, with the listing guard and the Graph collector
/// the configuration names.
pub fn worker_settings(config: &Config) -> anyhow::Result<runs::worker::WorkerSettings> {
    let mut settings = config.workers.clone();
    settings.listing = config.listing;
    if settings.collector.is_none() {
        let collector =
            collector::graph::Collector::new(config.graph.clone(), config.secret_key.clone())
                .map_err(anyhow::Error::msg)?;
        settings.collector = Some(std::sync::Arc::new(collector));
    }
    Ok(settings)
}

/// Like [`serve`], with the workers on their own handle to the same pool
/// (tests count the statements of requests apart from the workers' polling).
pub async fn serve_with_worker_db(
    config: Config,
    db: DatabaseConnection,
    worker_db: DatabaseConnection,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let senders = delivery::deliver::Senders::new(&config.delivery)?;
    let notifier = runs::worker::RunNotifier::default();
    let (stop_workers, workers_stopped) = tokio::sync::watch::channel(false);
    let (worker_db_for_delivery, workers_stopped_for_delivery) =
        (worker_db.clone(), workers_stopped.clone());
    let workers = runs::worker::spawn_workers(
        worker_db,
        worker_settings(&config)?,
        notifier.clone(),
        workers_stopped,
    );
    let delivery = delivery::deliver::spawn(
        worker_db_for_delivery,
        config.delivery.clone(),
        senders.clone(),
        config.secret_key.clone(),
        workers_stopped_for_delivery,
    );
    let app = build_app(AppState::new(&config, db, notifier, senders));
    tracing::info!(address = %listener.local_addr()?, workers = config.workers.count, "drift-engine listening");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    // Workers finish their current chunk, then release what they hold.
    let _ = stop_workers.send(true);
    for worker in workers {
        let _ = worker.await;
    }
    if let Some(delivery) = delivery {
        let _ = delivery.await;
    }
    Ok(())
}
