//! Workers: every `serve` process runs a few. Each claims queued runs,
//! heartbeats while it works, and completes, fails or (on shutdown)
//! releases them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use entity::enums::{RunOutcome, RunType};
use entity::operation_run;
use sea_orm::{DatabaseConnection, DbErr};
use serde_json::json;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use super::queue::{self, Completion};
use crate::drift::{capture, compare};

#[derive(Clone, Debug)]
pub struct WorkerSettings {
    pub count: usize,
    pub poll_interval: Duration,
    pub heartbeat_timeout: Duration,
    pub max_attempts: i32,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            count: 2,
            poll_interval: Duration::from_secs(1),
            heartbeat_timeout: Duration::from_secs(60),
            max_attempts: 3,
        }
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
    pub worker_id: String,
    shutdown: watch::Receiver<bool>,
    last_progress_write: std::sync::Mutex<Option<Instant>>,
}

impl RunContext {
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
        let held = queue::set_progress(&self.db, self.run.id, &self.worker_id, done, total).await?;
        if held {
            Ok(())
        } else {
            Err(JobError::Interrupted(Interrupted::ClaimLost))
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
    let worker_id = format!("{}-inline", std::process::id());
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
    loop {
        if *shutdown.borrow() {
            break;
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
    tracing::info!(run_id, run_type = %run_type.as_str(), attempt = run.attempts, worker = %worker_id, "run claimed");
    let started = std::time::Instant::now();

    // Heartbeats go on while the job works between progress updates.
    let beat_every = settings.heartbeat_timeout / 4;
    let beat_db = db.clone();
    let beat_worker = worker_id.to_owned();
    let heartbeat = tokio::spawn(async move {
        loop {
            tokio::time::sleep(beat_every).await;
            match queue::heartbeat(&beat_db, run_id, &beat_worker).await {
                Ok(true) => {}
                Ok(false) => break,
                Err(err) => tracing::warn!(run_id, error = %err, "heartbeat failed"),
            }
        }
    });

    let ctx = RunContext {
        db: db.clone(),
        run,
        worker_id: worker_id.to_owned(),
        shutdown,
        last_progress_write: std::sync::Mutex::new(None),
    };
    let result = match run_type {
        RunType::BaselineCapture => capture::execute(&ctx).await,
        RunType::BaselineCompare => compare::execute(&ctx).await,
        RunType::Verification => super::verification::execute(&ctx).await,
        other => Err(JobError::Failed {
            reason_code: "unsupported_run_type",
            message: format!(
                "runs of type {} are not executed by workers",
                other.as_str()
            ),
        }),
    };
    heartbeat.abort();

    let outcome = match &result {
        Ok(c) => Some(c.outcome),
        Err(JobError::Failed { .. } | JobError::Db(_)) => Some(RunOutcome::Failed),
        Err(JobError::Interrupted(_)) => None,
    };
    let finished = match result {
        Ok(completion) => queue::complete(db, run_id, worker_id, completion).await,
        Err(JobError::Interrupted(Interrupted::Shutdown)) => {
            tracing::info!(run_id, "shutting down: run released to the queue");
            queue::release(db, run_id, worker_id).await.map(|_| true)
        }
        Err(JobError::Interrupted(Interrupted::ClaimLost)) => {
            tracing::warn!(
                run_id,
                "run was taken over by another worker; dropping this attempt"
            );
            Ok(true)
        }
        Err(JobError::Failed {
            reason_code,
            message,
        }) => {
            queue::complete(
                db,
                run_id,
                worker_id,
                Completion {
                    outcome: RunOutcome::Failed,
                    summary_counts: json!({}),
                    context: ctx.run.context.clone(),
                    failure_summary: Some(json!({"reason_code": reason_code, "message": message})),
                },
            )
            .await
        }
        Err(JobError::Db(err)) => {
            tracing::error!(run_id, error = %err, "run failed with a database error");
            queue::complete(
                db,
                run_id,
                worker_id,
                Completion {
                    outcome: RunOutcome::Failed,
                    summary_counts: json!({}),
                    context: ctx.run.context.clone(),
                    failure_summary: Some(json!({"reason_code": "internal_error", "message": "the run failed with an internal error"})),
                },
            )
            .await
        }
    };
    match finished {
        Ok(_) => {
            let seconds = started.elapsed().as_secs_f64();
            let outcome = outcome.map_or_else(|| "released".to_owned(), |o| o.as_str());
            crate::metrics::run_finished(&run_type.as_str(), &outcome, seconds);
            tracing::info!(run_id, seconds, outcome = %outcome, "run finished");
        }
        Err(err) => tracing::error!(run_id, error = %err, "could not record the end of a run"),
    }
}
