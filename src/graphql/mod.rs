//! The GraphQL front door. It authorizes and translates; the work happens in
//! the engine and directory modules.

pub mod connection;
pub mod errors;
pub mod field_order;
pub mod guard;
pub mod ids;
pub mod loaders;
pub mod mutation;
pub mod query;
pub mod subscription;
pub mod types;

use async_graphql::{Context, Schema};
use sea_orm::DatabaseConnection;

use crate::auth::Viewer;
use crate::collector::secrets::SecretKey;
use crate::config::GraphqlLimits;
use crate::error::{Error, Result};
use crate::evidence::ingest::ListingGuard;
use crate::runs::worker::RunNotifier;

pub type AppSchema = Schema<query::Query, mutation::Mutation, subscription::Subscription>;

/// The one schema builder, used by the server, the `schema` command and tests.
/// What the engine's front door needs from the server's configuration.
#[derive(Clone)]
pub struct EngineSettings {
    pub listing: ListingGuard,
    /// Seals tenant credentials; without one they cannot be set.
    pub secret_key: Option<SecretKey>,
    /// What notifications are sent with (`testNotificationChannel`, and
    /// whether EMAIL channels can be created).
    pub senders: crate::delivery::deliver::Senders,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            listing: ListingGuard::default(),
            secret_key: None,
            senders: crate::delivery::deliver::Senders::http_only(),
        }
    }
}

/// The server's sealing key, as schema data.
#[derive(Clone)]
pub struct SealingKey(pub Option<SecretKey>);

pub fn build_schema(
    db: DatabaseConnection,
    limits: GraphqlLimits,
    settings: EngineSettings,
    notifier: RunNotifier,
) -> AppSchema {
    Schema::build(
        query::Query::default(),
        mutation::Mutation::default(),
        subscription::Subscription,
    )
    .data(db)
    .data(notifier)
    .data(settings.listing)
    .data(SealingKey(settings.secret_key))
    .data(settings.senders)
    // Depth is the guard's: async-graphql's count includes introspection,
    // whose `ofType` chain alone is deeper than any limit worth having.
    .extension(guard::RequestGuard { limits })
    .limit_complexity(limits.complexity)
    .finish()
}

/// The SDL checked in as `schema.graphql`.
pub fn sdl() -> String {
    // The schema's shape does not depend on the connection; a disconnected
    // handle keeps `drift-engine schema` free of any database.
    build_schema(
        DatabaseConnection::default(),
        GraphqlLimits::default(),
        EngineSettings::default(),
        RunNotifier::default(),
    )
    .sdl()
}

/// Who is calling, decided once per request by the HTTP layer.
#[derive(Clone)]
pub enum RequestAuth {
    Anonymous,
    Invalid,
    Authenticated(Box<Viewer>),
}

/// What every operation needs besides its text: the caller and fresh
/// per-request DataLoaders. HTTP, WebSocket and benchmarks all use this.
pub fn insert_request_data(
    data: &mut async_graphql::Data,
    auth: RequestAuth,
    db: &DatabaseConnection,
) {
    data.insert(auth);
    data.insert(loaders::new_loaders(db.clone()));
    data.insert(loaders::new_current_state_loader(db.clone()));
}

pub trait ContextExt {
    fn db(&self) -> &DatabaseConnection;
    fn viewer(&self) -> Result<&Viewer>;
}

impl ContextExt for Context<'_> {
    fn db(&self) -> &DatabaseConnection {
        self.data_unchecked::<DatabaseConnection>()
    }

    fn viewer(&self) -> Result<&Viewer> {
        match self.data_opt::<RequestAuth>() {
            Some(RequestAuth::Authenticated(viewer)) => Ok(viewer),
            _ => Err(Error::Unauthenticated),
        }
    }
}
