//! Verification (spec 074): is a tenant ready to be trusted? Checks read the
//! database only and are stored in the run as `context.verification_report`;
//! reading the report later never triggers work. The report holds safe
//! pointers (run and snapshot ids), never secrets or payloads.

use chrono::{DateTime, Duration, Utc};
use entity::enums::{RunOutcome, RunStatus, RunType, SnapshotStatus};
use entity::{
    baseline_profile, baseline_snapshot, baseline_tenant_assignment, operation_run, tenant,
};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder};
use serde::Serialize;
use serde_json::{Value, json};

use super::queue::Completion;
use super::summary_counts;
use super::worker::{Finished, JobError, RunContext};
use crate::drift::profiles::Scope;
use crate::drift::subjects::{TypeCoverage, inventory_coverage};

pub const SCHEMA_VERSION: u32 = 1;
pub const FLOW: &str = "tenant_baseline_readiness";
/// An inventory sync older than this is stale.
const SYNC_FRESH_FOR_HOURS: i64 = 24;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pass,
    Fail,
    Warn,
    Skip,
    Running,
}

#[derive(Clone, Copy, Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

#[derive(Debug, Serialize)]
pub struct Check {
    pub key: String,
    pub title: String,
    pub status: Status,
    pub severity: Severity,
    pub blocking: bool,
    pub reason_code: &'static str,
    pub message: String,
    pub evidence: Vec<Value>,
    pub next_steps: Vec<String>,
}

fn run_pointer(run: &operation_run::Model) -> Value {
    json!({"kind": "operation_run", "id": run.id, "type": run.run_type, "outcome": run.outcome})
}

/// The queued run for a verification of `tenant`; one active per tenant.
pub fn new_run(tenant: &tenant::Model, initiator_user_id: Option<i64>) -> super::queue::NewRun {
    super::queue::NewRun {
        workspace_id: tenant.workspace_id,
        tenant_id: tenant.id,
        run_type: RunType::Verification,
        initiator_user_id,
        run_identity_hash: super::identity_hash(&["verification", &tenant.id.to_string()]),
        context: json!({"verification": {"tenant_id": tenant.id}}),
    }
}

/// The newest run of `run_type` for the tenant; with a profile, the newest
/// compare of that profile (found by its run identity, one row read).
async fn latest_run(
    db: &DatabaseConnection,
    tenant_id: i64,
    run_type: RunType,
    profile_id: Option<i64>,
) -> Result<Option<operation_run::Model>, DbErr> {
    let mut query = operation_run::Entity::find()
        .filter(operation_run::Column::TenantId.eq(tenant_id))
        .filter(operation_run::Column::RunType.eq(run_type));
    if let Some(profile_id) = profile_id {
        query = query.filter(
            operation_run::Column::RunIdentityHash
                .eq(crate::drift::compare::run_identity(profile_id, tenant_id)),
        );
    }
    query.order_by_desc(operation_run::Column::Id).one(db).await
}

