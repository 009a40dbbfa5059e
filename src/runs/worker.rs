//! Workers: every `serve` process runs a few. Each claims queued runs,
//! heartbeats while it works, and completes, fails or (on shutdown)
//! releases them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use entity::enums::{RunOutcome, RunType};
use entity::operation_run;
use sea_orm::{DatabaseConnection, DatabaseTransaction, DbErr, TransactionTrait};
use serde_json::json;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use super::queue::{self, Claim, Completion};
use crate::drift::{capture, compare};

#[derive(Clone, Debug)]
pub struct WorkerSettings {
    pub count: usize,
    pub poll_interval: Duration,
    pub heartbeat_timeout: Duration,
    pub max_attempts: i32,
    /// Off unless a test sets it.
    pub hold: Hold,
    /// When a collected listing that shrank is believed.
    pub listing: crate::evidence::ingest::ListingGuard,
    /// Reads tenants from Graph; `None` where nothing collects.
    pub collector: Option<Arc<crate::collector::graph::Collector>>,
    /// How often a worker reopens accepted findings whose acceptance expired.
    pub sweep_interval: Duration,
    /// How often a worker looks for due schedules.
    pub schedule_interval: Duration,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            count: 2,
            poll_interval: Duration::from_secs(1),
            heartbeat_timeout: Duration::from_secs(60),
            max_attempts: 3,
            hold: Hold::default(),
            listing: crate::evidence::ingest::ListingGuard::default(),
            collector: None,
            sweep_interval: Duration::from_secs(60),
            schedule_interval: Duration::from_secs(30),
        }
    }
}

/// Holds the first job that reaches its final write still, the way SIGSTOP
/// holds a process: the job waits and its heartbeats stop until the test
/// releases it. Tests of the fencing use it instead of sleeping; it is off
/// (`Hold::default()`) everywhere else.
#[derive(Clone, Default)]
pub struct Hold(Option<Arc<HoldState>>);

struct HoldState {
    /// Hold at this fenced write (1-based) instead of at the final one.
    at_write: Option<usize>,
    writes: std::sync::atomic::AtomicUsize,
    armed: AtomicBool,
    holding: AtomicBool,
    reached: Notify,
    released: Notify,
}

impl std::fmt::Debug for Hold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Hold(armed)"
        } else {
            "Hold(off)"
        })
    }
}

impl Hold {
    /// Holds the next job of a worker with these settings before it writes
    /// its result.
    pub fn before_finish() -> Self {
        Self(Some(Arc::new(HoldState {
            at_write: None,
            writes: Default::default(),
            armed: AtomicBool::new(true),
            holding: AtomicBool::new(false),
            reached: Notify::new(),
            released: Notify::new(),
        })))
    }

    /// Holds the next job of a worker with these settings before its
    /// `n`-th fenced write (a collector checkpoints once per page or batch),
    /// so a test can take the run over in the middle.
    pub fn before_write(n: usize) -> Self {
        Self(Some(Arc::new(HoldState {
            at_write: Some(n.max(1)),
            writes: Default::default(),
            armed: AtomicBool::new(true),
            holding: AtomicBool::new(false),
            reached: Notify::new(),
            released: Notify::new(),
        })))
    }

    /// Waits until a job is held.
    pub async fn reached(&self) {
        if let Some(state) = &self.0 {
            state.reached.notified().await;
        }
    }

    /// Lets the held job go on.
    pub fn release(&self) {
        if let Some(state) = &self.0 {
            state.released.notify_one();
        }
    }

    fn is_holding(&self) -> bool {
        self.0
            .as_ref()
            .is_some_and(|s| s.holding.load(Ordering::SeqCst))
    }

    async fn at_write(&self) {
        let Some(state) = &self.0 else { return };
        let Some(n) = state.at_write else { return };
        if state.writes.fetch_add(1, Ordering::SeqCst) + 1 == n {
            self.hold_here(state).await;
        }
    }

    async fn at_finish(&self) {
        let Some(state) = &self.0 else { return };
        if state.at_write.is_some() {
            return;
        }
        self.hold_here(state).await;
    }

    async fn hold_here(&self, state: &HoldState) {
        if !state.armed.swap(false, Ordering::SeqCst) {
            return;
        }
        state.holding.store(true, Ordering::SeqCst);
        state.reached.notify_one();
        state.released.notified().await;
        state.holding.store(false, Ordering::SeqCst);
    }
}

/// Wakes idle workers of this process when a run is queued here; runs
/// queued by other processes are found by polling.
#[derive(Clone, Default)]
pub struct RunNotifier(pub Arc<Notify>);

