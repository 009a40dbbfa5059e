//! Several server processes on one PostgreSQL database: each run executes
//! exactly once, and a run whose process is killed still completes. SQLite
//! has a single writer by design, so these tests need TEST_DATABASE_URL.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use drift_engine::auth::tokens;
use drift_engine::drift::profiles::{self, ProfileChanges, Scope};
use drift_engine::drift::{capture, compare};
use drift_engine::evidence::ingest::{self, InventoryItemInput, InventorySync, PolicyTypeStatus};
use drift_engine::runs::queue;
use entity::enums::{RunOutcome, RunStatus, RunType, TenantKind};
use entity::{baseline_profile, finding, operation_run, tenant};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;

use crate::common::TestDb;

/// A `drift-engine serve` process, killed when dropped.
pub struct Server(Child);

impl Server {
    /// `heartbeat_timeout`: how long a silent run waits before another
    /// process takes it over.
    pub fn start(url: &str, heartbeat_timeout: u64) -> Self {
        Self::start_with(url, heartbeat_timeout, &[])
    }

    pub fn start_with(url: &str, heartbeat_timeout: u64, extra: &[&str]) -> Self {
        let child = Command::new(env!("CARGO_BIN_EXE_drift-engine"))
            .args([
                "serve",
                "--bind",
                "127.0.0.1:0",
                "--workers",
                "2",
                "--worker-poll-ms",
                "50",
                "--run-heartbeat-timeout-secs",
                &heartbeat_timeout.to_string(),
            ])
            .args(extra)
            .env("DATABASE_URL", url)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start drift-engine serve");
        Server(child)
    }

