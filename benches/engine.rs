//! `cargo bench --bench engine [-- --backend sqlite|postgres|both] [--sizes 500,10000,100000]
//! [--findings 1000000] [--ingest 20000] [--load-secs 5]`
//!
//! Measures the engine against the goals of issue #6 on real databases: a
//! SQLite file and a fresh PostgreSQL database. Data is built from the shapes
//! of the real corpus: every subject is a corpus export of its type, varied,
//! with content evidence for half of them and 1% drifted. Prints one
//! markdown table per backend (BENCHMARKS.md holds a run of it).
//!
//! Times are wall-clock on this machine; statements are counted through
//! sea-orm's metric callback; peak RSS is the process high-water mark, reset
//! (`/proc/self/clear_refs`) before each measured step.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use async_graphql::{Request, Variables};
use chrono::Utc;
use clap::Parser;
use drift_engine::auth::{Viewer, tokens};
use drift_engine::config::{Config, GraphqlLimits};
use drift_engine::directory;
use drift_engine::drift::profiles::{self, ProfileChanges, Scope};
use drift_engine::drift::{capture, compare};
use drift_engine::evidence::ingest::{
    self, InventoryItemInput, InventorySync, PolicyTypeStatus, PolicyVersionInput, PolicyVersions,
};
use drift_engine::graphql::ids::{NodeKind, encode};
use drift_engine::graphql::{RequestAuth, build_schema, insert_request_data};
use drift_engine::import::Export;
use drift_engine::runs::{queue, worker};
use entity::enums::TenantKind;
use entity::{baseline_profile, finding, tenant};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
};
use serde_json::{Value, json};

// The allocator the server binary uses (src/main.rs), so figures match it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
struct Args {
    /// sqlite, postgres or both.
    #[arg(long, default_value = "both")]
    backend: String,
    /// Subjects per capture/compare measurement.
    #[arg(long, value_delimiter = ',', default_value = "500,10000,100000")]
    sizes: Vec<usize>,
    /// Findings stored for the page measurements.
    #[arg(long, default_value_t = 1_000_000)]
    findings: usize,
    /// Policy documents for the ingestion measurement.
    #[arg(long, default_value_t = 20_000)]
    ingest: usize,
    /// How long the HTTP load generator runs.
    #[arg(long, default_value_t = 5)]
    load_secs: u64,
    /// Concurrent clients of the load generator.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// PostgreSQL server (a database `drift_bench` is recreated on it).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432")]
    postgres: String,
    // `cargo bench` passes `--bench`.
    #[arg(long, hide = true)]
    bench: bool,
    /// Keep the PostgreSQL database `drift_bench` afterwards, to inspect it.
    #[arg(long)]
    keep_db: bool,
    /// Internal: run the queued jobs of this database in this process and
    /// print what they cost, so that peak RSS is a worker's, not the bench's.
    #[arg(long, hide = true)]
    worker_for: Option<String>,
}

/// Rows of the printed table.
struct Table {
    backend: &'static str,
    rows: Vec<[String; 2]>,
}

impl Table {
    fn row(&mut self, what: impl Into<String>, value: impl Into<String>) {
        let (what, value) = (what.into(), value.into());
        eprintln!("  {what}: {value}");
        self.rows.push([what, value]);
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    if let Some(url) = &args.worker_for {
        return runtime.block_on(drain_as_worker(url));
    }
    runtime.block_on(async {
        let mut tables = Vec::new();
        if matches!(args.backend.as_str(), "sqlite" | "both") {
            let dir = tempfile::tempdir()?;
            let url = format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("bench.db").display()
            );
            tables.push(run_backend("SQLite", &url, &args).await?);
        }
        if matches!(args.backend.as_str(), "postgres" | "both") {
            let admin = drift_engine::db::connect(&format!("{}/postgres", args.postgres)).await?;
            admin
                .execute_unprepared("DROP DATABASE IF EXISTS drift_bench WITH (FORCE)")
                .await?;
            admin
                .execute_unprepared("CREATE DATABASE drift_bench")
                .await?;
            let url = format!("{}/drift_bench", args.postgres);
            tables.push(run_backend("PostgreSQL", &url, &args).await?);
            if !args.keep_db {
                admin
                    .execute_unprepared("DROP DATABASE IF EXISTS drift_bench WITH (FORCE)")
                    .await?;
            }
        }
        print_tables(&args, &tables);
        Ok(())
    })
}

fn print_tables(args: &Args, tables: &[Table]) {
    println!();
    println!(
        "cargo bench --bench engine -- --backend {} --sizes {} --findings {} --ingest {} --load-secs {} --clients {}",
        args.backend,
        args.sizes
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(","),
        args.findings,
        args.ingest,
        args.load_secs,
        args.clients,
    );
    println!();
    let backends: Vec<&str> = tables.iter().map(|t| t.backend).collect();
    println!("| measurement | {} |", backends.join(" | "));
    println!("|---|{}", "---|".repeat(backends.len()));
    if let Some(first) = tables.first() {
        for (i, [what, _]) in first.rows.iter().enumerate() {
            let values: Vec<&str> = tables
                .iter()
                .map(|t| t.rows.get(i).map_or("", |r| r[1].as_str()))
                .collect();
            println!("| {what} | {} |", values.join(" | "));
        }
    }
}

