//! Findings: identity, idempotent upserts and the lifecycle (first/last
//! seen, times seen, reopen, automatic resolution).

use chrono::{DateTime, Utc};
use entity::enums::{ChangeType, Fidelity, FindingStatus, FindingType, Severity};
use entity::finding;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, ExprTrait, QueryFilter,
    QuerySelect, Set,
};
use serde_json::Value;

use crate::evidence::hash::sha256_hex;

pub fn scope_key(baseline_profile_id: i64) -> String {
    format!("baseline_profile:{baseline_profile_id}")
}

/// `sha256(tenant_id|baseline_snapshot_id|policy_type|subject_key|change_type)`.
pub fn recurrence_key(
    tenant_id: i64,
    snapshot_id: i64,
    policy_type: &str,
    subject_key: &str,
    change: ChangeType,
) -> String {
    sha256_hex(
        format!(
            "{tenant_id}|{snapshot_id}|{policy_type}|{subject_key}|{}",
            change.as_str()
        )
        .as_bytes(),
    )
}

pub fn change_type(finding_type: FindingType) -> ChangeType {
    match finding_type {
        FindingType::MissingPolicy => ChangeType::Deleted,
        FindingType::DifferentVersion => ChangeType::Updated,
        FindingType::UnexpectedPolicy => ChangeType::Created,
    }
}

/// One drift seen by a compare.
#[derive(Clone, Debug)]
pub struct Observed {
    pub tenant_id: i64,
    pub workspace_id: i64,
    pub baseline_profile_id: i64,
    pub baseline_snapshot_id: i64,
    pub policy_type: String,
    pub subject_key: String,
    pub display_name: String,
    pub finding_type: FindingType,
    pub fidelity: Fidelity,
    pub severity: Severity,
    pub evidence: Value,
}

