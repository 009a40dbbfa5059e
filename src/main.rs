use std::net::SocketAddr;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use drift_engine::config::{self, Config};
use drift_engine::{auth::tokens, bootstrap, db, graphql};
use migration::{Migrator, MigratorTrait};
use tracing_subscriber::EnvFilter;

// JSON documents are many small allocations; mimalloc was 25-30% faster than
// the system allocator on our insert and normalization paths (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "drift-engine",
    version,
    about = "Drift of managed tenants against a golden-master baseline, over GraphQL"
)]
struct Cli {
    /// Database URL: a SQLite file (created if missing) or postgres://...
    #[arg(long, global = true, env = "DATABASE_URL", default_value = config::DEFAULT_DATABASE_URL)]
    database_url: String,
    /// Log as JSON lines instead of text.
    #[arg(long, global = true, env = "DRIFT_LOG_JSON")]
    log_json: bool,
    /// An inventory listing that shrank by more than this share (0 to 1)
    /// since the type's last full listing is not believed until a second
    /// sync lists it so (an empty one after a non-empty one always waits):
    /// its items stay, and compares leave the type uncovered. 1 checks only
    /// empty listings.
    #[arg(long, global = true, env = "DRIFT_LISTING_DROP_SHARE", default_value_t = 0.5, value_parser = parse_share)]
    listing_drop_share: f64,
    #[command(flatten)]
    graph: GraphArgs,
    #[command(subcommand)]
    command: Command,
}

/// How the collector reads Microsoft Graph (`serve` and `collect`).
#[derive(clap::Args)]
struct GraphArgs {
    /// Microsoft Graph's root; a national cloud's (for example
    /// https://graph.microsoft.us) or a test server's.
    #[arg(
        long,
        global = true,
        env = "DRIFT_GRAPH_URL",
        default_value = "https://graph.microsoft.com"
    )]
    graph_url: String,
    /// The Microsoft identity platform's root that tokens come from
    /// (for example https://login.microsoftonline.us).
    #[arg(
        long,
        global = true,
        env = "DRIFT_LOGIN_URL",
        default_value = "https://login.microsoftonline.com"
    )]
    login_url: String,
    /// Graph requests in flight per tenant.
    #[arg(
        long,
        global = true,
        env = "DRIFT_GRAPH_CONCURRENCY",
        default_value_t = 4
    )]
    graph_concurrency: usize,
    /// Graph requests one collector run may make; when they run out the run
    /// ends PARTIALLY_SUCCEEDED with what it got and lists the rest as
    /// skipped. Unlimited by default.
    #[arg(long, global = true, env = "DRIFT_GRAPH_REQUEST_BUDGET")]
    graph_request_budget: Option<u64>,
}