/// Counts the statements issued through one database handle.
fn metered(db: &DatabaseConnection) -> (DatabaseConnection, Arc<AtomicU64>) {
    let counter = Arc::new(AtomicU64::new(0));
    let mut metered = db.clone();
    let c = counter.clone();
    metered.set_metric_callback(move |_| {
        c.fetch_add(1, Ordering::Relaxed);
    });
    (metered, counter)
}

/// The process's peak resident set size (VmHWM), in MB.
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// The whole machine's CPU time so far, in ms: (busy, idle, stolen by the
/// hypervisor). Busy counts every process, the database server's included,
/// so that a change which moves work between the engine and the server, or
/// leaves cores waiting, shows in it.
fn machine_cpu() -> (f64, f64, f64) {
    let fields: Vec<f64> = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| {
            let line = s.lines().next()?.strip_prefix("cpu ")?.to_owned();
            Some(
                line.split_whitespace()
                    .map(|f| f.parse().unwrap_or(f64::NAN))
                    .collect(),
            )
        })
        .unwrap_or_default();
    // user nice system idle iowait irq softirq steal, in ticks of 10 ms.
    let at = |i: usize| fields.get(i).copied().unwrap_or(f64::NAN) * 10.0;
    (at(0) + at(1) + at(2) + at(5) + at(6), at(3) + at(4), at(7))
}

/// The process's CPU time so far (user and system, in clock ticks of 10 ms)
/// and its context switches (voluntary and not): a worker's CPU and thread
/// hand-offs vary far less than its wall time on a shared VM.
fn cpu_and_switches() -> (f64, u64) {
    let ticks = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // Fields after the command name, which ends with the last ')'.
            let rest = &s[s.rfind(')')? + 2..];
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let user: f64 = fields.get(11)?.parse().ok()?;
            let system: f64 = fields.get(12)?.parse().ok()?;
            Some((user + system) * 10.0)
        })
        .unwrap_or(f64::NAN);
    // Every thread's: the database driver's and the runtime's included.
    let switches = std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("status")).ok())
        .flat_map(|s| {
            s.lines()
                .filter(|l| l.contains("ctxt_switches:"))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .collect::<Vec<_>>()
        })
        .sum();
    (ticks, switches)
}

/// What running the queued jobs cost in a process of its own.
#[derive(serde::Serialize, serde::Deserialize)]
struct WorkerCost {
    secs: f64,
    statements: u64,
    peak_rss_mb: f64,
    /// CPU time of the job, in ms, and the process's context switches.
    cpu_ms: f64,
    context_switches: u64,
    executed: usize,
    /// The statement shapes that took the most database time: (SQL prefix,
    /// count, milliseconds). Printed with `BENCH_STATEMENTS=1`.
    top_statements: Vec<(String, u64, f64)>,
}

/// The child side of `measured_drain`: a fresh process, like a server's
/// worker, that connects, runs what is queued and reports.
async fn drain_as_worker(url: &str) -> Result<()> {
    let db = drift_engine::db::connect(url).await?;
    let (mut db, statements) = metered(&db);
    // Where the database time goes: total time per statement shape.
    let by_shape: Arc<std::sync::Mutex<std::collections::HashMap<String, (u64, Duration)>>> =
        Arc::default();
    let sink = by_shape.clone();
    let counter = statements.clone();
    db.set_metric_callback(move |info| {
        counter.fetch_add(1, Ordering::Relaxed);
        let shape: String = info.statement.sql.chars().take(90).collect();
        if let Ok(mut map) = sink.lock() {
            let entry = map.entry(shape).or_default();
            entry.0 += 1;
            entry.1 += info.elapsed;
        }
    });
    // A server's workers run on a warm pool. Open the connections a job
    // uses at once (its main one, its heartbeat's, and the two reads of a
    // tenant and a baseline that run side by side) before the clock starts,
    // so a job is not charged for the process's TCP and TLS handshakes.
    futures_util::future::try_join_all((0..4).map(|_| db.execute_unprepared("SELECT 1"))).await?;
    statements.store(0, Ordering::Relaxed);
    if let Ok(mut map) = by_shape.lock() {
        map.clear();
    }
    let (cpu_before, switches_before) = cpu_and_switches();
    let started = Instant::now();
    let executed = worker::drain(&db, &worker::WorkerSettings::default()).await?;
    // Read once, right after the job: /proc is read per thread for switches.
    let (cpu_after, switches_after) = cpu_and_switches();
    let mut top_statements: Vec<(String, u64, f64)> = by_shape
        .lock()
        .map(|map| {
            map.iter()
                .map(|(shape, (n, total))| (shape.clone(), *n, total.as_secs_f64() * 1000.0))
                .collect()
        })
        .unwrap_or_default();
    top_statements.sort_by(|a, b| b.2.total_cmp(&a.2));
    top_statements.truncate(6);
    let cost = WorkerCost {
        secs: started.elapsed().as_secs_f64(),
        statements: statements.load(Ordering::Relaxed),
        peak_rss_mb: peak_rss_mb(),
        cpu_ms: cpu_after - cpu_before,
        context_switches: switches_after - switches_before,
        executed,
        top_statements,
    };
    println!("{}", serde_json::to_string(&cost)?);
    Ok(())
}

