#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use drift_engine::auth::tokens;
use drift_engine::config::Config;
use entity::user;
use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, ConnectionTrait, DatabaseConnection};
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// A database of one's own for one test.
pub struct TestDb {
    pub db: DatabaseConnection,
    /// A URL that reaches the same database (and schema) from another process.
    pub url: String,
    pub is_postgres: bool,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    /// A fresh, migrated database.
    pub async fn new() -> Self {
        let test_db = Self::empty().await;
        Migrator::up(&test_db.db, None)
            .await
            .expect("migrations apply");
        test_db
    }

    /// A fresh database with no tables.
    pub async fn empty() -> Self {
        match std::env::var("TEST_DATABASE_URL") {
            Ok(url) if !url.is_empty() => Self::postgres(&url).await,
            _ => Self::sqlite().await,
        }
    }

    async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
        let db = drift_engine::db::connect(&url)
            .await
            .expect("open sqlite file");
        Self {
            db,
            url,
            is_postgres: false,
            _dir: Some(dir),
        }
    }

    async fn postgres(base_url: &str) -> Self {
        let schema = format!("t_{}", hex::encode(rand_bytes()));
        let admin = drift_engine::db::connect(base_url)
            .await
            .expect("connect to TEST_DATABASE_URL");
        admin
            .execute_unprepared(&format!("CREATE SCHEMA {schema}"))
            .await
            .expect("create test schema");
        admin.close().await.ok();
        let mut options = ConnectOptions::new(base_url);
        options
            .set_schema_search_path(schema.clone())
            .max_connections(4);
        let db = drift_engine::db::connect_with(options)
            .await
            .expect("connect to test schema");
        let separator = if base_url.contains('?') { '&' } else { '?' };
        let url = format!("{base_url}{separator}options=-c%20search_path%3D{schema}");
        Self {
            db,
            url,
            is_postgres: true,
            _dir: None,
        }
    }
}

fn rand_bytes() -> [u8; 8] {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default();
    let mixed = nanos
        ^ (u64::from(std::process::id()) << 32)
        ^ COUNTER
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    mixed.to_le_bytes()
}

/// The real HTTP server on 127.0.0.1:0 over a test database.
pub struct TestApp {
    pub base: String,
    pub db: DatabaseConnection,
    /// SQL statements the server has issued (sea-orm's metric callback).
    pub statements: Arc<AtomicUsize>,
    /// The statements themselves, for a failing count's message and for
    /// query plans.
    pub statement_log: Arc<std::sync::Mutex<Vec<sea_orm::Statement>>>,
    pub client: reqwest::Client,
    pub test_db: TestDb,
    shutdown: Option<oneshot::Sender<()>>,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(configure: impl FnOnce(&mut Config)) -> Self {
        let test_db = TestDb::new().await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr: SocketAddr = listener.local_addr().expect("local addr");
        let mut config = Config::new(test_db.url.clone(), addr);
        configure(&mut config);
        let (tx, rx) = oneshot::channel::<()>();
        let statements = Arc::new(AtomicUsize::new(0));
        let mut db = test_db.db.clone();
        let counter = statements.clone();
        let statement_log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = statement_log.clone();
        db.set_metric_callback(move |info| {
            counter.fetch_add(1, Ordering::SeqCst);
            if let Ok(mut log) = log.lock() {
                log.push(info.statement.clone());
            }
        });
        let worker_db = test_db.db.clone();
        tokio::spawn(async move {
            drift_engine::serve_with_worker_db(config, db, worker_db, listener, async {
                let _ = rx.await;
            })
            .await
            .expect("server runs");
        });
        Self {
            base: format!("http://{addr}"),
            db: test_db.db.clone(),
            statements,
            statement_log,
            client: reqwest::Client::new(),
            test_db,
            shutdown: Some(tx),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Creates a user with a fresh API token.
    pub async fn user(&self, email: &str) -> (user::Model, String) {
        tokens::create_for_email(&self.db, email, "test")
            .await
            .expect("create token")
    }

    /// POSTs a GraphQL request and returns the JSON body.
    pub async fn gql(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let mut request = self
            .client
            .post(self.url("/graphql"))
            .json(&json!({"query": query, "variables": variables}));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request sent");
        response.json().await.expect("JSON response")
    }

    /// Like `gql`, but fails the test on any GraphQL error and returns `data`.
    pub async fn gql_ok(&self, token: &str, query: &str, variables: Value) -> Value {
        let body = self.gql(Some(token), query, variables).await;
        assert!(body.get("errors").is_none(), "unexpected errors: {body}");
        body["data"].clone()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl TestApp {
    pub fn logged_statements(&self) -> Vec<String> {
        self.statement_log
            .lock()
            .map(|l| {
                l.iter()
                    .map(|s| s.sql.chars().take(120).collect())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The statements logged since the last `count_statements`.
    pub fn logged(&self) -> Vec<sea_orm::Statement> {
        self.statement_log
            .lock()
            .map(|l| l.clone())
            .unwrap_or_default()
    }

    /// Creates a workspace owned by `token`'s user and one tenant in it;
    /// returns their global ids.
    pub async fn workspace_with_tenant(&self, token: &str) -> (String, String) {
        let ws = self
            .gql_ok(
                token,
                "mutation { createWorkspace(input: {name: \"W\"}) { id } }",
                json!({}),
            )
            .await["createWorkspace"]["id"]
            .as_str()
            .expect("id")
            .to_owned();
        let tenant = self
            .gql_ok(
                token,
                "mutation($ws: ID!) { createTenant(input: {workspaceId: $ws, name: \"T\"}) { id } }",
                json!({"ws": ws}),
            )
            .await["createTenant"]["id"]
            .as_str()
            .expect("id")
            .to_owned();
        (ws, tenant)
    }

    /// Statements the server issues while answering one request.
    pub async fn count_statements(
        &self,
        token: &str,
        query: &str,
        variables: Value,
    ) -> (usize, Value) {
        self.statements.store(0, Ordering::SeqCst);
        if let Ok(mut log) = self.statement_log.lock() {
            log.clear();
        }
        let body = self.gql_ok(token, query, variables).await;
        (self.statements.load(Ordering::SeqCst), body)
    }
}

/// The `extensions.code` of the first error, if any.
pub fn error_code(body: &Value) -> Option<&str> {
    body["errors"][0]["extensions"]["code"].as_str()
}