impl RunNotifier {
    pub fn notify(&self) {
        self.0.notify_waiters();
    }
}

/// Why a job stopped before finishing.
#[derive(Debug)]
pub enum Interrupted {
    /// The process is shutting down: give the run back.
    Shutdown,
    /// Another worker took the run over: drop it.
    ClaimLost,
}

/// Progress is written at most this often; the first and the final write
/// always are. Each write is a commit: a compare of 100,000 subjects made
/// 200 of them, one per chunk. Liveness does not depend on it (the
/// heartbeat task beats on its own), only how fresh `progress` looks.
const PROGRESS_WRITE_INTERVAL: Duration = Duration::from_millis(100);

/// What a job sees of its run: identity, progress and cancellation.
pub struct RunContext {
    pub db: DatabaseConnection,
    pub run: operation_run::Model,
    pub claim: Claim,
    shutdown: watch::Receiver<bool>,
    hold: Hold,
    last_progress_write: std::sync::Mutex<Option<Instant>>,
    listing: crate::evidence::ingest::ListingGuard,
    pub collector: Option<Arc<crate::collector::graph::Collector>>,
}

/// A job's result, written by [`RunContext::finish`] in the job's last
/// fenced transaction: a job cannot report success without having written it.
#[derive(Debug)]
pub struct Finished {
    pub outcome: RunOutcome,
}

impl RunContext {
    pub fn listing_guard(&self) -> crate::evidence::ingest::ListingGuard {
        self.listing
    }

    /// Records progress (which also heartbeats) and says whether to go on.
    pub async fn progress(&self, done: i64, total: i64) -> Result<(), JobError> {
        if *self.shutdown.borrow() {
            return Err(JobError::Interrupted(Interrupted::Shutdown));
        }
        let due = {
            let mut last = self
                .last_progress_write
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let due =
                done >= total || last.is_none_or(|at| at.elapsed() >= PROGRESS_WRITE_INTERVAL);
            if due {
                *last = Some(Instant::now());
            }
            due
        };
        if !due {
            return Ok(());
        }
        let held = queue::set_progress(&self.db, &self.claim, done, total).await?;
        if held {
            Ok(())
        } else {
            Err(JobError::Interrupted(Interrupted::ClaimLost))
        }
    }

    /// A transaction for the job's writes, fenced: it begins by touching the
    /// run's row under this claim, which fails once another worker has
    /// taken the run over and, on PostgreSQL, keeps the row locked so that
    /// no take-over can happen before it commits. A worker that was stalled
    /// (stopped, paused, starved) past its heartbeat timeout therefore
    /// writes nothing when it wakes up.
    pub async fn begin_write(&self) -> Result<DatabaseTransaction, JobError> {
        self.hold.at_write().await;
        let txn = self.db.begin().await?;
        if queue::heartbeat(&txn, &self.claim).await? {
            Ok(txn)
        } else {
            txn.rollback().await?;
            Err(JobError::Interrupted(Interrupted::ClaimLost))
        }
    }

    /// The fenced transaction of the job's last writes, which
    /// [`RunContext::finish`] commits with the run's result.
    pub async fn begin_final_write(&self) -> Result<DatabaseTransaction, JobError> {
        self.hold.at_finish().await;
        self.begin_write().await
    }

    /// Completes the run in `txn` (from [`RunContext::begin_final_write`])
    /// and commits, so the job's last writes and its result land together.
    pub async fn finish(
        &self,
        txn: DatabaseTransaction,
        mut completion: Completion,
    ) -> Result<Finished, JobError> {
        let outcome = completion.outcome;
        // Why the run ran stays with its result.
        for key in ORIGIN_KEYS {
            if let Some(v) = self.run.context.get(*key)
                && completion.context.get(*key).is_none()
                && completion.context.is_object()
            {
                completion.context[*key] = v.clone();
            }
        }
        if !queue::complete(&txn, &self.claim, completion).await? {
            txn.rollback().await?;
            return Err(JobError::Interrupted(Interrupted::ClaimLost));
        }
        txn.commit().await?;
        Ok(Finished { outcome })
    }
}

/// Keys of a run's context that say why it ran (the schedule that queued
/// it, the run it follows, the run it chains); a completion keeps them.
pub const ORIGIN_KEYS: &[&str] = &[
    "schedule_id",
    "after_run_id",
    crate::delivery::schedules::THEN,
];