struct Fixture {
    url: String,
    db: DatabaseConnection,
    user_id: i64,
    workspace_id: i64,
    shapes: Vec<Export>,
    types: Vec<String>,
}

async fn run_backend(name: &'static str, url: &str, args: &Args) -> Result<Table> {
    eprintln!("== {name}");
    let db = drift_engine::db::connect(url).await.context("connect")?;
    drift_engine::db::migrate(&db).await?;
    let (user, token) = tokens::create_for_email(&db, "bench@drift-engine.local", "bench")
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let (ws, _) = directory::create_workspace(&db, user.id, "bench")
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let shapes = drift_engine::demo::current_exports()?;
    let mut types: Vec<String> = shapes.iter().map(|e| e.policy_type.clone()).collect();
    types.sort();
    types.dedup();
    let fx = Fixture {
        url: url.to_owned(),
        db,
        user_id: user.id,
        workspace_id: ws.id,
        shapes,
        types,
    };
    let mut table = Table {
        backend: name,
        rows: Vec::new(),
    };

    ingestion(&fx, args.ingest, &mut table).await?;
    let mut last_compare = None;
    for &size in &args.sizes {
        last_compare = Some(capture_and_compare(&fx, size, &mut table).await?);
    }
    if args.findings > 0 {
        let (profile, snapshot_id, runs) = last_compare.context("--sizes must not be empty")?;
        findings_page(&fx, &profile, snapshot_id, runs, &token, args, &mut table).await?;
    }
    hostile_requests(&fx, &mut table).await?;
    Ok(table)
}

/// The real server on loopback, without workers; send on the sender to stop
/// it, then await the handle.
async fn start_server(
    fx: &Fixture,
) -> Result<(
    std::net::SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<anyhow::Result<()>>,
)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let mut config = Config::new(String::new(), addr);
    config.workers.count = 0;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server_db = fx.db.clone();
    let server = tokio::spawn(async move {
        drift_engine::serve(config, server_db, listener, async {
            let _ = stopped.await;
        })
        .await
    });
    Ok((addr, stop, server))
}

/// `{ ...Cn }` where each fragment spreads the one before it twice: about
/// 1.8 KB at n = 30, 2^31 selections once expanded (issue 18).
fn fragment_bomb(n: usize) -> String {
    let mut q = format!("{{ ...C{n} }} fragment C0 on Query {{ viewer {{ email }} }}");
    for i in 1..=n {
        q.push_str(&format!(
            " fragment C{i} on Query {{ a: viewer {{ id }} ...C{p} ...C{p} }}",
            p = i - 1
        ));
    }
    q
}