    pub fn kill(&mut self) {
        // SIGKILL: no graceful release, the run is abandoned mid-flight.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

struct Fixture {
    profile: baseline_profile::Model,
    source: tenant::Model,
    targets: Vec<tenant::Model>,
    user_id: i64,
}

fn items(n: usize, drift_every: Option<usize>) -> Vec<InventoryItemInput> {
    (0..n)
        .map(|i| {
            let drifted = drift_every.is_some_and(|k| i % k == 0);
            let name = if drifted { format!("Policy {i} (edited)") } else { format!("Policy {i}") };
            InventoryItemInput {
                policy_type: "deviceConfigurations".into(),
                external_id: format!("p-{i:06}"),
                display_name: format!("Policy {i}"),
                meta: json!({"@odata.type": "#microsoft.graph.windows10GeneralConfiguration", "displayName": name}),
            }
        })
        .collect()
}

async fn sync(db: &DatabaseConnection, tenant: &tenant::Model, items: Vec<InventoryItemInput>) {
    ingest::record_inventory_sync(
        db,
        None,
        tenant,
        InventorySync {
            observed_at: Utc::now(),
            policy_types: vec![PolicyTypeStatus {
                policy_type: "deviceConfigurations".into(),
                succeeded: true,
                item_count: None,
                error: None,
                confirm_empty: false,
            }],
            items,
            warnings: Vec::new(),
            guard: Default::default(),
        },
    )
    .await
    .expect("sync");
}

async fn fixture(db: &DatabaseConnection, targets: usize) -> Fixture {
    let user = tokens::find_or_create_user(db, "procs@example.com", None)
        .await
        .expect("user");
    let (ws, _) = drift_engine::directory::create_workspace(db, user.id, "W")
        .await
        .expect("workspace");
    let mut tenants = Vec::new();
    for i in 0..=targets {
        tenants.push(
            drift_engine::directory::create_tenant(
                db,
                user.id,
                ws.id,
                &format!("t{i}"),
                TenantKind::Intune,
                None,
            )
            .await
            .expect("tenant"),
        );
    }
    let source = tenants.remove(0);
    let profile = profiles::create_profile(
        db,
        user.id,
        ws.id,
        ProfileChanges {
            name: Some("P".into()),
            scope: Some(Scope {
                policy_types: vec!["deviceConfigurations".into()],
                foundation_types: vec![],
            }),
            ..Default::default()
        },
    )
    .await
    .expect("profile");
    for t in &tenants {
        profiles::assign(db, user.id, &profile, t)
            .await
            .expect("assign");
    }
    Fixture {
        profile,
        source,
        targets: tenants,
        user_id: user.id,
    }
}

async fn enqueue(
    db: &DatabaseConnection,
    f: &Fixture,
    run_type: RunType,
    tenant: &tenant::Model,
) -> operation_run::Model {
    // The same constructors the GraphQL mutations use: same identities.
    let new = match run_type {
        RunType::BaselineCapture => capture::new_run(&f.profile, tenant, Some(f.user_id)),
        _ => compare::new_run(&f.profile, tenant, Some(f.user_id)),
    };
    queue::enqueue(db, new).await.expect("enqueue").0
}

async fn wait_completed(
    db: &DatabaseConnection,
    ids: &[i64],
    limit: Duration,
) -> Vec<operation_run::Model> {
    let start = Instant::now();
    loop {
        let runs = operation_run::Entity::find()
            .filter(operation_run::Column::Id.is_in(ids.to_vec()))
            .all(db)
            .await
            .expect("runs");
        if runs.iter().all(|r| r.status == RunStatus::Completed) {
            return runs;
        }
        assert!(
            start.elapsed() < limit,
            "runs did not complete within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn three_processes_run_thirty_compares_exactly_once() {
    let test_db = TestDb::new().await;
    if !test_db.is_postgres {
        eprintln!("skipped: several processes need PostgreSQL (set TEST_DATABASE_URL)");
        return;
    }
    let db = &test_db.db;
    let f = fixture(db, 30).await;
    sync(db, &f.source, items(50, None)).await;
    for t in &f.targets {
        sync(db, t, items(50, Some(10))).await;
    }
    // A generous timeout: no run should ever be taken over here, even on a
    // loaded machine.
    let _servers: Vec<Server> = (0..3).map(|_| Server::start(&test_db.url, 60)).collect();
    let capture = enqueue(db, &f, RunType::BaselineCapture, &f.source).await;
    wait_completed(db, &[capture.id], Duration::from_secs(60)).await;

    let mut ids = Vec::new();
    for t in &f.targets {
        ids.push(enqueue(db, &f, RunType::BaselineCompare, t).await.id);
    }
    let runs = wait_completed(db, &ids, Duration::from_secs(120)).await;
    let mut workers = std::collections::BTreeSet::new();
    for run in &runs {
        assert_eq!(
            run.outcome,
            RunOutcome::Succeeded,
            "run {}: {:?}",
            run.id,
            run.failure_summary
        );
        assert_eq!(run.attempts, 1, "run {} was claimed more than once", run.id);
        workers.insert(run.claimed_by.clone().expect("claimed"));
    }
    eprintln!("30 compares ran on {} workers", workers.len());
    // Each tenant: 5 of 50 policies drifted, each found once, seen once.
    for t in &f.targets {
        let findings = finding::Entity::find()
            .filter(finding::Column::TenantId.eq(t.id))
            .all(db)
            .await
            .expect("findings");
        assert_eq!(findings.len(), 5, "tenant {}", t.id);
        assert!(findings.iter().all(|f| f.times_seen == 1));
    }
}

#[tokio::test]
async fn a_killed_process_does_not_lose_or_duplicate_a_run() {
    let test_db = TestDb::new().await;
    if !test_db.is_postgres {
        eprintln!("skipped: several processes need PostgreSQL (set TEST_DATABASE_URL)");
        return;
    }
    let db = &test_db.db;
    let n = 12_000;
    let f = fixture(db, 1).await;
    let target = f.targets[0].clone();
    sync(db, &f.source, items(n, None)).await;
    // Enough drift that every chunk writes findings: the resolver reads a
    // tenant in two statements, so the findings are what keeps a compare
    // of this size running long enough to be killed part done.
    let drift_every = 4;
    sync(db, &target, items(n, Some(drift_every))).await;

    let mut first = Server::start(&test_db.url, 5);
    let capture = enqueue(db, &f, RunType::BaselineCapture, &f.source).await;
    wait_completed(db, &[capture.id], Duration::from_secs(120)).await;

    let run = enqueue(db, &f, RunType::BaselineCompare, &target).await;
    // Kill the process while the run is part done.
    let start = Instant::now();
    loop {
        let current = operation_run::Entity::find_by_id(run.id)
            .one(db)
            .await
            .expect("run")
            .expect("exists");
        assert_ne!(
            current.status,
            RunStatus::Completed,
            "the compare finished before it could be killed; use more subjects"
        );
        if current.status == RunStatus::Running && current.progress_done > 0 {
            assert!(current.progress_done < current.progress_total);
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the compare never started"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    first.kill();
    let partial = finding::Entity::find()
        .filter(finding::Column::TenantId.eq(target.id))
        .count(db)
        .await
        .expect("count");
    eprintln!("killed mid-run with {partial} findings written");

    let _others: Vec<Server> = (0..2).map(|_| Server::start(&test_db.url, 5)).collect();
    let done = wait_completed(db, &[run.id], Duration::from_secs(120))
        .await
        .remove(0);
    match done.outcome {
        // Taken over at least once (more if a loaded machine starved a heartbeat).
        RunOutcome::Succeeded => assert!(
            done.attempts >= 2,
            "the run was taken over ({} attempts)",
            done.attempts
        ),
        RunOutcome::Failed => assert_eq!(
            done.failure_summary
                .as_ref()
                .map(|f| f["reason_code"].clone()),
            Some(json!("worker_lost"))
        ),
        other => panic!("unexpected outcome {other:?}"),
    }
    let findings = finding::Entity::find()
        .filter(finding::Column::TenantId.eq(target.id))
        .all(db)
        .await
        .expect("findings");
    if done.outcome == RunOutcome::Succeeded {
        assert_eq!(findings.len(), n / drift_every, "every drift found once");
    }
    assert!(
        findings.iter().all(|f| f.times_seen == 1),
        "a retried run does not count a finding twice"
    );
    let fingerprints: std::collections::HashSet<&String> =
        findings.iter().map(|f| &f.fingerprint).collect();
    assert_eq!(fingerprints.len(), findings.len(), "no duplicated finding");
}

/// A worker that was stalled past its heartbeat timeout (here held still at
/// its final write, as SIGSTOP would hold its process) and woke up after
/// another worker took its run over and a later run completed: it must
/// write nothing. Both backends; the two workers share a process and a
/// worker id, so only the attempt number tells their claims apart.
#[tokio::test]
async fn a_worker_that_lost_its_claim_writes_nothing() {
    use drift_engine::runs::worker::{self, Hold, WorkerSettings};

    let test_db = TestDb::new().await;
    let db = &test_db.db;
    let f = fixture(db, 1).await;
    let target = f.targets[0].clone();
    sync(db, &f.source, items(300, None)).await;
    sync(db, &target, items(300, Some(10))).await;
    let fast = WorkerSettings {
        heartbeat_timeout: Duration::from_secs(1),
        ..WorkerSettings::default()
    };

    // Runs the held worker's first job until it stops at its final write,
    // then lets the other worker take the run over and complete it.
    async fn stall_and_take_over(
        db: &DatabaseConnection,
        fast: &WorkerSettings,
        run: &operation_run::Model,
    ) -> (Hold, tokio::task::JoinHandle<usize>) {
        let held = WorkerSettings {
            hold: Hold::before_finish(),
            ..fast.clone()
        };
        let hold = held.hold.clone();
        let stalled = tokio::spawn({
            let db = db.clone();
            async move { worker::drain(&db, &held).await.expect("held worker") }
        });
        hold.reached().await;
        let start = Instant::now();
        while worker::drain(db, fast).await.expect("drain") == 0 {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "the stalled run was never taken over"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let taken = operation_run::Entity::find_by_id(run.id)
            .one(db)
            .await
            .expect("run")
            .expect("exists");
        assert_eq!(taken.status, RunStatus::Completed);
        assert_eq!(taken.attempts, 2, "the run was taken over once");
        (hold, stalled)
    }

    // Capture: the stalled attempt's snapshot was dropped by the take-over;
    // waking up, it neither completes it nor fails the run.
    let capture = enqueue(db, &f, RunType::BaselineCapture, &f.source).await;
    let (hold, stalled) = stall_and_take_over(db, &fast, &capture).await;
    let captured = operation_run::Entity::find_by_id(capture.id)
        .one(db)
        .await
        .expect("run")
        .expect("exists");
    hold.release();
    stalled.await.expect("held worker ends");
    let after = operation_run::Entity::find_by_id(capture.id)
        .one(db)
        .await
        .expect("run")
        .expect("exists");
    assert_eq!(after.outcome, RunOutcome::Succeeded);
    assert_eq!(
        after.context, captured.context,
        "the take-over's result stands"
    );
    let snapshots = entity::baseline_snapshot::Entity::find()
        .filter(entity::baseline_snapshot::Column::OperationRunId.eq(capture.id))
        .all(db)
        .await
        .expect("snapshots");
    assert_eq!(snapshots.len(), 1, "{snapshots:?}");
    assert_eq!(
        Some(snapshots[0].id),
        captured.context["baseline_capture"]["baseline_snapshot_id"].as_i64()
    );

    // Compare R1 stalls at its final write and is taken over; then the
    // tenant drifts differently and R2 completes. R1's stale attempt would
    // reopen what R2 resolved and resolve what R2 found.
    let r1 = enqueue(db, &f, RunType::BaselineCompare, &target).await;
    let (hold, stalled) = stall_and_take_over(db, &fast, &r1).await;
    sync(db, &target, items(300, Some(7))).await;
    let r2 = enqueue(db, &f, RunType::BaselineCompare, &target).await;
    assert_eq!(worker::drain(db, &fast).await.expect("drain"), 1);
    type Row = (i64, String, i32, Option<i64>, Option<String>);
    let findings_now = || async {
        let mut rows: Vec<Row> = finding::Entity::find()
            .filter(finding::Column::TenantId.eq(target.id))
            .all(db)
            .await
            .expect("findings")
            .into_iter()
            .map(|f| {
                (
                    f.id,
                    f.status.as_str(),
                    f.times_seen,
                    f.last_seen_operation_run_id,
                    f.resolved_reason,
                )
            })
            .collect();
        rows.sort();
        rows
    };
    let before = findings_now().await;
    let open = before.iter().filter(|r| r.1 == "open").count();
    assert_eq!(open, 300usize.div_ceil(7), "R2's findings are open");
    assert!(
        before
            .iter()
            .filter(|r| r.1 == "open")
            .all(|r| r.3 == Some(r2.id))
    );

    hold.release();
    stalled.await.expect("held worker ends");
    assert_eq!(
        findings_now().await,
        before,
        "the stalled worker wrote findings"
    );
    let r1_after = operation_run::Entity::find_by_id(r1.id)
        .one(db)
        .await
        .expect("run")
        .expect("exists");
    assert_eq!(r1_after.outcome, RunOutcome::Succeeded);
    assert_eq!(r1_after.attempts, 2);
}

/// Three replicas started at once on an empty PostgreSQL schema all come
/// up: migrations take turns under an advisory lock.
#[tokio::test]
async fn three_replicas_started_at_once_on_an_empty_database_all_come_up() {
    use tokio::io::AsyncBufReadExt as _;

    let test_db = TestDb::empty().await;
    if !test_db.is_postgres {
        eprintln!("skipped: several processes need PostgreSQL (set TEST_DATABASE_URL)");
        return;
    }
    let mut replicas = Vec::new();
    for _ in 0..3 {
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_drift-engine"))
            .args(["serve", "--bind", "127.0.0.1:0", "--workers", "1"])
            .env("DATABASE_URL", &test_db.url)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start drift-engine serve");
        let out = tokio::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
        let err = tokio::io::BufReader::new(child.stderr.take().expect("stderr")).lines();
        replicas.push((child, out, err));
    }
    for (n, (child, out, err)) in replicas.iter_mut().enumerate() {
        let mut log = Vec::new();
        let up = tokio::time::timeout(Duration::from_secs(120), async {
            loop {
                let line = tokio::select! {
                    line = out.next_line() => line,
                    line = err.next_line() => line,
                };
                match line {
                    Ok(Some(line)) if line.contains("drift-engine listening") => return true,
                    Ok(Some(line)) => log.push(line),
                    _ => return false,
                }
            }
        })
        .await
        .unwrap_or(false);
        assert!(
            up,
            "replica {n} did not come up: {log:#?}, exit: {:?}",
            child.try_wait()
        );
    }
    for (mut child, _, _) in replicas {
        assert!(
            child.try_wait().expect("status").is_none(),
            "every replica keeps running"
        );
        let _ = child.kill().await;
    }
}

/// A due schedule watched by three server processes, each looking every
/// second, queues one compare: claims move `next_run_at` under
/// `FOR UPDATE SKIP LOCKED`, so no two processes fire it. Its runs fail
/// at once (the profile has no snapshot), so the queue's dedupe of active
/// runs cannot be what keeps the count at one.
#[tokio::test]
async fn a_schedule_fires_once_across_three_server_processes() {
    let test_db = TestDb::new().await;
    if !test_db.is_postgres {
        eprintln!("skipped: several processes need PostgreSQL (set TEST_DATABASE_URL)");
        return;
    }
    let db = test_db.db.clone();
    let f = fixture(&db, 1).await;
    let target = &f.targets[0];
    let servers: Vec<Server> = (0..3)
        .map(|_| Server::start_with(&test_db.url, 60, &["--schedule-interval-secs", "1"]))
        .collect();
    let schedule = drift_engine::delivery::schedules::set(
        &db,
        f.user_id,
        &f.profile,
        target,
        drift_engine::delivery::schedules::NewSchedule {
            every: "PT6H".into(),
            collect: false,
            // Due, and three periods late.
            start_at: Some(Utc::now() - chrono::Duration::hours(18)),
        },
    )
    .await
    .expect("schedule");
    let compares = || {
        operation_run::Entity::find()
            .filter(operation_run::Column::TenantId.eq(target.id))
            .filter(operation_run::Column::RunType.eq(RunType::BaselineCompare))
            .all(&db)
    };
    let start = Instant::now();
    loop {
        let runs = compares().await.expect("runs");
        if runs.iter().any(|r| r.status == RunStatus::Completed) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the schedule did not fire: {runs:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Every process ticks a few more times.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let runs = compares().await.expect("runs");
    assert_eq!(runs.len(), 1, "{runs:#?}");
    assert_eq!(runs[0].context["schedule_id"], schedule.id);
    assert_eq!(runs[0].outcome, RunOutcome::Failed, "no snapshot yet");
    let after = entity::schedule::Entity::find_by_id(schedule.id)
        .one(&db)
        .await
        .expect("read")
        .expect("schedule");
    assert_eq!(after.last_run_id, Some(runs[0].id));
    // A period from the firing, not from the missed start.
    let fired = after.last_run_at.expect("fired");
    assert_eq!(after.next_run_at, fired + chrono::Duration::hours(6));
    assert!(after.next_run_at > Utc::now() + chrono::Duration::hours(5));
    drop(servers);
}
