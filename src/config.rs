use std::net::SocketAddr;
use std::path::PathBuf;

/// The default database: a SQLite file in the working directory, created on first start.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://drift-engine.db?mode=rwc";
/// Large enough for an inventory sync or policy-version batch of several
/// thousand ~8 KB documents in one request.
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024 * 1024;
/// A request without a token can only introspect (about 2 KB) or be refused.
pub const DEFAULT_MAX_ANONYMOUS_BODY_BYTES: usize = 64 * 1024;
/// Operations in one batched POST.
pub const DEFAULT_MAX_BATCH: usize = 10;
/// The largest answer the server builds; a larger one is refused.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

#[derive(Clone, Debug)]
pub struct Config {
    pub database_url: String,
    pub bind: SocketAddr,
    pub max_body_bytes: usize,
    pub max_anonymous_body_bytes: usize,
    pub max_batch: usize,
    pub max_response_bytes: usize,
    pub ws_init_timeout: std::time::Duration,
    pub limits: GraphqlLimits,
    /// When a shrunk inventory listing is believed (`--listing-drop-share`).
    pub listing: crate::evidence::ingest::ListingGuard,
    /// Seals tenant credentials (`DRIFT_SECRET_KEY` or `--secret-key-file`).
    pub secret_key: Option<crate::collector::secrets::SecretKey>,
    pub workers: crate::runs::worker::WorkerSettings,
    /// Where and how the collector reads Microsoft Graph.
    pub graph: crate::collector::graph::GraphSettings,
    /// How notifications are delivered.
    pub delivery: crate::delivery::deliver::DeliverySettings,
    /// Browser origins allowed to call `/graphql` from other sites.
    pub cors_origins: Vec<axum::http::HeaderValue>,
}

#[derive(Clone, Copy, Debug)]
pub struct GraphqlLimits {
    /// Field nesting; introspection is not counted.
    pub depth: usize,
    /// async-graphql's complexity, per request and across a batch.
    pub complexity: usize,
    /// Fields selected once fragments are expanded.
    pub selections: usize,
    /// Lexical tokens of a document, with and without a token.
    pub tokens: usize,
    pub anonymous_tokens: usize,
}

impl Default for GraphqlLimits {
    fn default() -> Self {
        Self {
            depth: 12,
            complexity: 20_000,
            selections: 5_000,
            tokens: 20_000,
            anonymous_tokens: 2_000,
        }
    }
}

impl Config {
    pub fn new(database_url: impl Into<String>, bind: SocketAddr) -> Self {
        Self {
            database_url: database_url.into(),
            bind,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_anonymous_body_bytes: DEFAULT_MAX_ANONYMOUS_BODY_BYTES,
            max_batch: DEFAULT_MAX_BATCH,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            ws_init_timeout: std::time::Duration::from_secs(10),
            limits: GraphqlLimits::default(),
            listing: crate::evidence::ingest::ListingGuard::default(),
            secret_key: None,
            delivery: Default::default(),
            cors_origins: Vec::new(),
            workers: crate::runs::worker::WorkerSettings::default(),
            graph: crate::collector::graph::GraphSettings::default(),
        }
    }
}

/// Where the one-time bootstrap token goes: beside the SQLite file. `None`
/// for PostgreSQL and in-memory SQLite, which have no such place.
pub fn bootstrap_token_path(database_url: &str) -> Option<PathBuf> {
    let rest = database_url
        .strip_prefix("sqlite://")
        .or_else(|| database_url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return None;
    }
    let db_path = PathBuf::from(path);
    let dir = db_path.parent().map(PathBuf::from).unwrap_or_default();
    Some(dir.join("drift-engine.bootstrap-token"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrap_token_sits_beside_the_sqlite_file() {
        assert_eq!(
            bootstrap_token_path("sqlite://drift-engine.db?mode=rwc"),
            Some(PathBuf::from("drift-engine.bootstrap-token"))
        );
        assert_eq!(
            bootstrap_token_path("sqlite:///var/lib/drift/x.db"),
            Some(PathBuf::from("/var/lib/drift/drift-engine.bootstrap-token"))
        );
        assert_eq!(bootstrap_token_path("sqlite::memory:"), None);
        assert_eq!(
            bootstrap_token_path("postgres://postgres@localhost/x"),
            None
        );
    }
}