/// The fragment bomb, sent without a token to the real server: how long its
/// refusal takes, and how long `/healthz` takes while four are in flight.
async fn hostile_requests(fx: &Fixture, table: &mut Table) -> Result<()> {
    let (addr, stop, server) = start_server(fx).await?;
    let client = reqwest::Client::new();
    let graphql = format!("http://{addr}/graphql");
    let bomb = serde_json::json!({"query": fragment_bomb(30)});
    async fn send_bomb(client: reqwest::Client, url: String, bomb: Value) -> Result<()> {
        let body: Value = client.post(&url).json(&bomb).send().await?.json().await?;
        anyhow::ensure!(
            body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT",
            "the bomb was not refused: {body}"
        );
        Ok(())
    }
    let mut samples = Vec::new();
    for _ in 0..50 {
        let started = Instant::now();
        send_bomb(client.clone(), graphql.clone(), bomb.clone()).await?;
        samples.push(started.elapsed());
    }
    let (p50, p99) = percentiles(&mut samples);
    table.row(
        "fragment bomb n = 30 (1.8 KB, no token), refused: p50 / max",
        format!(
            "{:.2} ms / {:.2} ms",
            ms(p50),
            ms(*samples.last().unwrap_or(&p99))
        ),
    );

    let deadline = Instant::now() + Duration::from_secs(3);
    let bombers: Vec<_> = (0..4)
        .map(|_| {
            let (client, graphql, bomb) = (client.clone(), graphql.clone(), bomb.clone());
            tokio::spawn(async move {
                let mut sent = 0u64;
                while Instant::now() < deadline {
                    send_bomb(client.clone(), graphql.clone(), bomb.clone()).await?;
                    sent += 1;
                }
                anyhow::Ok(sent)
            })
        })
        .collect();
    let healthz = format!("http://{addr}/healthz");
    let mut health = Vec::new();
    while Instant::now() < deadline {
        let started = Instant::now();
        let status = client.get(&healthz).send().await?.status();
        health.push(started.elapsed());
        anyhow::ensure!(status.is_success(), "/healthz answered {status}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut bombs = 0;
    for bomber in bombers {
        bombs += bomber.await??;
    }
    let (p50, p99) = percentiles(&mut health);
    table.row(
        "/healthz while 4 clients send fragment bombs for 3 s: p50 / p99 / max / bombs refused",
        format!(
            "{:.2} ms / {:.2} ms / {:.2} ms / {bombs}",
            ms(p50),
            ms(p99),
            ms(*health.last().unwrap_or(&p99))
        ),
    );
    let _ = stop.send(());
    server.await??;
    Ok(())
}

/// One document for subject `i`: the corpus export of its shape, renamed and
/// varied; `drifted` changes a setting and the description.
fn document(fx: &Fixture, i: usize, drifted: bool) -> (String, String, String, Value) {
    vary(&fx.shapes[i % fx.shapes.len()], i, drifted)
}

fn vary(shape: &Export, i: usize, drifted: bool) -> (String, String, String, Value) {
    let mut content = shape.content.clone();
    let id = format!("bench-{i:07}");
    let name = format!("{} #{i}", shape.display_name);
    if let Some(map) = content.as_object_mut() {
        map.insert("id".into(), json!(id));
        map.insert("displayName".into(), json!(name));
        let description = if drifted {
            format!("variant {i}, edited locally")
        } else {
            format!("variant {i}")
        };
        map.insert("description".into(), json!(description));
        map.insert(
            "benchSetting".into(),
            json!(if drifted { i + 1 } else { i }),
        );
    }
    (shape.policy_type.clone(), id, name, content)
}

async fn record_tenant(
    fx: &Fixture,
    tenant: &tenant::Model,
    size: usize,
    drift_every: Option<usize>,
) -> Result<()> {
    let drifted = |i: usize| drift_every.is_some_and(|k| i % k == k / 2);
    let mut items = Vec::with_capacity(size);
    for i in 0..size {
        let (policy_type, external_id, display_name, content) = document(fx, i, drifted(i));
        items.push(InventoryItemInput {
            meta: Value::Object(drift_engine::evidence::meta::contract_fields(
                &policy_type,
                &content,
            )),
            policy_type,
            external_id,
            display_name,
        });
    }
    let sync = InventorySync {
        observed_at: Utc::now(),
        policy_types: fx
            .types
            .iter()
            .map(|t| PolicyTypeStatus {
                policy_type: t.clone(),
                succeeded: true,
                item_count: None,
                error: None,
                confirm_empty: false,
            })
            .collect(),
        items,
        warnings: Vec::new(),
        guard: Default::default(),
    };
    ingest::record_inventory_sync(&fx.db, None, tenant, sync)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    // Content evidence for every other subject, posted in batches of 1,000.
    let with_content: Vec<usize> = (0..size).filter(|i| i % 2 == 0).collect();
    for batch in with_content.chunks(1_000) {
        let versions = batch
            .iter()
            .map(|&i| {
                let (policy_type, external_id, _, content) = document(fx, i, drifted(i));
                PolicyVersionInput {
                    policy_type,
                    external_id,
                    content,
                }
            })
            .collect();
        ingest::record_policy_versions(
            &fx.db,
            None,
            tenant,
            PolicyVersions {
                captured_at: Utc::now(),
                versions,
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    Ok(())
}

async fn new_tenant(fx: &Fixture, name: &str) -> Result<tenant::Model> {
    directory::create_tenant(
        &fx.db,
        fx.user_id,
        fx.workspace_id,
        name,
        TenantKind::Intune,
        None,
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))
}

/// Ingestion of `docs` policy versions in calls of 1,000, shaped like the
/// whole corpus, like its documents of 4-12 KB (6.2 KB on average: the
/// corpus has few between 8 and 13 KB), and like its documents of 7-9 KB,
/// each about 8 KB as the target of issue #6 has them.
async fn ingestion(fx: &Fixture, docs: usize, table: &mut Table) -> Result<()> {
    let size = |e: &Export| serde_json::to_vec(&e.content).map_or(0, |b| b.len());
    let sized = |bytes: std::ops::RangeInclusive<usize>| -> Vec<Export> {
        fx.shapes
            .iter()
            .filter(|e| bytes.contains(&size(e)))
            .cloned()
            .collect()
    };
    let (mid, eight) = (sized(4_096..=12_288), sized(7_000..=9_216));
    for (label, shapes) in [
        ("corpus mix", &fx.shapes),
        ("4-12 KB", &mid),
        ("each about 8 KB (7-9 KB)", &eight),
    ] {
        anyhow::ensure!(!shapes.is_empty(), "no corpus shapes for {label}");
        let tenant = new_tenant(fx, &format!("ingestion {label}")).await?;
        let batches: Vec<Vec<PolicyVersionInput>> = (0..docs)
            .collect::<Vec<_>>()
            .chunks(1_000)
            .map(|chunk| {
                chunk
                    .iter()
                    .map(|&i| {
                        let (policy_type, external_id, _, content) =
                            vary(&shapes[i % shapes.len()], i, false);
                        PolicyVersionInput {
                            policy_type,
                            external_id,
                            content,
                        }
                    })
                    .collect()
            })
            .collect();
        let bytes: usize = batches
            .iter()
            .flatten()
            .map(|v| serde_json::to_vec(&v.content).map_or(0, |b| b.len()))
            .sum();
        let (cpu_before, _) = cpu_and_switches();
        let machine_before = machine_cpu();
        let started = Instant::now();
        for versions in batches {
            ingest::record_policy_versions(
                &fx.db,
                None,
                &tenant,
                PolicyVersions {
                    captured_at: Utc::now(),
                    versions,
                },
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        let secs = started.elapsed().as_secs_f64();
        if std::env::var_os("BENCH_STATEMENTS").is_some() {
            // This process normalizes, hashes and sends; the machine's
            // figures add the server's share and the time cores waited.
            let (busy, idle, stolen) = machine_cpu();
            let busy = busy - machine_before.0;
            eprintln!(
                "    ingestion, {label}: this process {:.0} ms CPU; machine {busy:.0} ms busy \
                 ({:.0} µs a document), {:.0} ms idle, {:.0} ms stolen",
                cpu_and_switches().0 - cpu_before,
                busy * 1000.0 / docs.max(1) as f64,
                idle - machine_before.1,
                stolen - machine_before.2,
            );
        }
        table.row(
            format!(
                "ingestion, {label}: {docs} policy versions (avg {:.1} KB), normalize + hash + store",
                bytes as f64 / docs.max(1) as f64 / 1024.0
            ),
            format!(
                "{:.0} docs/s, {:.1} MB/s ({secs:.2} s)",
                docs as f64 / secs,
                bytes as f64 / secs / 1_048_576.0
            ),
        );
    }
    Ok(())
}

/// Runs the queued job in a child process (this bench, `--worker-for`):
/// (seconds, statements, the child's peak RSS in MB).
async fn measured_drain(fx: &Fixture) -> Result<(f64, u64, f64)> {
    // BENCH_WORKER_WRAPPER runs the worker under another program, e.g.
    // `valgrind --tool=callgrind`, whose instruction counts do not vary with
    // the load of a shared machine as wall time does.
    let wrapper = std::env::var("BENCH_WORKER_WRAPPER").unwrap_or_default();
    let mut wrapper = wrapper.split_whitespace();
    let mut command = match wrapper.next() {
        Some(program) => {
            let mut command = tokio::process::Command::new(program);
            command.args(wrapper).arg(std::env::current_exe()?);
            command
        }
        None => tokio::process::Command::new(std::env::current_exe()?),
    };
    let output = command.arg("--worker-for").arg(&fx.url).output().await?;
    anyhow::ensure!(output.status.success(), "the worker process failed");
    let cost: WorkerCost = serde_json::from_slice(&output.stdout)?;
    anyhow::ensure!(
        cost.executed == 1,
        "expected one run, executed {}",
        cost.executed
    );
    if std::env::var_os("BENCH_STATEMENTS").is_some() {
        eprintln!(
            "    worker: {:.0} ms CPU, {} context switches",
            cost.cpu_ms, cost.context_switches
        );
        for (shape, n, ms) in &cost.top_statements {
            eprintln!("    {ms:>9.1} ms {n:>5}x  {shape}");
        }
    }
    Ok((cost.secs, cost.statements, cost.peak_rss_mb))
}

async fn capture_and_compare(
    fx: &Fixture,
    size: usize,
    table: &mut Table,
) -> Result<(baseline_profile::Model, i64, (i64, i64))> {
    let source = new_tenant(fx, &format!("source-{size}")).await?;
    let target = new_tenant(fx, &format!("target-{size}")).await?;
    record_tenant(fx, &source, size, None).await?;
    let profile = profiles::create_profile(
        &fx.db,
        fx.user_id,
        fx.workspace_id,
        ProfileChanges {
            name: Some(format!("bench {size}")),
            scope: Some(Scope {
                policy_types: fx.types.clone(),
                foundation_types: vec![],
            }),
            ..ProfileChanges::default()
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    profiles::assign(&fx.db, fx.user_id, &profile, &target)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;

    queue::enqueue(&fx.db, capture::new_run(&profile, &source, None)).await?;
    let (secs, statements, rss) = measured_drain(fx).await?;
    table.row(
        format!("capture {size}: wall / subjects/s / statements (per 1k) / worker peak RSS"),
        format!(
            "{:.0} ms / {:.0} / {statements} ({:.1}) / {rss:.0} MB",
            secs * 1000.0,
            size as f64 / secs,
            statements as f64 * 1000.0 / size as f64
        ),
    );

    record_tenant(fx, &target, size, Some(100)).await?;
    let (run, _) = queue::enqueue(&fx.db, compare::new_run(&profile, &target, None)).await?;
    let (secs, statements, rss) = measured_drain(fx).await?;
    let done = entity::operation_run::Entity::find_by_id(run.id)
        .one(&fx.db)
        .await?
        .context("compare run")?;
    let found = done.summary_counts["findings_total"]
        .as_u64()
        .unwrap_or_default();
    anyhow::ensure!(
        done.outcome == entity::enums::RunOutcome::Succeeded
            && found as usize == size.div_ceil(100),
        "compare of {size}: outcome {:?}, {found} findings: {}",
        done.outcome,
        done.summary_counts
    );
    table.row(
        format!(
            "compare {size} (1% drift): wall / subjects/s / statements (per 1k) / worker peak RSS"
        ),
        format!(
            "{:.0} ms / {:.0} / {statements} ({:.1}) / {rss:.0} MB",
            secs * 1000.0,
            size as f64 / secs,
            statements as f64 * 1000.0 / size as f64
        ),
    );
    // The same compare again with assignment sets compared as well (the
    // corpus's assigned shapes carry them): what the option costs.
    let with_assignments = profiles::update_profile(
        &fx.db,
        fx.user_id,
        profile.clone(),
        ProfileChanges {
            compare_assignments: Some(true),
            ..ProfileChanges::default()
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let (again, _) =
        queue::enqueue(&fx.db, compare::new_run(&with_assignments, &target, None)).await?;
    let (secs, statements, rss) = measured_drain(fx).await?;
    let done_again = entity::operation_run::Entity::find_by_id(again.id)
        .one(&fx.db)
        .await?
        .context("compare run")?;
    anyhow::ensure!(
        done_again.summary_counts["findings_total"] == done.summary_counts["findings_total"],
        "equal assignment sets add no findings: {}",
        done_again.summary_counts
    );
    table.row(
        format!(
            "compare {size} (1% drift) with compareAssignments: wall / subjects/s / statements (per 1k) / worker peak RSS"
        ),
        format!(
            "{:.0} ms / {:.0} / {statements} ({:.1}) / {rss:.0} MB",
            secs * 1000.0,
            size as f64 / secs,
            statements as f64 * 1000.0 / size as f64
        ),
    );
    let snapshot_id = entity::baseline_snapshot::Entity::find()
        .filter(entity::baseline_snapshot::Column::BaselineProfileId.eq(profile.id))
        .one(&fx.db)
        .await?
        .context("snapshot")?
        .id;
    // The findings were last seen by the second compare.
    let observed = (again.id, done_again.id);
    Ok((profile, snapshot_id, observed))
}

/// Stores `args.findings` findings for a tenant of their own, shaped like
/// the compare's (its evidence JSON, its runs), then measures pages.
async fn findings_page(
    fx: &Fixture,
    profile: &baseline_profile::Model,
    snapshot_id: i64,
    (run_id, _): (i64, i64),
    token: &str,
    args: &Args,
    table: &mut Table,
) -> Result<()> {
    let tenant = new_tenant(fx, "findings").await?;
    let templates = finding::Entity::find()
        .filter(finding::Column::LastSeenOperationRunId.eq(run_id))
        .all(&fx.db)
        .await?;
    anyhow::ensure!(
        !templates.is_empty(),
        "the compare left no findings to copy"
    );
    let started = Instant::now();
    let now = Utc::now();
    let total = args.findings;
    for start in (0..total).step_by(1_000) {
        let rows: Vec<finding::ActiveModel> = (start..(start + 1_000).min(total))
            .map(|i| {
                let t = &templates[i % templates.len()];
                let fingerprint = format!("{i:064x}");
                finding::ActiveModel {
                    tenant_id: Set(tenant.id),
                    workspace_id: Set(fx.workspace_id),
                    baseline_profile_id: Set(profile.id),
                    baseline_snapshot_id: Set(snapshot_id),
                    fingerprint: Set(fingerprint.clone()),
                    recurrence_key: Set(fingerprint),
                    scope_key: Set(t.scope_key.clone()),
                    finding_type: Set(t.finding_type),
                    change_type: Set(t.change_type),
                    status: Set(t.status),
                    severity: Set(t.severity),
                    evidence_fidelity: Set(t.evidence_fidelity),
                    policy_type: Set(t.policy_type.clone()),
                    subject_key: Set(format!("{}-{i}", t.subject_key)),
                    display_name: Set(format!("{} #{i}", t.display_name)),
                    evidence_jsonb: Set(t.evidence_jsonb.clone()),
                    first_seen_at: Set(now - chrono::Duration::seconds(i as i64)),
                    last_seen_at: Set(now - chrono::Duration::seconds(i as i64)),
                    times_seen: Set(1),
                    first_seen_operation_run_id: Set(t.first_seen_operation_run_id),
                    last_seen_operation_run_id: Set(t.last_seen_operation_run_id),
                    ..Default::default()
                }
            })
            .collect();
        finding::Entity::insert_many(rows).exec(&fx.db).await?;
    }
    eprintln!(
        "  (stored {total} findings in {:.1} s)",
        started.elapsed().as_secs_f64()
    );
    if fx.db.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        fx.db.execute_unprepared("ANALYZE findings").await?;
    }
    // Stored directly, so counted once here, as a compare would.
    drift_engine::governance::summary::recount_scope(&fx.db, tenant.id, profile.id).await?;

    let tenant_gid = encode(NodeKind::Tenant, tenant.id).0;
    let user = entity::user::Entity::find_by_id(fx.user_id)
        .one(&fx.db)
        .await?
        .context("user")?;

    // Inside the server: the schema executes the query, no HTTP.
    let (metered_db, statements) = metered(&fx.db);
    let schema = build_schema(
        metered_db.clone(),
        GraphqlLimits::default(),
        Default::default(),
        worker::RunNotifier::default(),
    );
    let viewer = Viewer::load(&metered_db, user, None).await?;
    for (label, with_total) in [("page of 50", false), ("page of 50 + totalCount", true)] {
        let query = page_query(with_total);
        let mut samples = Vec::new();
        let mut after: Option<String> = None;
        let before = statements.load(Ordering::Relaxed);
        let pages = 300;
        for _ in 0..pages {
            let mut request = Request::new(query.clone()).variables(Variables::from_json(
                json!({"t": tenant_gid, "after": after}),
            ));
            insert_request_data(
                &mut request.data,
                RequestAuth::Authenticated(Box::new(viewer.clone())),
                &metered_db,
            );
            let started = Instant::now();
            let response = schema.execute(request).await;
            samples.push(started.elapsed());
            anyhow::ensure!(response.errors.is_empty(), "{:?}", response.errors);
            let data = response.data.into_json()?;
            after = next_cursor(&data);
        }
        let per_page = (statements.load(Ordering::Relaxed) - before) / pages;
        let (p50, p99) = percentiles(&mut samples);
        table.row(
            format!("findings {label} over {total} (in server): p50 / p99 / statements"),
            format!("{:.2} ms / {:.2} ms / {per_page}", ms(p50), ms(p99)),
        );
    }

    // Totals and summaries that dashboards ask for, read from counters.
    for (label, query) in [
        (
            "findings totalCount",
            "query($t: ID!) { findings(tenantId: $t, first: 0) { totalCount } }",
        ),
        (
            "findings totalCount, fidelity CONTENT",
            "query($t: ID!) { findings(tenantId: $t, fidelity: CONTENT, first: 0) { totalCount } }",
        ),
        (
            "findingsSummary (tenant)",
            "query($t: ID!) { findingsSummary(tenantId: $t) { total byStatus { key count } byFindingType { key count } byFidelity { key count } bySeverity { key count } } }",
        ),
    ] {
        let mut samples = Vec::new();
        let before = statements.load(Ordering::Relaxed);
        let runs = 300;
        let mut answer = Value::Null;
        for _ in 0..runs {
            let mut request =
                Request::new(query).variables(Variables::from_json(json!({"t": tenant_gid})));
            insert_request_data(
                &mut request.data,
                RequestAuth::Authenticated(Box::new(viewer.clone())),
                &metered_db,
            );
            let started = Instant::now();
            let response = schema.execute(request).await;
            samples.push(started.elapsed());
            anyhow::ensure!(response.errors.is_empty(), "{:?}", response.errors);
            answer = response.data.into_json()?;
        }
        let total_seen = answer["findings"]["totalCount"]
            .as_u64()
            .or_else(|| answer["findingsSummary"]["total"].as_u64())
            .unwrap_or_default();
        anyhow::ensure!(
            label.contains("fidelity") || total_seen == total as u64,
            "{label} answered {total_seen}, not {total}"
        );
        let per = (statements.load(Ordering::Relaxed) - before) / runs;
        let (p50, p99) = percentiles(&mut samples);
        table.row(
            format!("{label} over {total} (in server): p50 / p99 / statements"),
            format!("{:.2} ms / {:.2} ms / {per}", ms(p50), ms(p99)),
        );
    }

    // Over HTTP: the real server on loopback.
    let (addr, stop, server) = start_server(fx).await?;
    let pages = PageClient {
        client: reqwest::Client::new(),
        url: format!("http://{addr}/graphql"),
        token: token.to_owned(),
        query: page_query(false),
        tenant: tenant_gid.clone(),
        apq: false,
    };
    let (p50, p99) = pages.walk(300).await?;
    table.row(
        format!("findings page of 50 over {total} (HTTP, one client): p50 / p99"),
        format!("{:.2} ms / {:.2} ms", ms(p50), ms(p99)),
    );

    // The same pages by persisted-query hash (Apollo APQ), registered once.
    let hashed = PageClient {
        apq: true,
        ..pages.clone()
    };
    let registered = hashed.register().await?;
    anyhow::ensure!(registered.get("errors").is_none(), "{registered}");
    let (p50, p99) = hashed.walk(300).await?;
    table.row(
        format!("findings page of 50 over {total} (HTTP, by APQ hash): p50 / p99"),
        format!("{:.2} ms / {:.2} ms", ms(p50), ms(p99)),
    );

    // The CSV report of every finding, streamed in the server process.
    {
        use futures_util::StreamExt;
        let tenant_row = entity::tenant::Entity::find_by_id(tenant.id)
            .one(&fx.db)
            .await?
            .context("tenant")?;
        let scope = drift_engine::delivery::report::scope(
            &fx.db,
            tenant_row,
            profile.id,
            drift_engine::delivery::report::DEFAULT_STATUSES.to_vec(),
        )
        .await?;
        let rss_before = rss_bytes();
        let mut peak = rss_before;
        let started = Instant::now();
        let mut bytes = 0usize;
        let mut stream = std::pin::pin!(drift_engine::delivery::report::stream(
            fx.db.clone(),
            scope,
            drift_engine::delivery::report::Format::Csv,
            drift_engine::http::reports::GLOBAL_IDS,
        ));
        while let Some(chunk) = stream.next().await {
            bytes += chunk?.len();
            peak = peak.max(rss_bytes());
        }
        let secs = started.elapsed().as_secs_f64();
        table.row(
            format!(
                "CSV report of {total} findings (streamed in server): time / size / RSS growth"
            ),
            format!(
                "{secs:.1} s / {:.0} MB / {:.1} MB",
                bytes as f64 / 1e6,
                peak.saturating_sub(rss_before) as f64 / 1e6
            ),
        );
    }

    // Throughput: concurrent clients on loopback for a fixed time.
    let deadline = Instant::now() + Duration::from_secs(args.load_secs);
    let mut tasks = Vec::new();
    for c in 0..args.clients {
        let pages = pages.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut after: Option<String> = None;
            let mut failures = 0u64;
            // Clients start at different depths.
            for _ in 0..c {
                after = next_cursor(&pages.page(after).await?["data"]);
            }
            while Instant::now() < deadline {
                let started = Instant::now();
                let body = pages.page(after).await?;
                latencies.push(started.elapsed());
                if body.get("errors").is_some() {
                    failures += 1;
                }
                after = next_cursor(&body["data"]);
            }
            anyhow::Ok((latencies, failures))
        }));
    }
    let started = Instant::now();
    let mut all = Vec::new();
    let mut failures = 0;
    for task in tasks {
        let (latencies, failed) = task.await??;
        all.extend(latencies);
        failures += failed;
    }
    let secs = started.elapsed().as_secs_f64();
    let (p50, p99) = percentiles(&mut all);
    table.row(
        format!(
            "findings page over HTTP, {} clients for {} s: requests/s / p50 / p99 / errors",
            args.clients, args.load_secs
        ),
        format!(
            "{:.0} / {:.2} ms / {:.2} ms / {failures}",
            all.len() as f64 / secs,
            ms(p50),
            ms(p99)
        ),
    );
    let _ = stop.send(());
    server.await??;
    Ok(())
}

/// One findings page over HTTP.
#[derive(Clone)]
struct PageClient {
    client: reqwest::Client,
    url: String,
    token: String,
    query: String,
    tenant: String,
    /// Send the persisted query's hash instead of the query.
    apq: bool,
}

impl PageClient {
    fn extensions(&self) -> Value {
        use sha2::Digest;
        json!({"persistedQuery": {"version": 1,
            "sha256Hash": hex::encode(sha2::Sha256::digest(self.query.as_bytes()))}})
    }

    /// Registers the query under its hash.
    async fn register(&self) -> Result<Value> {
        Ok(self
            .client
            .post(&self.url)
            .bearer_auth(&self.token)
            .json(
                &json!({"query": self.query, "extensions": self.extensions(),
                          "variables": {"t": self.tenant, "after": null}}),
            )
            .send()
            .await?
            .json()
            .await?)
    }

    /// Walks `pages` pages forward, one after another: p50 and p99.
    async fn walk(&self, pages: usize) -> Result<(Duration, Duration)> {
        let mut samples = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..pages {
            let started = Instant::now();
            let body = self.page(after.clone()).await?;
            samples.push(started.elapsed());
            anyhow::ensure!(body.get("errors").is_none(), "{body}");
            after = next_cursor(&body["data"]);
        }
        Ok(percentiles(&mut samples))
    }

    async fn page(&self, after: Option<String>) -> Result<Value> {
        let body = if self.apq {
            json!({"extensions": self.extensions(), "variables": {"t": self.tenant, "after": after}})
        } else {
            json!({"query": self.query, "variables": {"t": self.tenant, "after": after}})
        };
        Ok(self
            .client
            .post(&self.url)
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await?
            .json()
            .await?)
    }
}

/// This process's resident memory, from /proc (0 where there is none).
fn rss_bytes() -> usize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<usize>().ok())
        .map_or(0, |pages| pages * 4096)
}

fn page_query(with_total: bool) -> String {
    format!(
        r#"query Page($t: ID!, $after: String) {{
  findings(tenantId: $t, first: 50, after: $after) {{
    {total}
    pageInfo {{ hasNextPage endCursor }}
    edges {{ node {{
      id findingType changeType status severity fidelity
      subject {{ policyType externalId displayName }}
      scopeKey fingerprint timesSeen firstSeenAt lastSeenAt
      baselineProfile {{ id name }} baselineSnapshot {{ id status }}
      baseline {{ hash provenance {{ fidelity source observedAt observedOperationRun {{ id type status }} }} }}
      current {{ hash provenance {{ fidelity source observedAt observedOperationRun {{ id type status }} }} }}
    }} }}
  }}
}}"#,
        total = if with_total { "totalCount" } else { "" }
    )
}

/// The next page's cursor; after the last page, start over.
fn next_cursor(data: &Value) -> Option<String> {
    let info = &data["findings"]["pageInfo"];
    if info["hasNextPage"] == true {
        info["endCursor"].as_str().map(str::to_owned)
    } else {
        None
    }
}

fn percentiles(samples: &mut [Duration]) -> (Duration, Duration) {
    if samples.is_empty() {
        return (Duration::ZERO, Duration::ZERO);
    }
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    (at(0.50), at(0.99))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
