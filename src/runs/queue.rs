//! The run queue: enqueue with active-run dedupe, claim, heartbeat, progress,
//! completion, release and take-over. All state lives in `operation_runs`, so
//! any number of processes can share one PostgreSQL database.

use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::enums::{RunOutcome, RunStatus, RunType};
use entity::operation_run;
use sea_orm::ExprTrait;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbBackend,
    DbErr, EntityTrait, QueryFilter, Set, Statement,
};
use serde_json::{Value, json};

pub struct NewRun {
    pub workspace_id: i64,
    pub tenant_id: i64,
    pub run_type: RunType,
    pub initiator_user_id: Option<i64>,
    /// Same identity on the same tenant while one is active = the same run.
    pub run_identity_hash: String,
    pub context: Value,
}

/// Queues a run, or returns the run with the same identity that is already
/// queued or running (`false` = deduplicated).
pub async fn enqueue(
    db: &DatabaseConnection,
    new: NewRun,
) -> Result<(operation_run::Model, bool), DbErr> {
    // The partial unique index decides races between processes; a conflict
    // means another caller won, so read theirs. Retried once in case it
    // completed in between.
    for _ in 0..3 {
        if let Some(active) = find_active(db, new.tenant_id, &new.run_identity_hash).await? {
            return Ok((active, false));
        }
        let now = Utc::now();
        let inserted = operation_run::ActiveModel {
            workspace_id: Set(new.workspace_id),
            tenant_id: Set(new.tenant_id),
            run_type: Set(new.run_type),
            status: Set(RunStatus::Queued),
            outcome: Set(RunOutcome::Pending),
            initiator_user_id: Set(new.initiator_user_id),
            run_identity_hash: Set(new.run_identity_hash.clone()),
            summary_counts: Set(json!({})),
            failure_summary: Set(None),
            context: Set(new.context.clone()),
            progress_done: Set(0),
            progress_total: Set(0),
            attempts: Set(0),
            claimed_by: Set(None),
            heartbeat_at: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            started_at: Set(None),
            completed_at: Set(None),
            ..Default::default()
        }
        .insert(db)
        .await;
        match inserted {
            Ok(run) => return Ok((run, true)),
            Err(err) if crate::error::is_unique_violation(&err) => continue,
            Err(err) => return Err(err),
        }
    }
    find_active(db, new.tenant_id, &new.run_identity_hash)
        .await?
        .map(|run| (run, false))
        .ok_or_else(|| {
            DbErr::Custom("could not enqueue the run: its identity stayed contended".into())
        })
}

async fn find_active(
    db: &DatabaseConnection,
    tenant_id: i64,
    identity: &str,
) -> Result<Option<operation_run::Model>, DbErr> {
    operation_run::Entity::find()
        .filter(operation_run::Column::TenantId.eq(tenant_id))
        .filter(operation_run::Column::RunIdentityHash.eq(identity))
        .filter(operation_run::Column::Status.is_in([RunStatus::Queued, RunStatus::Running]))
        .one(db)
        .await
}

/// Claims the oldest queued run, or a running one whose worker stopped
/// heartbeating (a take-over), as one atomic statement. PostgreSQL skips rows
/// other workers hold; SQLite has a single writer.
pub async fn claim_next(
    db: &DatabaseConnection,
    worker_id: &str,
    heartbeat_timeout: Duration,
    max_attempts: i32,
) -> Result<Option<operation_run::Model>, DbErr> {
    let now = Utc::now();
    let stale_before = now - chrono::Duration::from_std(heartbeat_timeout).unwrap_or_default();
    let backend = db.get_database_backend();
    let lock = if backend == DbBackend::Postgres {
        "FOR UPDATE SKIP LOCKED"
    } else {
        ""
    };
    let p = |n: usize| {
        if backend == DbBackend::Postgres {
            format!("${n}")
        } else {
            "?".to_owned()
        }
    };
    let sql = format!(
        "UPDATE operation_runs SET status = 'running', claimed_by = {p1}, heartbeat_at = {p2}, updated_at = {p2}, \
         started_at = COALESCE(started_at, {p2}), attempts = attempts + 1 \
         WHERE id = (SELECT id FROM operation_runs \
           WHERE (status = 'queued' OR (status = 'running' AND heartbeat_at < {p3})) AND attempts < {p4} \
           ORDER BY id LIMIT 1 {lock}) \
         RETURNING *",
        p1 = p(1),
        p2 = p(2),
        p3 = p(3),
        p4 = p(4),
    );
    // SQLite numbers `?` by position, so repeated values are bound again.
    let values: Vec<sea_orm::Value> = if backend == DbBackend::Postgres {
        vec![
            worker_id.into(),
            now.into(),
            stale_before.into(),
            max_attempts.into(),
        ]
    } else {
        vec![
            worker_id.into(),
            now.into(),
            now.into(),
            now.into(),
            stale_before.into(),
            max_attempts.into(),
        ]
    };
    operation_run::Entity::find()
        .from_raw_sql(Statement::from_sql_and_values(backend, sql, values))
        .one(db)
        .await
}

