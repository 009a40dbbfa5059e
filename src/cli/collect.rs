//! `drift-engine collect`: queues collector runs, runs them on this process
//! (a server's workers may take them first; either way the CLI waits),
//! shows their progress, and prints what they covered.

use std::time::Duration;

use entity::enums::{RunOutcome, RunStatus};
use entity::{operation_run, tenant};
use sea_orm::{DatabaseConnection, EntityTrait};
use serde_json::Value;

use crate::collector::runs;
use crate::runs::queue::{self, NewRun};
use crate::runs::worker::{self, WorkerSettings};

/// Runs the collection; `true` when a run failed.
pub async fn collect(
    db: &DatabaseConnection,
    settings: &WorkerSettings,
    tenant_id: i64,
    types: &[String],
    content: bool,
) -> anyhow::Result<bool> {
    let tenant = tenant::Entity::find_by_id(tenant_id)
        .one(db)
        .await?
        .ok_or_else(|| anyhow::anyhow!("tenant {tenant_id} does not exist"))?;
    let new = runs::inventory_sync_run(db, &tenant, types, None)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let sync = run_to_end(db, settings, new, "inventory sync").await?;
    print_coverage(&sync);
    let mut failed = sync.outcome == RunOutcome::Failed;
    if content && !failed {
        let new = runs::policy_capture_run(db, &tenant, types, None, None)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let capture = run_to_end(db, settings, new, "content capture").await?;
        print_content(&capture);
        failed |= capture.outcome == RunOutcome::Failed;
    }
    Ok(failed)
}

async fn run_to_end(
    db: &DatabaseConnection,
    settings: &WorkerSettings,
    new: NewRun,
    what: &str,
) -> anyhow::Result<operation_run::Model> {
    let (run, created) = queue::enqueue(db, new).await?;
    eprintln!(
        "{what}: run {}{}",
        run.id,
        if created { "" } else { " (already queued)" }
    );
    follow(db, settings, run, what, Duration::MAX).await
}

/// Runs queued work on this process until `run` completes (a server's
/// worker may take it first), with a progress bar; gives up after `limit`.
pub(crate) async fn follow(
    db: &DatabaseConnection,
    settings: &WorkerSettings,
    run: operation_run::Model,
    what: &str,
    limit: Duration,
) -> anyhow::Result<operation_run::Model> {
    let started = std::time::Instant::now();
    let runner = {
        let db = db.clone();
        let settings = settings.clone();
        tokio::spawn(async move { worker::drain(&db, &settings).await })
    };
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message(what.to_owned());
    let done = loop {
        let current = operation_run::Entity::find_by_id(run.id)
            .one(db)
            .await?
            .ok_or_else(|| anyhow::anyhow!("run {} disappeared", run.id))?;
        bar.set_length(current.progress_total.max(0) as u64);
        bar.set_position(current.progress_done.max(0) as u64);
        if current.status == RunStatus::Completed {
            break current;
        }
        if started.elapsed() > limit {
            bar.finish_and_clear();
            runner.abort();
            anyhow::bail!(
                "{what} run {} did not complete within {} s",
                run.id,
                limit.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    bar.finish_and_clear();
    if let Ok(Err(err)) = runner.await {
        eprintln!("the local worker stopped: {err}");
    }
    eprintln!("{what}: {}", done.outcome.as_str());
    if let Some(message) = super::compare::failure_message(done.failure_summary.as_ref()) {
        eprintln!("  {message}");
    }
    Ok(done)
}

fn print_coverage(run: &operation_run::Model) {
    let Some(types) = run.context["inventory_coverage"]["policy_types"].as_object() else {
        return;
    };
    println!(
        "{:<36} {:<12} {:>6}  error",
        "policy type", "status", "items"
    );
    for (name, entry) in types {
        println!(
            "{:<36} {:<12} {:>6}  {}",
            name,
            entry["status"].as_str().unwrap_or("-"),
            entry["item_count"].as_u64().unwrap_or(0),
            entry["error"].as_str().unwrap_or(""),
        );
    }
    let graph = &run.context["collection"]["graph"];
    println!(
        "graph: {} requests, {} retries, {} throttled",
        graph["requests"].as_u64().unwrap_or(0),
        graph["retries"].as_u64().unwrap_or(0),
        graph["throttled"].as_u64().unwrap_or(0),
    );
}

fn print_content(run: &operation_run::Model) {
    let c: &Value = &run.context["content_capture"];
    println!(
        "content: {} requested, {} captured, {} skipped, {} throttled, {} failed ({} already fresh)",
        c["requested"].as_u64().unwrap_or(0),
        c["captured"].as_u64().unwrap_or(0),
        c["skipped"].as_u64().unwrap_or(0),
        c["throttled"].as_u64().unwrap_or(0),
        c["failed"].as_u64().unwrap_or(0),
        c["fresh"].as_u64().unwrap_or(0),
    );
}