/// Evidence a job collected that ingestion refuses fails the run with the
/// reason; anything else is internal and logged, not shown.
impl From<crate::error::Error> for JobError {
    fn from(err: crate::error::Error) -> Self {
        match err {
            crate::error::Error::BadUserInput(message) => JobError::Failed {
                reason_code: "invalid_evidence",
                message,
            },
            other => {
                tracing::error!(error = ?other, "a job failed with an internal error");
                JobError::Failed {
                    reason_code: "internal_error",
                    message: "the run failed with an internal error".into(),
                }
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("interrupted: {0:?}")]
    Interrupted(Interrupted),
    /// The job cannot run as asked (e.g. no snapshot to compare against).
    #[error("{message}")]
    Failed {
        reason_code: &'static str,
        message: String,
    },
    #[error(transparent)]
    Db(#[from] sea_orm::DbErr),
}

pub fn spawn_workers(
    db: DatabaseConnection,
    settings: WorkerSettings,
    notifier: RunNotifier,
    shutdown: watch::Receiver<bool>,
) -> Vec<JoinHandle<()>> {
    let process = format!(
        "{}-{}",
        std::process::id(),
        &crate::auth::tokens::generate()[4..12]
    );
    (0..settings.count)
        .map(|n| {
            let worker_id = format!("{process}-w{n}");
            tokio::spawn(worker_loop(
                db.clone(),
                settings.clone(),
                notifier.clone(),
                shutdown.clone(),
                worker_id,
            ))
        })
        .collect()
}

/// Runs queued jobs on the calling task until the queue is empty, for front
/// doors without workers of their own (the demo loader, benchmarks).
/// Returns how many runs it executed.
pub async fn drain(db: &DatabaseConnection, settings: &WorkerSettings) -> Result<usize, DbErr> {
    let (_keep_running, shutdown) = watch::channel(false);
    // Random like the spawned workers' ids: containers may share a pid.
    let worker_id = format!(
        "{}-{}-inline",
        std::process::id(),
        &crate::auth::tokens::generate()[4..12]
    );
    let mut executed = 0;
    while let Some(run) = queue::claim_next(
        db,
        &worker_id,
        settings.heartbeat_timeout,
        settings.max_attempts,
    )
    .await?
    {
        execute(db, settings, run, &worker_id, shutdown.clone()).await;
        executed += 1;
    }
    Ok(executed)
}

async fn worker_loop(
    db: DatabaseConnection,
    settings: WorkerSettings,
    notifier: RunNotifier,
    mut shutdown: watch::Receiver<bool>,
    worker_id: String,
) {
    tracing::debug!(worker = %worker_id, "worker started");
    let mut last_sweep: Option<Instant> = None;
    let mut last_tick: Option<Instant> = None;
    loop {
        if *shutdown.borrow() {
            break;
        }
        if last_tick.is_none_or(|at| at.elapsed() >= settings.schedule_interval) {
            last_tick = Some(Instant::now());
            match crate::delivery::schedules::tick(&db, chrono::Utc::now()).await {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(queued = n, "schedules queued runs");
                    notifier.notify();
                }
                Err(err) => tracing::warn!(error = %err, "could not run due schedules"),
            }
        }
        if last_sweep.is_none_or(|at| at.elapsed() >= settings.sweep_interval) {
            last_sweep = Some(Instant::now());
            match crate::governance::acceptance::sweep_expired(&db, chrono::Utc::now()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(reopened = n, "reopened findings whose acceptance expired"),
                Err(err) => tracing::warn!(error = %err, "could not sweep expired acceptances"),
            }
        }
        if let Err(err) =
            queue::fail_abandoned(&db, settings.heartbeat_timeout, settings.max_attempts).await
        {
            tracing::warn!(error = %err, "could not fail abandoned runs");
        }
        let claimed = match queue::claim_next(
            &db,
            &worker_id,
            settings.heartbeat_timeout,
            settings.max_attempts,
        )
        .await
        {
            Ok(run) => run,
            Err(err) => {
                tracing::warn!(error = %err, "could not claim a run");
                None
            }
        };
        match claimed {
            Some(run) => execute(&db, &settings, run, &worker_id, shutdown.clone()).await,
            None => {
                let notified = notifier.0.notified();
                tokio::select! {
                    _ = tokio::time::sleep(settings.poll_interval) => {}
                    _ = notified => {}
                    _ = shutdown.changed() => {}
                }
            }
        }
    }
    tracing::debug!(worker = %worker_id, "worker stopped");
}

async fn execute(
    db: &DatabaseConnection,
    settings: &WorkerSettings,
    run: operation_run::Model,
    worker_id: &str,
    shutdown: watch::Receiver<bool>,
) {
    let run_id = run.id;
    let run_type = run.run_type;
    let claim = Claim::of(&run, worker_id);
    tracing::info!(run_id, run_type = %run_type.as_str(), attempt = run.attempts, worker = %worker_id, "run claimed");
    let started = std::time::Instant::now();

    // Heartbeats go on while the job works between progress updates.
    let beat_every = settings.heartbeat_timeout / 4;
    let beat_db = db.clone();
    let beat_claim = claim.clone();
    let beat_hold = settings.hold.clone();
    let heartbeat = tokio::spawn(async move {
        loop {
            tokio::time::sleep(beat_every).await;
            if beat_hold.is_holding() {
                continue;
            }
            match queue::heartbeat(&beat_db, &beat_claim).await {
                Ok(true) => {}
                Ok(false) => break,
                Err(err) => tracing::warn!(run_id, error = %err, "heartbeat failed"),
            }
        }
    });

    let ctx = RunContext {
        db: db.clone(),
        run,
        claim: claim.clone(),
        shutdown,
        hold: settings.hold.clone(),
        last_progress_write: std::sync::Mutex::new(None),
        listing: settings.listing,
        collector: settings.collector.clone(),
    };
    let result = match run_type {
        RunType::BaselineCapture => capture::execute(&ctx).await,
        RunType::BaselineCompare => compare::execute(&ctx).await,
        RunType::Verification => super::verification::execute(&ctx).await,
        RunType::InventorySync => {
            crate::collector::sync::execute(&ctx, settings.collector.as_ref()).await
        }
        RunType::PolicyCapture => crate::collector::content::execute(&ctx).await,
    };
    heartbeat.abort();

    // A failure is recorded in one statement fenced by the claim, like
    // every other write of the job.
    let failed = |reason_code: &str, message: &str| Completion {
        outcome: RunOutcome::Failed,
        summary_counts: json!({}),
        context: ctx.run.context.clone(),
        failure_summary: Some(json!({"reason_code": reason_code, "message": message})),
    };
    let ended: Result<Ended, DbErr> = match result {
        Ok(finished) => Ok(Ended::Completed(finished.outcome)),
        Err(JobError::Interrupted(Interrupted::Shutdown)) => {
            tracing::info!(run_id, "shutting down: run released to the queue");
            queue::release(db, &claim).await.map(|()| Ended::Released)
        }
        Err(JobError::Interrupted(Interrupted::ClaimLost)) => Ok(Ended::ClaimLost),
        Err(JobError::Failed {
            reason_code,
            message,
        }) => queue::complete(db, &claim, failed(reason_code, &message))
            .await
            .map(Ended::failed_if),
        Err(JobError::Db(err)) => {
            tracing::error!(run_id, error = %err, "run failed with a database error");
            queue::complete(
                db,
                &claim,
                failed("internal_error", "the run failed with an internal error"),
            )
            .await
            .map(Ended::failed_if)
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    match ended {
        Ok(Ended::Completed(outcome)) => {
            crate::metrics::run_finished(&run_type.as_str(), &outcome.as_str(), seconds);
            tracing::info!(run_id, seconds, outcome = %outcome.as_str(), "run finished");
            // A scheduled collection chains its compare.
            if ctx
                .run
                .context
                .get(crate::delivery::schedules::THEN)
                .is_some()
            {
                let done = operation_run::Model {
                    outcome,
                    ..ctx.run.clone()
                };
                match crate::delivery::schedules::after_run(db, &done).await {
                    Ok(Some(next)) => {
                        tracing::info!(run_id, next, "queued the compare after the collection")
                    }
                    Ok(None) => {}
                    Err(err) => {
                        tracing::error!(run_id, error = %err, "could not queue the compare after the collection")
                    }
                }
            }
        }
        Ok(Ended::Released) => {
            crate::metrics::run_finished(&run_type.as_str(), "released", seconds)
        }
        Ok(Ended::ClaimLost) => {
            crate::metrics::run_finished(&run_type.as_str(), "claim_lost", seconds);
            tracing::warn!(
                run_id,
                attempt = claim.attempt,
                "run was taken over by another worker; this attempt wrote nothing more"
            );
        }
        Err(err) => tracing::error!(run_id, error = %err, "could not record the end of a run"),
    }
}

/// How an attempt ended, as far as this worker is concerned.
enum Ended {
    Completed(RunOutcome),
    Released,
    ClaimLost,
}

impl Ended {
    fn failed_if(held: bool) -> Self {
        if held {
            Ended::Completed(RunOutcome::Failed)
        } else {
            Ended::ClaimLost
        }
    }
}