/// Inserts new findings and refreshes seen ones in one statement per batch.
/// Seeing a finding again bumps `times_seen` once per run (a retried run
/// changes nothing) and reopens it if it was resolved. Returns how many were new.
pub async fn upsert_seen<C: ConnectionTrait>(
    db: &C,
    run_id: i64,
    now: DateTime<Utc>,
    batch: Vec<Observed>,
) -> Result<u64, DbErr> {
    if batch.is_empty() {
        return Ok(0);
    }
    let tenant_id = batch[0].tenant_id;
    let rows: Vec<finding::ActiveModel> = batch
        .into_iter()
        .map(|o| {
            let change = change_type(o.finding_type);
            let key = recurrence_key(
                o.tenant_id,
                o.baseline_snapshot_id,
                &o.policy_type,
                &o.subject_key,
                change,
            );
            finding::ActiveModel {
                tenant_id: Set(o.tenant_id),
                workspace_id: Set(o.workspace_id),
                baseline_profile_id: Set(o.baseline_profile_id),
                baseline_snapshot_id: Set(o.baseline_snapshot_id),
                fingerprint: Set(key.clone()),
                recurrence_key: Set(key),
                scope_key: Set(scope_key(o.baseline_profile_id)),
                finding_type: Set(o.finding_type),
                change_type: Set(change),
                status: Set(FindingStatus::Open),
                severity: Set(o.severity),
                evidence_fidelity: Set(o.fidelity),
                policy_type: Set(o.policy_type),
                subject_key: Set(o.subject_key),
                display_name: Set(o.display_name),
                evidence_jsonb: Set(o.evidence),
                first_seen_at: Set(now),
                last_seen_at: Set(now),
                times_seen: Set(1),
                first_seen_operation_run_id: Set(Some(run_id)),
                last_seen_operation_run_id: Set(Some(run_id)),
                acknowledged_at: Set(None),
                acknowledged_by_user_id: Set(None),
                resolved_at: Set(None),
                resolved_reason: Set(None),
                ..Default::default()
            }
        })
        .collect();
    let fingerprints: Vec<String> = rows
        .iter()
        .filter_map(|r| r.fingerprint.try_as_ref().cloned())
        .collect();
    // Accepted drift that changed, or whose acceptance expired, reopens
    // before the upsert sees it again.
    let current: std::collections::HashMap<String, Option<String>> = rows
        .iter()
        .filter_map(|r| {
            let fingerprint = r.fingerprint.try_as_ref()?.clone();
            let evidence = r.evidence_jsonb.try_as_ref()?;
            Some((
                fingerprint,
                crate::governance::acceptance::current_hash(evidence),
            ))
        })
        .collect();
    crate::governance::acceptance::reopen_seen(db, tenant_id, &current, run_id, now).await?;
    let existing: u64 = finding::Entity::find()
        .select_only()
        .column_as(finding::Column::Id.count(), "n")
        .filter(finding::Column::TenantId.eq(tenant_id))
        .filter(finding::Column::Fingerprint.is_in(fingerprints.clone()))
        .into_tuple::<i64>()
        .one(db)
        .await?
        .unwrap_or_default() as u64;

    let same_run = "findings.last_seen_operation_run_id = excluded.last_seen_operation_run_id";
    finding::Entity::insert_many(rows)
        .on_conflict(
            OnConflict::columns([finding::Column::TenantId, finding::Column::Fingerprint])
                .update_columns([
                    finding::Column::LastSeenAt,
                    finding::Column::LastSeenOperationRunId,
                    finding::Column::EvidenceJsonb,
                    finding::Column::EvidenceFidelity,
                    finding::Column::Severity,
                    finding::Column::DisplayName,
                ])
                .value(
                    finding::Column::TimesSeen,
                    Expr::cust(format!(
                        "CASE WHEN {same_run} THEN findings.times_seen ELSE findings.times_seen + 1 END"
                    )),
                )
                .value(
                    finding::Column::Status,
                    Expr::cust("CASE WHEN findings.status = 'resolved' THEN 'open' ELSE findings.status END"),
                )
                .value(finding::Column::ResolvedAt, Expr::cust("NULL"))
                .value(finding::Column::ResolvedReason, Expr::cust("NULL"))
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(fingerprints.len() as u64 - existing)
}

/// Resolves, with reason `excluded`, the findings of a scope whose subjects
/// an exclusion hid in this compare: in batches of subject keys per type.
pub async fn resolve_excluded<C: ConnectionTrait>(
    db: &C,
    tenant_id: i64,
    baseline_profile_id: i64,
    keys: &[(String, String)],
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let mut by_type: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for (t, k) in keys {
        by_type.entry(t.as_str()).or_default().push(k.as_str());
    }
    let mut resolved = 0;
    for (policy_type, keys) in by_type {
        for chunk in keys.chunks(500) {
            resolved += finding::Entity::update_many()
                .col_expr(
                    finding::Column::Status,
                    Expr::value(FindingStatus::Resolved.as_str()),
                )
                .col_expr(finding::Column::ResolvedAt, Expr::value(now))
                .col_expr(finding::Column::ResolvedReason, Expr::value("excluded"))
                .filter(finding::Column::TenantId.eq(tenant_id))
                .filter(finding::Column::ScopeKey.eq(scope_key(baseline_profile_id)))
                .filter(finding::Column::PolicyType.eq(policy_type))
                .filter(finding::Column::SubjectKey.is_in(chunk.iter().copied()))
                .filter(finding::Column::Status.ne(FindingStatus::Resolved))
                .exec(db)
                .await?
                .rows_affected;
        }
    }
    Ok(resolved)
}

/// Resolves the open findings of a scope, in the covered types, that the
/// completed compare `run_id` did not see.
pub async fn resolve_unseen<C: ConnectionTrait>(
    db: &C,
    tenant_id: i64,
    baseline_profile_id: i64,
    covered_types: &[String],
    run_id: i64,
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    if covered_types.is_empty() {
        return Ok(0);
    }
    let unseen = || {
        Condition::all()
            .add(finding::Column::TenantId.eq(tenant_id))
            .add(finding::Column::ScopeKey.eq(scope_key(baseline_profile_id)))
            .add(finding::Column::PolicyType.is_in(covered_types.to_vec()))
            .add(finding::Column::Status.ne(FindingStatus::Resolved))
            .add(
                finding::Column::LastSeenOperationRunId
                    .ne(run_id)
                    .or(finding::Column::LastSeenOperationRunId.is_null()),
            )
    };
    // Accepted drift that is gone: kept in the finding's history.
    let accepted: Vec<i64> = finding::Entity::find()
        .select_only()
        .column(finding::Column::Id)
        .filter(unseen())
        .filter(finding::Column::Status.eq(FindingStatus::Accepted))
        .into_tuple()
        .all(db)
        .await?;
    crate::governance::history::record(
        db,
        accepted
            .into_iter()
            .map(|id| crate::governance::history::Event {
                tenant_id,
                finding_id: id,
                from: FindingStatus::Accepted,
                to: FindingStatus::Resolved,
                reason: Some("drift_gone".into()),
                actor_user_id: None,
                operation_run_id: Some(run_id),
                at: now,
            })
            .collect(),
    )
    .await?;
    let result = finding::Entity::update_many()
        .col_expr(
            finding::Column::Status,
            Expr::value(FindingStatus::Resolved.as_str()),
        )
        .col_expr(finding::Column::ResolvedAt, Expr::value(now))
        .col_expr(
            finding::Column::ResolvedReason,
            Expr::value(format!("not detected by baseline compare run {run_id}")),
        )
        .filter(unseen())
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

/// A person's triage decision on one finding.
#[derive(Clone, Debug)]
pub enum Triage {
    Acknowledge,
    Resolve {
        reason: String,
    },
    Reopen,
    /// Accepted drift: stays compared, reopens when it changes or expires.
    Accept {
        reason: String,
        until: Option<DateTime<Utc>>,
    },
    /// Back to open, by hand.
    Unaccept,
}

/// Applies a triage decision and audits it. Repeating a decision is a no-op;
/// acknowledging a resolved finding is a conflict (reopen it first).
pub async fn triage(
    db: &sea_orm::DatabaseConnection,
    actor_user_id: i64,
    current: finding::Model,
    decision: Triage,
) -> crate::error::Result<finding::Model> {
    use sea_orm::{ActiveModelTrait, TransactionTrait};

    use crate::audit::{self, Action};
    use crate::error::Error;

    let now = Utc::now();
    let from = current.status;
    let mut active: finding::ActiveModel = current.clone().into();
    let clear_acceptance = |active: &mut finding::ActiveModel| {
        active.accepted_at = Set(None);
        active.accepted_by_user_id = Set(None);
        active.accepted_reason = Set(None);
        active.accepted_until = Set(None);
        active.accepted_hash = Set(None);
    };
    let (action, reason) = match (&decision, from) {
        (Triage::Acknowledge, FindingStatus::Acknowledged)
        | (Triage::Resolve { .. }, FindingStatus::Resolved)
        | (Triage::Reopen, FindingStatus::Open)
        | (Triage::Unaccept, FindingStatus::Open) => return Ok(current),
        (Triage::Acknowledge, FindingStatus::Resolved) => {
            return Err(Error::Conflict(
                "the finding is resolved; reopen it before acknowledging it".into(),
            ));
        }
        (Triage::Acknowledge, FindingStatus::Accepted) => {
            return Err(Error::Conflict(
                "the finding is accepted; unaccept it before acknowledging it".into(),
            ));
        }
        (Triage::Accept { .. }, FindingStatus::Resolved) => {
            return Err(Error::Conflict(
                "the finding is resolved: there is no drift to accept".into(),
            ));
        }
        (Triage::Unaccept, status) if status != FindingStatus::Accepted => {
            return Err(Error::Conflict("the finding is not accepted".into()));
        }
        (Triage::Accept { reason, until }, _) => {
            let reason = reason.trim();
            if reason.is_empty() || reason.chars().count() > 400 {
                return Err(Error::bad_input("reason must be 1 to 400 characters"));
            }
            if until.is_some_and(|u| u <= now) {
                return Err(Error::bad_input("expiresAt is in the past"));
            }
            active.status = Set(FindingStatus::Accepted);
            active.accepted_at = Set(Some(now));
            active.accepted_by_user_id = Set(Some(actor_user_id));
            active.accepted_reason = Set(Some(reason.to_owned()));
            active.accepted_until = Set(*until);
            active.accepted_hash = Set(crate::governance::acceptance::current_hash(
                &current.evidence_jsonb,
            ));
            (Action::FindingAccept, Some(reason.to_owned()))
        }
        (Triage::Unaccept, _) => {
            active.status = Set(FindingStatus::Open);
            clear_acceptance(&mut active);
            (Action::FindingUnaccept, None)
        }
        (Triage::Acknowledge, _) => {
            active.status = Set(FindingStatus::Acknowledged);
            active.acknowledged_at = Set(Some(now));
            active.acknowledged_by_user_id = Set(Some(actor_user_id));
            (Action::FindingAcknowledge, None)
        }
        (Triage::Resolve { reason }, _) => {
            let reason = reason.trim();
            if reason.is_empty() || reason.chars().count() > 400 {
                return Err(Error::bad_input("reason must be 1 to 400 characters"));
            }
            active.status = Set(FindingStatus::Resolved);
            active.resolved_at = Set(Some(now));
            active.resolved_reason = Set(Some(reason.to_owned()));
            clear_acceptance(&mut active);
            (Action::FindingResolve, Some(reason.to_owned()))
        }
        (Triage::Reopen, _) => {
            active.status = Set(FindingStatus::Open);
            active.resolved_at = Set(None);
            active.resolved_reason = Set(None);
            active.acknowledged_at = Set(None);
            active.acknowledged_by_user_id = Set(None);
            clear_acceptance(&mut active);
            (Action::FindingReopen, None)
        }
    };
    let txn = db.begin().await?;
    let updated = active.update(&txn).await?;
    crate::governance::summary::apply_moves(
        &txn,
        &[(
            crate::governance::summary::Dims::of(&current),
            crate::governance::summary::Dims::of(&updated),
        )],
    )
    .await?;
    crate::governance::history::record(
        &txn,
        vec![crate::governance::history::Event {
            tenant_id: updated.tenant_id,
            finding_id: updated.id,
            from,
            to: updated.status,
            reason: reason.clone(),
            actor_user_id: Some(actor_user_id),
            operation_run_id: None,
            at: now,
        }],
    )
    .await?;
    audit::record(
        &txn,
        audit::Entry {
            action,
            actor_user_id: Some(actor_user_id),
            workspace_id: Some(updated.workspace_id),
            tenant_id: Some(updated.tenant_id),
            target: Some(("finding", updated.id)),
            metadata: serde_json::json!({"from": from.as_str(), "to": updated.status.as_str(), "reason": reason}),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(updated)
}

/// A finding's setting changes as the API and reports show them.
#[derive(Debug)]
pub enum ListedChanges {
    Listed {
        /// In path order, without those a path exclusion hid at the compare.
        changes: Vec<crate::evidence::diff::SettingChange>,
        /// How many the exclusions hid.
        excluded: i64,
    },
    /// Why there are none to list.
    Unavailable(&'static str),
}

/// The blobs [`listed_changes`] needs for these findings.
pub fn change_blob_hashes<'a>(
    findings: impl IntoIterator<Item = &'a finding::Model>,
) -> Vec<String> {
    findings
        .into_iter()
        .filter(|f| f.finding_type == FindingType::DifferentVersion)
        .flat_map(|f| crate::evidence::diff::finding_blob_pairs(&f.evidence_jsonb))
        .flat_map(|(a, b)| [a, b])
        .collect()
}

/// A finding's setting changes, from the blobs its evidence names (as
/// [`change_blob_hashes`] lists them, loaded). Err: a stored blob that
/// cannot be read.
pub fn listed_changes(
    finding: &finding::Model,
    blobs: &std::collections::HashMap<String, Option<Value>>,
) -> Result<ListedChanges, crate::error::Error> {
    use crate::evidence::diff::{self, Unlisted};
    if finding.finding_type != FindingType::DifferentVersion {
        return Ok(ListedChanges::Unavailable(
            "only one side exists, so there is nothing to diff",
        ));
    }
    let changes = match diff::finding_changes(&finding.evidence_jsonb, blobs) {
        Ok(changes) => changes,
        Err(Unlisted::NoContent) => {
            return Ok(ListedChanges::Unavailable(
                "compared at meta fidelity: settings need content evidence on both sides",
            ));
        }
        Err(Unlisted::NotStored) => {
            return Ok(ListedChanges::Unavailable(
                "the normalized content of a side is no longer stored",
            ));
        }
        Err(Unlisted::Unreadable) => {
            return Err(crate::error::Error::internal(anyhow::anyhow!(
                "the stored content of a side of finding {} could not be read",
                finding.id
            )));
        }
    };
    // Changes under a path exclusion that applied at the compare are not
    // the finding's.
    let patterns = crate::governance::exclusions::stored_patterns(&finding.evidence_jsonb);
    Ok(ListedChanges::Listed {
        changes: changes
            .into_iter()
            .filter(|c| !crate::governance::exclusions::path_excluded(&patterns, &c.path))
            .collect(),
        excluded: finding.evidence_jsonb["excluded_changes"]
            .as_i64()
            .unwrap_or(0),
    })
}

/// What differs, for a DIFFERENT_VERSION finding: `settings` and, where the
/// profile compares them, `assignments` at content fidelity, or `metadata`
/// at meta fidelity. Empty for missing and unexpected subjects.
pub fn changed_aspects(finding: &finding::Model) -> Vec<&'static str> {
    match finding.evidence_jsonb["changed_aspects"].as_array() {
        Some(names) => names
            .iter()
            .filter_map(|n| match n.as_str()? {
                "settings" => Some("settings"),
                "assignments" => Some("assignments"),
                "metadata" => Some("metadata"),
                _ => None,
            })
            .collect(),
        // Findings recorded before aspects were: their fidelity says.
        None if finding.finding_type == FindingType::DifferentVersion => {
            vec![match finding.evidence_fidelity {
                Fidelity::Content => "settings",
                Fidelity::Meta => "metadata",
            }]
        }
        None => Vec::new(),
    }
}