impl GraphArgs {
    fn settings(&self) -> drift_engine::collector::graph::GraphSettings {
        drift_engine::collector::graph::GraphSettings {
            graph_url: self.graph_url.trim_end_matches('/').to_owned(),
            login_url: self.login_url.trim_end_matches('/').to_owned(),
            concurrency: self.graph_concurrency.max(1),
            request_budget: self.graph_request_budget,
            ..Default::default()
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Migrate the database and serve the API.
    Serve {
        #[arg(long, env = "DRIFT_BIND", default_value = "127.0.0.1:8080")]
        bind: SocketAddr,
        /// Largest request body accepted, in bytes.
        #[arg(long, env = "DRIFT_MAX_BODY_BYTES", default_value_t = config::DEFAULT_MAX_BODY_BYTES)]
        max_body_bytes: usize,
        /// Largest request body accepted without a valid token, in bytes.
        #[arg(long, env = "DRIFT_MAX_ANONYMOUS_BODY_BYTES", default_value_t = config::DEFAULT_MAX_ANONYMOUS_BODY_BYTES)]
        max_anonymous_body_bytes: usize,
        /// Operations in one batched POST.
        #[arg(long, env = "DRIFT_MAX_BATCH", default_value_t = config::DEFAULT_MAX_BATCH)]
        max_batch: usize,
        /// Largest answer built, in bytes; a larger one is refused.
        #[arg(long, env = "DRIFT_MAX_RESPONSE_BYTES", default_value_t = config::DEFAULT_MAX_RESPONSE_BYTES)]
        max_response_bytes: usize,
        /// Seconds a WebSocket may take to send `connection_init` (then 4408).
        #[arg(long, env = "DRIFT_WS_INIT_TIMEOUT_SECS", default_value_t = 10)]
        ws_init_timeout_secs: u64,
        /// Workers in this process that run queued captures and compares.
        #[arg(long, env = "DRIFT_WORKERS", default_value_t = 2)]
        workers: usize,
        /// A running job whose heartbeat is older than this is taken over.
        #[arg(long, env = "DRIFT_RUN_HEARTBEAT_TIMEOUT_SECS", default_value_t = 60)]
        run_heartbeat_timeout_secs: u64,
        /// Attempts before a job whose workers keep vanishing fails with `worker_lost`.
        #[arg(long, env = "DRIFT_RUN_MAX_ATTEMPTS", default_value_t = 3)]
        run_max_attempts: i32,
        /// How often idle workers look for queued runs, in milliseconds.
        #[arg(long, env = "DRIFT_WORKER_POLL_MS", default_value_t = 1000)]
        worker_poll_ms: u64,
        /// A browser origin (scheme://host[:port]) allowed to call /graphql
        /// from another site; repeat for more. None: same-origin only.
        #[arg(
            long = "cors-origin",
            env = "DRIFT_CORS_ORIGINS",
            value_delimiter = ','
        )]
        cors_origins: Vec<String>,
        /// How often workers look for due schedules, in seconds.
        #[arg(long, env = "DRIFT_SCHEDULE_INTERVAL_SECS", default_value_t = 30)]
        schedule_interval_secs: u64,
        /// The SMTP relay EMAIL channels are sent through:
        /// `smtp://host:25`, `smtp://user:pass@host:587?tls=required`
        /// (STARTTLS) or `smtps://user:pass@host` (TLS). None: EMAIL
        /// channels cannot be created.
        #[arg(long, env = "DRIFT_SMTP_URL", hide_env_values = true)]
        smtp_url: Option<String>,
        /// The From address of EMAIL notifications.
        #[arg(
            long,
            env = "DRIFT_SMTP_FROM",
            default_value = "drift-engine <drift-engine@localhost>"
        )]
        smtp_from: String,
        /// Load the demo workspace (real Intune exports) first, unless it exists.
        #[arg(long)]
        demo: bool,
        /// A file holding the key (32 bytes, base64) that seals tenant
        /// credentials; `DRIFT_SECRET_KEY` may hold the key itself instead.
        #[arg(long, env = "DRIFT_SECRET_KEY_FILE")]
        secret_key_file: Option<std::path::PathBuf>,
    },
    /// Load the demo workspace: two tenants, a profile, a captured baseline
    /// and a compare with findings of both fidelities, from real exports.
    Demo,
    /// Apply, inspect or roll back migrations.
    Migrate {
        #[command(subcommand)]
        action: MigrateAction,
    },
    /// Print the GraphQL schema (SDL).
    Schema,
    /// Record a folder of Graph JSON exports for a tenant: an inventory sync
    /// of every type found (a full listing of each type) plus a policy
    /// version per export. Reads drift-engine's layout (folders named by
    /// Graph collection), IntuneCD and IntuneManagement backups, and Graph
    /// list responses; UTF-8, or UTF-16 with a byte-order mark.
    Import {
        /// The tenant: its numeric id or its GraphQL global id.
        #[arg(long)]
        tenant: String,
        /// The policy type of every file; by default the folders (or an
        /// export's `@odata.context`) tell.
        #[arg(long)]
        policy_type: Option<String>,
        /// The backup's folder layout; detected from the folder names by
        /// default.
        #[arg(long, value_enum)]
        layout: Option<drift_engine::import::Layout>,
        /// Exit 0 even when files were skipped (their types are still
        /// recorded as FAILED, so nothing of theirs is marked removed).
        #[arg(long)]
        allow_skipped: bool,
        dir: std::path::PathBuf,
    },
    /// Read a tenant from Microsoft Graph through its connection: queue an
    /// inventory sync (and with --content a policy capture), run them here
    /// unless a server's worker takes them first, show their progress, and
    /// print the coverage per type. Exits non-zero when a run fails.
    Collect {
        /// The tenant: its numeric id or its GraphQL global id.
        #[arg(long)]
        tenant: String,
        /// Graph collection names, comma-separated; every collectable type
        /// by default.
        #[arg(long, value_delimiter = ',')]
        types: Vec<String>,
        /// Fetch full content too, after the inventory sync succeeds.
        #[arg(long)]
        content: bool,
        /// As for `serve`: the key that opens the tenant's credential.
        #[arg(long, env = "DRIFT_SECRET_KEY_FILE")]
        secret_key_file: Option<std::path::PathBuf>,
    },
    /// Write a findings report of one tenant against one profile, as
    /// `GET /reports/findings` serves it, from the local database: CSV,
    /// JSON or a printable HTML page, streamed to --output or stdout.
    Report {
        /// The tenant: its numeric id or its GraphQL global id.
        #[arg(long)]
        tenant: String,
        /// The baseline profile: its numeric id or its GraphQL global id.
        #[arg(long)]
        profile: String,
        #[arg(long, value_enum, default_value = "html")]
        format: ReportFormat,
        /// Statuses to list, comma-separated (OPEN, ACKNOWLEDGED, ACCEPTED,
        /// RESOLVED); every status but RESOLVED by default.
        #[arg(long)]
        status: Option<String>,
        /// Where to write it; stdout by default.
        #[arg(long, short)]
        output: Option<std::path::PathBuf>,
    },
    /// Compare a tenant against a profile, for scripts and CI: with --wait
    /// it follows the run and prints the findings summary. Exit codes: 0 no
    /// drift (as --fail-on counts it), 2 drift, 1 error. Without --server it
    /// uses the local database; with it, it is a GraphQL client of that
    /// server and needs only a token.
    Compare {
        /// The tenant: its numeric id or its GraphQL global id.
        #[arg(long)]
        tenant: String,
        /// The baseline profile: its numeric id or its GraphQL global id.
        #[arg(long)]
        profile: String,
        /// A drift-engine server (`https://drift.example.com`) to ask.
        #[arg(long, env = "DRIFT_SERVER")]
        server: Option<String>,
        /// The API token for --server.
        #[arg(long, env = "DRIFT_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// Follow the compare to its end and print the summary.
        #[arg(long)]
        wait: bool,
        /// With --wait: give up (exit 1) after this many seconds.
        #[arg(long, default_value_t = 3600)]
        timeout: u64,
        #[arg(long, value_enum, default_value = "table")]
        format: OutputFormat,
        /// What exits 2: `new` drift found by this compare (new or
        /// reopened findings), `any` open or acknowledged finding after it,
        /// or `none`.
        #[arg(long, value_enum, default_value = "none")]
        fail_on: FailOnArg,
    },
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        action: TokenAction,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum OutputFormat {
    Table,
    Json,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum FailOnArg {
    None,
    New,
    Any,
}

impl From<FailOnArg> for drift_engine::cli::compare::FailOn {
    fn from(f: FailOnArg) -> Self {
        match f {
            FailOnArg::None => Self::None,
            FailOnArg::New => Self::New,
            FailOnArg::Any => Self::Any,
        }
    }
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ReportFormat {
    Csv,
    Json,
    Html,
}

impl From<ReportFormat> for drift_engine::delivery::report::Format {
    fn from(f: ReportFormat) -> Self {
        match f {
            ReportFormat::Csv => Self::Csv,
            ReportFormat::Json => Self::Json,
            ReportFormat::Html => Self::Html,
        }
    }
}

#[derive(Subcommand)]
enum MigrateAction {
    /// Apply every pending migration.
    Up,
    /// Roll back migrations (the last one by default).
    Down {
        #[arg(long, default_value_t = 1)]
        steps: u32,
    },
    /// List migrations and whether each is applied.
    Status,
}

#[derive(Subcommand)]
enum TokenAction {
    /// Create a user if needed and print a new API token (shown once).
    Create {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "cli")]
        name: String,
        /// How long it lives, as an ISO 8601 duration (`P90D`); forever
        /// when omitted.
        #[arg(long)]
        expires: Option<String>,
        /// A token refused every mutation.
        #[arg(long)]
        read_only: bool,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_tracing(cli.log_json);
    match cli.command {
        Command::Schema => {
            print!("{}", graphql::sdl());
        }
        Command::Serve {
            bind,
            max_body_bytes,
            max_anonymous_body_bytes,
            max_batch,
            max_response_bytes,
            ws_init_timeout_secs,
            workers,
            run_heartbeat_timeout_secs,
            run_max_attempts,
            worker_poll_ms,
            schedule_interval_secs,
            smtp_url,
            smtp_from,
            cors_origins,
            demo,
            secret_key_file,
        } => {
            let secret_key = load_secret_key(secret_key_file.as_deref())?;
            let db = db::connect(&cli.database_url)
                .await
                .context("connecting to the database")?;
            db::migrate(&db).await.context("applying migrations")?;
            bootstrap::run(&db, &cli.database_url).await?;
            if demo {
                load_demo(&db).await?;
            }
            let mut config = Config::new(cli.database_url, bind);
            config.max_body_bytes = max_body_bytes;
            config.max_anonymous_body_bytes = max_anonymous_body_bytes.min(max_body_bytes);
            config.max_batch = max_batch.max(1);
            config.max_response_bytes = max_response_bytes;
            config.ws_init_timeout = std::time::Duration::from_secs(ws_init_timeout_secs.max(1));
            config.listing = drift_engine::evidence::ingest::ListingGuard {
                max_drop_share: cli.listing_drop_share,
            };
            config.secret_key = secret_key;
            config.workers = drift_engine::runs::worker::WorkerSettings {
                count: workers,
                poll_interval: std::time::Duration::from_millis(worker_poll_ms.max(10)),
                heartbeat_timeout: std::time::Duration::from_secs(
                    run_heartbeat_timeout_secs.max(1),
                ),
                max_attempts: run_max_attempts.max(1),
                schedule_interval: std::time::Duration::from_secs(schedule_interval_secs.max(1)),
                ..Default::default()
            };
            config.graph = cli.graph.settings();
            config.delivery.smtp =
                smtp_url.map(|url| drift_engine::delivery::deliver::SmtpSettings {
                    url,
                    from: smtp_from,
                });
            // A relay URL that does not parse stops the start, not a delivery.
            drift_engine::delivery::deliver::Senders::new(&config.delivery)?;
            config.cors_origins = cors_origins
                .iter()
                .map(|o| parse_origin(o))
                .collect::<anyhow::Result<_>>()?;
            let listener = tokio::net::TcpListener::bind(bind)
                .await
                .with_context(|| format!("binding {bind}"))?;
            drift_engine::http::graphiql::log_asset_source();
            drift_engine::serve(config, db, listener, shutdown_signal()).await?;
        }
        Command::Demo => {
            let db = db::connect(&cli.database_url)
                .await
                .context("connecting to the database")?;
            db::migrate(&db).await.context("applying migrations")?;
            load_demo(&db).await?;
        }
        Command::Migrate { action } => {
            let db = db::connect(&cli.database_url)
                .await
                .context("connecting to the database")?;
            match action {
                MigrateAction::Up => Migrator::up(&db, None).await?,
                MigrateAction::Down { steps } => Migrator::down(&db, Some(steps)).await?,
                MigrateAction::Status => {
                    for m in Migrator::get_migration_with_status(&db).await? {
                        println!("{}\t{}", m.name(), m.status());
                    }
                }
            }
        }
        Command::Import {
            tenant,
            policy_type,
            layout,
            allow_skipped,
            dir,
        } => {
            let tenant_id = parse_tenant_id(&tenant)?;
            let db = db::connect(&cli.database_url)
                .await
                .context("connecting to the database")?;
            db::migrate(&db).await.context("applying migrations")?;
            let options = drift_engine::import::ImportOptions {
                policy_type: policy_type.as_deref(),
                layout,
                guard: drift_engine::evidence::ingest::ListingGuard {
                    max_drop_share: cli.listing_drop_share,
                },
            };
            let report = drift_engine::import::import_dir(&db, tenant_id, &dir, options).await?;
            let layout_name = report.layout.map_or("-", |l| l.name());
            for (path, reason) in &report.ignored {
                eprintln!("ignored {}: {reason}", path.display());
            }
            for (path, reason) in &report.skipped {
                eprintln!("skipped {}: {reason}", path.display());
            }
            if !report.recognized_any() {
                anyhow::bail!(
                    "no export recognized in {} (read as the {layout_name} layout); name the layout with --layout or the type with --policy-type",
                    dir.display()
                );
            }
            println!(
                "imported {} policies as the {layout_name} layout (inventory_sync run {}, policy_capture run {}); {} skipped, {} ignored, {} not normalizable",
                report.exports_read,
                report
                    .inventory_run_id
                    .map_or("-".into(), |id| id.to_string()),
                report
                    .capture_run_id
                    .map_or("-".into(), |id| id.to_string()),
                report.skipped.len(),
                report.ignored.len(),
                report.versions_not_normalizable,
            );
            if !report.failed_types.is_empty() {
                eprintln!(
                    "recorded as FAILED (nothing of theirs marked removed): {}",
                    report.failed_types.join(", ")
                );
            }
            if !report.skipped.is_empty() && !allow_skipped {
                anyhow::bail!(
                    "{} files were skipped; fix them, or pass --allow-skipped to accept the import as it is",
                    report.skipped.len()
                );
            }
        }
        Command::Compare {
            tenant,
            profile,
            server,
            token,
            wait,
            timeout,
            format,
            fail_on,
        } => {
            use drift_engine::cli::compare::{self, Started};
            use graphql::ids::NodeKind;
            let fail_on: compare::FailOn = fail_on.into();
            if !wait && fail_on != compare::FailOn::None {
                anyhow::bail!("--fail-on needs --wait: without it the compare is only queued");
            }
            let limit = wait.then(|| std::time::Duration::from_secs(timeout.max(1)));
            let started = match server {
                Some(server) => {
                    let token = token.ok_or_else(|| {
                        anyhow::anyhow!("--server needs a token: --token or DRIFT_TOKEN")
                    })?;
                    let global =
                        |text: &str, kind: NodeKind, flag: &str| -> anyhow::Result<String> {
                            Ok(graphql::ids::encode(kind, parse_id(text, kind, flag)?).0)
                        };
                    compare::Remote::new(&server, &token)?
                        .compare(
                            &global(&tenant, NodeKind::Tenant, "--tenant")?,
                            &global(&profile, NodeKind::BaselineProfile, "--profile")?,
                            limit,
                        )
                        .await?
                }
                None => {
                    let tenant_id = parse_tenant_id(&tenant)?;
                    let profile_id = parse_id(&profile, NodeKind::BaselineProfile, "--profile")?;
                    let db = db::connect(&cli.database_url)
                        .await
                        .context("connecting to the database")?;
                    db::migrate(&db).await.context("applying migrations")?;
                    let mut config =
                        Config::new(cli.database_url.clone(), ([127, 0, 0, 1], 0).into());
                    config.listing = drift_engine::evidence::ingest::ListingGuard {
                        max_drop_share: cli.listing_drop_share,
                    };
                    let settings = drift_engine::worker_settings(&config)?;
                    compare::local(&db, &settings, tenant_id, profile_id, limit, |id| {
                        graphql::ids::encode(NodeKind::OperationRun, id).0
                    })
                    .await?
                }
            };
            match started {
                Started::Queued { run_id, created } => match format {
                    OutputFormat::Json => println!(
                        "{}",
                        serde_json::json!({"run": {"id": run_id, "status": "QUEUED", "created": created}})
                    ),
                    OutputFormat::Table => println!(
                        "compare {run_id} queued{}",
                        if created {
                            ""
                        } else {
                            " (one was already queued)"
                        }
                    ),
                },
                Started::Done(result) => {
                    match format {
                        OutputFormat::Json => println!("{}", result.to_json(fail_on)),
                        OutputFormat::Table => print!("{}", result.table()),
                    }
                    let code = result.exit_code(fail_on);
                    if code != 0 {
                        use std::io::Write as _;
                        let _ = std::io::stdout().flush();
                        std::process::exit(code);
                    }
                }
            }
        }
        Command::Report {
            tenant,
            profile,
            format,
            status,
            output,
        } => {
            let tenant_id = parse_tenant_id(&tenant)?;
            let profile_id = parse_id(
                &profile,
                graphql::ids::NodeKind::BaselineProfile,
                "--profile",
            )?;
            let statuses = match &status {
                Some(text) => drift_engine::delivery::report::parse_statuses(text)
                    .map_err(|e| anyhow::anyhow!("--status: {e}"))?,
                None => drift_engine::delivery::report::DEFAULT_STATUSES.to_vec(),
            };
            let db = db::connect(&cli.database_url)
                .await
                .context("connecting to the database")?;
            db::migrate(&db).await.context("applying migrations")?;
            let format = format.into();
            match output {
                Some(path) => {
                    let mut file = tokio::io::BufWriter::new(
                        tokio::fs::File::create(&path)
                            .await
                            .with_context(|| format!("creating {}", path.display()))?,
                    );
                    let bytes = drift_engine::cli::report::write(
                        &db, tenant_id, profile_id, format, statuses, &mut file,
                    )
                    .await?;
                    eprintln!("wrote {bytes} bytes to {}", path.display());
                }
                None => {
                    let mut out = tokio::io::BufWriter::new(tokio::io::stdout());
                    drift_engine::cli::report::write(
                        &db, tenant_id, profile_id, format, statuses, &mut out,
                    )
                    .await?;
                }
            }
        }
        Command::Collect {
            tenant,
            types,
            content,
            secret_key_file,
        } => {
            let tenant_id = parse_tenant_id(&tenant)?;
            let secret_key = load_secret_key(secret_key_file.as_deref())?;
            let db = db::connect(&cli.database_url)
                .await
                .context("connecting to the database")?;
            db::migrate(&db).await.context("applying migrations")?;
            let mut config = Config::new(cli.database_url.clone(), ([127, 0, 0, 1], 0).into());
            config.secret_key = secret_key;
            config.graph = cli.graph.settings();
            config.listing = drift_engine::evidence::ingest::ListingGuard {
                max_drop_share: cli.listing_drop_share,
            };
            let settings = drift_engine::worker_settings(&config)?;
            let failed =
                drift_engine::cli::collect::collect(&db, &settings, tenant_id, &types, content)
                    .await?;
            if failed {
                std::process::exit(1);
            }
        }
        Command::Token {
            action:
                TokenAction::Create {
                    email,
                    name,
                    expires,
                    read_only,
                },
        } => {
            let db = db::connect(&cli.database_url)
                .await
                .context("connecting to the database")?;
            db::migrate(&db).await.context("applying migrations")?;
            let expires_at = match expires {
                Some(every) => {
                    let seconds = iso8601::duration(every.trim())
                        .map(std::time::Duration::from)
                        .map_err(|e| {
                            anyhow::anyhow!(
                                "--expires `{every}` is not an ISO 8601 duration such as P90D ({e})"
                            )
                        })?;
                    Some(chrono::Utc::now() + chrono::Duration::from_std(seconds)?)
                }
                None => None,
            };
            let user = tokens::find_or_create_user(&db, &email, None)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let (_, token) = tokens::create_with(
                &db,
                user.id,
                &name,
                tokens::TokenOptions {
                    expires_at,
                    read_only,
                },
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            eprintln!(
                "created a token for {} (shown once; store it now):",
                user.email
            );
            println!("{token}");
        }
    }
    Ok(())
}

async fn load_demo(db: &sea_orm::DatabaseConnection) -> anyhow::Result<()> {
    use drift_engine::demo::{self, Outcome};
    match demo::load(db).await.context("loading the demo data")? {
        Outcome::AlreadyLoaded { workspace_id } => {
            tracing::info!(
                workspace_id,
                "the demo workspace exists already; left as it is"
            );
        }
        Outcome::Loaded(report) => {
            tracing::info!(
                workspace_id = report.workspace_id,
                compare_run_id = report.compare_run_id,
                policies = report.policies,
                owner = %report.owner_email,
                "loaded the demo workspace: open http://<bind>/graphql in a browser and query `findings`"
            );
            if let Some(token) = report.new_owner_token {
                // Shown once on the terminal, never logged.
                eprintln!(
                    "API token for {} (shown once; store it now):",
                    report.owner_email
                );
                println!("{token}");
            }
        }
    }
    Ok(())
}

fn parse_tenant_id(text: &str) -> anyhow::Result<i64> {
    parse_id(text, graphql::ids::NodeKind::Tenant, "--tenant")
}

/// A numeric id, or a global id of `kind`.
fn parse_id(text: &str, kind: graphql::ids::NodeKind, flag: &str) -> anyhow::Result<i64> {
    if let Ok(id) = text.parse() {
        return Ok(id);
    }
    graphql::ids::decode_as(&async_graphql::ID(text.to_owned()), kind)
        .map_err(|e| anyhow::anyhow!("{flag}: {e}"))
}

fn init_tracing(json: bool) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}

fn parse_share(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(share) if (0.0..=1.0).contains(&share) => Ok(share),
        _ => Err(format!(
            "`{text}` is not a share between 0 and 1 (for example 0.5)"
        )),
    }
}