pub async fn execute(ctx: &RunContext) -> Result<Finished, JobError> {
    let db = &ctx.db;
    let tenant_id = ctx.run.context["verification"]["tenant_id"]
        .as_i64()
        .ok_or(JobError::Failed {
            reason_code: "invalid_request",
            message: "the run names no tenant".into(),
        })?;
    let tenant = tenant::Entity::find_by_id(tenant_id)
        .one(db)
        .await?
        .ok_or(JobError::Failed {
            reason_code: "tenant_not_found",
            message: "the tenant no longer exists".into(),
        })?;
    let now = Utc::now();
    let mut checks = Vec::new();

    // 1. A recent successful inventory sync.
    let sync = latest_run(db, tenant.id, RunType::InventorySync, None).await?;
    checks.push(match &sync {
        None => Check {
            key: "inventory.recent_sync".into(),
            title: "A recent successful inventory sync".into(),
            status: Status::Fail,
            severity: Severity::Critical,
            blocking: true,
            reason_code: "no_inventory_sync",
            message: "No inventory sync was ever recorded for this tenant.".into(),
            evidence: vec![],
            next_steps: vec![
                "Record an inventory sync (recordInventorySync or `drift-engine import`).".into(),
            ],
        },
        Some(run) => {
            let at = run.completed_at.unwrap_or(run.created_at);
            let stale = now - at > Duration::hours(SYNC_FRESH_FOR_HOURS);
            let (status, reason_code, message) = match (run.outcome, stale) {
                (RunOutcome::Failed, _) => (
                    Status::Fail,
                    "inventory_sync_failed",
                    "The latest inventory sync failed for every policy type.",
                ),
                (RunOutcome::PartiallySucceeded, _) => (
                    Status::Warn,
                    "inventory_sync_partial",
                    "The latest inventory sync failed for some policy types.",
                ),
                (_, true) => (
                    Status::Warn,
                    "inventory_sync_stale",
                    "The latest inventory sync is older than 24 hours.",
                ),
                _ => (
                    Status::Pass,
                    "inventory_sync_recent",
                    "The latest inventory sync succeeded within 24 hours.",
                ),
            };
            Check {
                key: "inventory.recent_sync".into(),
                title: "A recent successful inventory sync".into(),
                status,
                severity: if status == Status::Fail {
                    Severity::Critical
                } else {
                    Severity::Medium
                },
                blocking: status == Status::Fail,
                reason_code,
                message: message.into(),
                evidence: vec![run_pointer(run)],
                next_steps: if status == Status::Pass {
                    vec![]
                } else {
                    vec!["Run the collector again and record a full inventory sync.".into()]
                },
            }
        }
    });

    // 2. Assigned profiles: scope coverage, a complete snapshot, the last compare.
    let assignments = baseline_tenant_assignment::Entity::find()
        .filter(baseline_tenant_assignment::Column::TenantId.eq(tenant.id))
        .find_also_related(baseline_profile::Entity)
        .all(db)
        .await?;
    if assignments.is_empty() {
        checks.push(Check {
            key: "baseline.assigned_profile".into(),
            title: "A baseline profile is assigned".into(),
            status: Status::Warn,
            severity: Severity::Medium,
            blocking: false,
            reason_code: "no_profile_assigned",
            message: "No baseline profile is assigned to this tenant, so it is never compared."
                .into(),
            evidence: vec![],
            next_steps: vec!["Assign a baseline profile (assignBaselineProfile).".into()],
        });
    }
    let mut latest_snapshot_at: Option<DateTime<Utc>> = None;
    for profile in assignments.into_iter().filter_map(|(_, p)| p) {
        let types = Scope::of(&profile).effective_types();
        let coverage = inventory_coverage(db, tenant.id, &types).await?;
        let failed: Vec<&String> = coverage
            .iter()
            .filter(|(_, c)| matches!(c, TypeCoverage::Failed(_)))
            .map(|(t, _)| t)
            .collect();
        // An empty or shrunk listing that no second sync confirmed yet.
        let unconfirmed: Vec<&String> = coverage
            .iter()
            .filter(|(_, c)| matches!(c, TypeCoverage::Unconfirmed(..)))
            .map(|(t, _)| t)
            .collect();
        let never: Vec<&String> = coverage
            .iter()
            .filter(|(_, c)| **c == TypeCoverage::NeverSynced)
            .map(|(t, _)| t)
            .collect();
        let covered = coverage.len() - failed.len() - unconfirmed.len() - never.len();
        let status = if covered == 0 {
            Status::Fail
        } else if failed.is_empty() && unconfirmed.is_empty() && never.is_empty() {
            Status::Pass
        } else {
            Status::Warn
        };
        checks.push(Check {
            key: format!("coverage.baseline_profile:{}", profile.id),
            title: format!("Inventory covers the scope of profile \"{}\"", profile.name),
            status,
            severity: if status == Status::Fail {
                Severity::High
            } else {
                Severity::Medium
            },
            blocking: status == Status::Fail,
            reason_code: match status {
                Status::Pass => "scope_covered",
                Status::Fail => "scope_uncovered",
                _ => "scope_partially_covered",
            },
            message: if unconfirmed.is_empty() {
                format!(
                    "{covered} of {} scope types are covered; failed: {}; never synced: {}.",
                    coverage.len(),
                    failed.len(),
                    never.len()
                )
            } else {
                format!(
                    "{covered} of {} scope types are covered; failed: {}; never synced: {}; listed empty or much shorter than before, unconfirmed: {}.",
                    coverage.len(),
                    failed.len(),
                    never.len(),
                    unconfirmed.len()
                )
            },
            evidence: vec![json!({"kind": "baseline_profile", "id": profile.id})],
            next_steps: match (status, unconfirmed.is_empty()) {
                (Status::Pass, _) => vec![],
                (_, true) => {
                    vec!["Sync the uncovered policy types, or narrow the profile's scope.".into()]
                }
                (_, false) => vec![
                    "Sync the uncovered policy types, or narrow the profile's scope.".into(),
                    "Sync again to confirm an empty or much shorter listing, or send it with confirmEmpty if it is real.".into(),
                ],
            },
        });

        let snapshot = baseline_snapshot::Entity::find()
            .filter(baseline_snapshot::Column::BaselineProfileId.eq(profile.id))
            .filter(baseline_snapshot::Column::Status.eq(SnapshotStatus::Complete))
            .order_by_desc(baseline_snapshot::Column::CapturedAt)
            .one(db)
            .await?;
        if let Some(s) = &snapshot {
            latest_snapshot_at = latest_snapshot_at.max(Some(s.captured_at));
        }
        checks.push(Check {
            key: format!("baseline.snapshot.baseline_profile:{}", profile.id),
            title: format!(
                "Profile \"{}\" has a complete baseline snapshot",
                profile.name
            ),
            status: if snapshot.is_some() {
                Status::Pass
            } else {
                Status::Fail
            },
            severity: if snapshot.is_some() {
                Severity::Info
            } else {
                Severity::High
            },
            blocking: snapshot.is_none(),
            reason_code: if snapshot.is_some() {
                "snapshot_complete"
            } else {
                "no_complete_snapshot"
            },
            message: match &snapshot {
                Some(s) => format!(
                    "Snapshot {} holds {} subjects, captured at {}.",
                    s.id,
                    s.item_count,
                    s.captured_at.to_rfc3339()
                ),
                None => "There is no complete snapshot to compare against.".into(),
            },
            evidence: snapshot
                .iter()
                .map(|s| json!({"kind": "baseline_snapshot", "id": s.id}))
                .collect(),
            next_steps: if snapshot.is_some() {
                vec![]
            } else {
                vec!["Start a baseline capture (startBaselineCapture).".into()]
            },
        });

        let compare = latest_run(db, tenant.id, RunType::BaselineCompare, Some(profile.id)).await?;
        let (status, reason_code, message) = match compare.as_ref().map(|r| (r.status, r.outcome)) {
            None => (
                Status::Skip,
                "never_compared",
                "The tenant was never compared against this profile.".to_owned(),
            ),
            Some((RunStatus::Queued | RunStatus::Running, _)) => (
                Status::Running,
                "compare_in_progress",
                "A compare is queued or running.".to_owned(),
            ),
            Some((_, RunOutcome::Succeeded)) => (
                Status::Pass,
                "compare_succeeded",
                "The last compare succeeded.".to_owned(),
            ),
            Some((_, RunOutcome::PartiallySucceeded)) => (
                Status::Warn,
                "compare_partial",
                "The last compare left some types uncovered.".to_owned(),
            ),
            Some(_) => (
                Status::Fail,
                "compare_failed",
                "The last compare failed.".to_owned(),
            ),
        };
        checks.push(Check {
            key: format!("compare.last_outcome.baseline_profile:{}", profile.id),
            title: format!("The last compare against \"{}\"", profile.name),
            status,
            severity: if status == Status::Fail {
                Severity::High
            } else {
                Severity::Low
            },
            blocking: false,
            reason_code,
            message,
            evidence: compare.iter().map(run_pointer).collect(),
            next_steps: match status {
                Status::Skip | Status::Fail => {
                    vec!["Start a compare (startBaselineCompare).".into()]
                }
                _ => vec![],
            },
        });
    }

    // 3. How fresh the content evidence is, relative to the newest baseline.
    let capture = latest_run(db, tenant.id, RunType::PolicyCapture, None).await?;
    let (status, reason_code, message) = match (&capture, latest_snapshot_at) {
        (None, _) => (
            Status::Warn,
            "no_content_evidence",
            "No policy content was ever captured: compares use meta evidence only.",
        ),
        (Some(run), Some(since)) if run.created_at < since => (
            Status::Warn,
            "content_older_than_baseline",
            "The newest content predates the newest baseline snapshot: compares fall back to meta evidence.",
        ),
        _ => (
            Status::Pass,
            "content_fresh",
            "Policy content was captured after the newest baseline snapshot.",
        ),
    };
    checks.push(Check {
        key: "evidence.content_freshness".into(),
        title: "Content evidence is fresh".into(),
        status,
        severity: Severity::Medium,
        blocking: false,
        reason_code,
        message: message.into(),
        evidence: capture.iter().map(run_pointer).collect(),
        next_steps: if status == Status::Pass {
            vec![]
        } else {
            vec!["Record current policy versions (recordPolicyVersions).".into()]
        },
    });

    let count = |s: Status| checks.iter().filter(|c| c.status == s).count() as u64;
    let blocking = checks
        .iter()
        .filter(|c| c.blocking && c.status == Status::Fail)
        .count() as u64;
    let overall = if blocking > 0 {
        "blocked"
    } else if count(Status::Fail) + count(Status::Warn) > 0 {
        "attention"
    } else {
        "ready"
    };
    let report = json!({
        "schema_version": SCHEMA_VERSION,
        "flow": FLOW,
        "identity": {"tenant_id": tenant.id, "workspace_id": tenant.workspace_id, "operation_run_id": ctx.run.id},
        "generated_at": now,
        "summary": {
            "counts": {"pass": count(Status::Pass), "fail": count(Status::Fail), "warn": count(Status::Warn), "skip": count(Status::Skip), "running": count(Status::Running)},
            "blocking_failures": blocking,
            "overall": overall,
        },
        "checks": checks,
    });
    let txn = ctx.begin_final_write().await?;
    let completion = Completion {
        outcome: if blocking > 0 {
            RunOutcome::PartiallySucceeded
        } else {
            RunOutcome::Succeeded
        },
        summary_counts: summary_counts(&[("warnings", count(Status::Warn) + count(Status::Fail))]),
        context: json!({"verification": {"tenant_id": tenant.id}, "verification_report": report}),
        failure_summary: None,
    };
    ctx.finish(txn, completion).await
}
