//! Operation runs: every long-running or auditable job is a row in
//! `operation_runs`. This module owns how runs are created and recorded.

pub mod queue;
pub mod verification;
pub mod worker;

use chrono::{DateTime, Utc};
use entity::enums::{RunOutcome, RunStatus, RunType};
use entity::operation_run;
use sea_orm::{ActiveModelTrait, ConnectionTrait, DbErr, Set};
use serde_json::{Map, Value};

use crate::evidence::hash::sha256_hex;

/// The only keys `summary_counts` may hold; values are numbers only, so no
/// payload or secret can ever land there.
pub const SUMMARY_KEYS: &[&str] = &[
    "items_total",
    "items_upserted",
    "items_removed",
    "policy_types_succeeded",
    "policy_types_failed",
    "versions_total",
    "versions_normalized",
    "versions_not_normalizable",
    "blobs_total",
    "subjects_total",
    "resolved_content",
    "resolved_meta",
    "evidence_gaps",
    "findings_total",
    "findings_new",
    "findings_resolved",
    "warnings",
];

/// Builds `summary_counts` from whitelisted keys; others are dropped and
/// logged (that is a programming error, not client input).
pub fn summary_counts(pairs: &[(&str, u64)]) -> Value {
    let mut map = Map::new();
    for (key, value) in pairs {
        if SUMMARY_KEYS.contains(key) {
            map.insert((*key).to_owned(), Value::from(*value));
        } else {
            tracing::warn!(key, "dropped a summary count key that is not whitelisted");
        }
    }
    Value::Object(map)
}

/// A stable identity for dedupe: the same inputs give the same hash.
pub fn identity_hash(parts: &[&str]) -> String {
    sha256_hex(parts.join("|").as_bytes())
}

pub struct CompletedRun {
    pub workspace_id: i64,
    pub tenant_id: i64,
    pub run_type: RunType,
    pub outcome: RunOutcome,
    pub initiator_user_id: Option<i64>,
    pub run_identity_hash: String,
    pub summary_counts: Value,
    pub failure_summary: Option<Value>,
    pub context: Value,
    pub started_at: DateTime<Utc>,
    pub progress_total: i64,
}

/// Records a run whose work was done inline (ingestion): created completed.
pub async fn insert_completed<C: ConnectionTrait>(
    db: &C,
    run: CompletedRun,
) -> Result<operation_run::Model, DbErr> {
    let now = Utc::now();
    operation_run::ActiveModel {
        workspace_id: Set(run.workspace_id),
        tenant_id: Set(run.tenant_id),
        run_type: Set(run.run_type),
        status: Set(RunStatus::Completed),
        outcome: Set(run.outcome),
        initiator_user_id: Set(run.initiator_user_id),
        run_identity_hash: Set(run.run_identity_hash),
        summary_counts: Set(run.summary_counts),
        failure_summary: Set(run.failure_summary),
        context: Set(run.context),
        progress_done: Set(run.progress_total),
        progress_total: Set(run.progress_total),
        attempts: Set(1),
        claimed_by: Set(None),
        heartbeat_at: Set(None),
        created_at: Set(run.started_at),
        updated_at: Set(now),
        started_at: Set(Some(run.started_at)),
        completed_at: Set(Some(now)),
        ..Default::default()
    }
    .insert(db)
    .await
}