/// Fails runs whose worker vanished after the last allowed attempt, so no
/// run stays `running` forever.
pub async fn fail_abandoned(
    db: &DatabaseConnection,
    heartbeat_timeout: Duration,
    max_attempts: i32,
) -> Result<u64, DbErr> {
    let now = Utc::now();
    let stale_before = now - chrono::Duration::from_std(heartbeat_timeout).unwrap_or_default();
    let result = operation_run::Entity::update_many()
        .col_expr(operation_run::Column::Status, Expr::value(RunStatus::Completed.as_str()))
        .col_expr(operation_run::Column::Outcome, Expr::value(RunOutcome::Failed.as_str()))
        .col_expr(
            operation_run::Column::FailureSummary,
            Expr::value(json!({
                "reason_code": "worker_lost",
                "message": "the worker running this job stopped responding and the retry limit was reached",
            })),
        )
        .col_expr(operation_run::Column::CompletedAt, Expr::value(now))
        .col_expr(operation_run::Column::UpdatedAt, Expr::value(now))
        .filter(operation_run::Column::Status.eq(RunStatus::Running))
        .filter(operation_run::Column::HeartbeatAt.lt(stale_before))
        .filter(operation_run::Column::Attempts.gte(max_attempts))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

/// Who holds a claimed run: the fencing token every write of a job carries.
/// The attempt number tells two claims by the same worker id apart (two
/// processes may share a pid, one in each container).
#[derive(Clone, Debug)]
pub struct Claim {
    pub run_id: i64,
    pub worker_id: String,
    pub attempt: i32,
}

impl Claim {
    /// The claim `claim_next` just made for `worker_id`.
    pub fn of(run: &operation_run::Model, worker_id: &str) -> Self {
        Self {
            run_id: run.id,
            worker_id: worker_id.to_owned(),
            attempt: run.attempts,
        }
    }

    /// Matches the run only while this claim still holds it.
    fn held(&self) -> Condition {
        Condition::all()
            .add(operation_run::Column::Id.eq(self.run_id))
            .add(operation_run::Column::ClaimedBy.eq(self.worker_id.as_str()))
            .add(operation_run::Column::Attempts.eq(self.attempt))
            .add(operation_run::Column::Status.eq(RunStatus::Running))
    }
}

/// Keeps a claim alive. `false` when the claim was lost (taken over).
/// Inside a transaction it is also the fence: the run's row stays locked
/// until the transaction ends, so no take-over can interleave with the
/// writes that follow it (PostgreSQL; SQLite has one writer anyway).
pub async fn heartbeat<C: ConnectionTrait>(db: &C, claim: &Claim) -> Result<bool, DbErr> {
    let result = operation_run::Entity::update_many()
        .col_expr(operation_run::Column::HeartbeatAt, Expr::value(Utc::now()))
        .filter(claim.held())
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

pub async fn set_progress<C: ConnectionTrait>(
    db: &C,
    claim: &Claim,
    done: i64,
    total: i64,
) -> Result<bool, DbErr> {
    let now = Utc::now();
    let result = operation_run::Entity::update_many()
        .col_expr(operation_run::Column::ProgressDone, Expr::value(done))
        .col_expr(operation_run::Column::ProgressTotal, Expr::value(total))
        .col_expr(operation_run::Column::HeartbeatAt, Expr::value(now))
        .col_expr(operation_run::Column::UpdatedAt, Expr::value(now))
        .filter(claim.held())
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Writes a job's checkpoint into its run's context, under its claim;
/// `false` when the claim was lost. In a job's fenced transaction it lands
/// with the writes it describes.
pub async fn set_context<C: ConnectionTrait>(
    db: &C,
    claim: &Claim,
    context: Value,
) -> Result<bool, DbErr> {
    let now = Utc::now();
    let result = operation_run::Entity::update_many()
        .col_expr(operation_run::Column::Context, Expr::value(context))
        .col_expr(operation_run::Column::HeartbeatAt, Expr::value(now))
        .col_expr(operation_run::Column::UpdatedAt, Expr::value(now))
        .filter(claim.held())
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

pub struct Completion {
    pub outcome: RunOutcome,
    pub summary_counts: Value,
    pub context: Value,
    pub failure_summary: Option<Value>,
}

/// Completes a run this worker still holds. `false` if the claim was lost,
/// in which case the new holder's result stands.
pub async fn complete<C: ConnectionTrait>(
    db: &C,
    claim: &Claim,
    done: Completion,
) -> Result<bool, DbErr> {
    let now: DateTime<Utc> = Utc::now();
    let result = operation_run::Entity::update_many()
        .col_expr(
            operation_run::Column::Status,
            Expr::value(RunStatus::Completed.as_str()),
        )
        .col_expr(
            operation_run::Column::Outcome,
            Expr::value(done.outcome.as_str()),
        )
        .col_expr(
            operation_run::Column::SummaryCounts,
            Expr::value(done.summary_counts),
        )
        .col_expr(operation_run::Column::Context, Expr::value(done.context))
        .col_expr(
            operation_run::Column::FailureSummary,
            Expr::value(done.failure_summary),
        )
        .col_expr(operation_run::Column::CompletedAt, Expr::value(now))
        .col_expr(operation_run::Column::UpdatedAt, Expr::value(now))
        .col_expr(
            operation_run::Column::ProgressDone,
            Expr::col(operation_run::Column::ProgressTotal),
        )
        .filter(claim.held())
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Gives a claimed run back to the queue (graceful shutdown). The attempt
/// does not count against the retry limit.
pub async fn release(db: &DatabaseConnection, claim: &Claim) -> Result<(), DbErr> {
    operation_run::Entity::update_many()
        .col_expr(
            operation_run::Column::Status,
            Expr::value(RunStatus::Queued.as_str()),
        )
        .col_expr(
            operation_run::Column::ClaimedBy,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            operation_run::Column::Attempts,
            Expr::col(operation_run::Column::Attempts).sub(1),
        )
        .col_expr(operation_run::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(claim.held())
        .exec(db)
        .await?;
    Ok(())
}