/// The key that seals tenant credentials: from `--secret-key-file`, else
/// from `DRIFT_SECRET_KEY`; none is fine (credentials then cannot be set),
/// a malformed one stops the server.
fn load_secret_key(
    file: Option<&std::path::Path>,
) -> anyhow::Result<Option<drift_engine::collector::secrets::SecretKey>> {
    use drift_engine::collector::secrets::SecretKey;
    let text = match file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("reading the secret key file {}", path.display()))?,
        ),
        None => std::env::var("DRIFT_SECRET_KEY")
            .ok()
            .filter(|k| !k.trim().is_empty()),
    };
    text.map(|t| SecretKey::from_base64(&t).context("DRIFT_SECRET_KEY / --secret-key-file"))
        .transpose()
}

/// `scheme://host[:port]`, as browsers send `Origin`.
fn parse_origin(text: &str) -> anyhow::Result<axum::http::HeaderValue> {
    let text = text.trim().trim_end_matches('/');
    let url = reqwest::Url::parse(text)
        .map_err(|e| anyhow::anyhow!("--cors-origin `{text}` is not an origin ({e})"))?;
    anyhow::ensure!(
        matches!(url.scheme(), "http" | "https")
            && url.host_str().is_some()
            && url.path() == "/"
            && url.query().is_none(),
        "--cors-origin `{text}` is not an origin: give scheme://host[:port], no path"
    );
    Ok(axum::http::HeaderValue::from_str(text)?)
}
