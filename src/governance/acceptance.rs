//! Accepted drift. An accepted finding is still compared: seen again with
//! the current hash it was accepted at, it stays ACCEPTED (and counts
//! `times_seen`); seen with another, it reopens with reason
//! `drift_changed`; once `accepted_until` passes, the next compare or the
//! periodic sweep reopens it with reason `acceptance_expired`. Each of
//! these is audited and kept in the finding's history.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::enums::FindingStatus;
use entity::finding;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde_json::json;

use super::history::{self, Event};
use super::summary::Dims;
use crate::audit::{self, Action};

pub const DRIFT_CHANGED: &str = "drift_changed";
pub const ACCEPTANCE_EXPIRED: &str = "acceptance_expired";
/// Findings one sweep reopens at most; the next sweep takes the rest.
const SWEEP_BATCH: u64 = 500;

/// The current hash a finding's evidence names (`None` for a missing
/// policy, whose current side is absent). Where the compare compared
/// assignments, the side names their hash too, and both make the state
/// accepted: a digest of the two, so that either changing reopens it.
pub fn current_hash(evidence: &serde_json::Value) -> Option<String> {
    let side = &evidence["current"];
    let hash = side["hash"].as_str()?;
    Some(match side["assignments_hash"].as_str() {
        None => hash.to_owned(),
        Some(assignments) => {
            crate::evidence::hash::sha256_hex(format!("{hash}|{assignments}").as_bytes())
        }
    })
}

/// Reopens `ids` (accepted findings), with the reason for each, audited
/// and in their history.
async fn reopen<C: ConnectionTrait>(
    db: &C,
    reopened: Vec<(i64, i64, i64, &'static str)>,
    run_id: Option<i64>,
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    if reopened.is_empty() {
        return Ok(0);
    }
    // Only the rows this statement moved get an event: two workers'
    // sweeps may pick the same finding, and one of them moves it.
    let mut moved = std::collections::HashSet::new();
    for chunk in reopened.chunks(500) {
        let rows = finding::Entity::update_many()
            .col_expr(
                finding::Column::Status,
                Expr::value(FindingStatus::Open.as_str()),
            )
            .col_expr(
                finding::Column::AcceptedAt,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .col_expr(
                finding::Column::AcceptedByUserId,
                Expr::value(Option::<i64>::None),
            )
            .col_expr(
                finding::Column::AcceptedReason,
                Expr::value(Option::<String>::None),
            )
            .col_expr(
                finding::Column::AcceptedUntil,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .col_expr(
                finding::Column::AcceptedHash,
                Expr::value(Option::<String>::None),
            )
            .filter(finding::Column::Id.is_in(chunk.iter().map(|r| r.0)))
            .filter(finding::Column::Status.eq(FindingStatus::Accepted))
            .exec_with_returning(db)
            .await?;
        let moves: Vec<(Dims, Dims)> = rows
            .iter()
            .map(|r| {
                let to = Dims::of(r);
                (
                    Dims {
                        status: FindingStatus::Accepted,
                        ..to
                    },
                    to,
                )
            })
            .collect();
        super::summary::apply_moves(db, &moves).await?;
        moved.extend(rows.into_iter().map(|r| r.id));
    }
    let reopened: Vec<_> = reopened
        .into_iter()
        .filter(|r| moved.contains(&r.0))
        .collect();
    let count = reopened.len() as u64;
    history::record(
        db,
        reopened
            .iter()
            .map(|(id, tenant_id, _, reason)| Event {
                tenant_id: *tenant_id,
                finding_id: *id,
                from: FindingStatus::Accepted,
                to: FindingStatus::Open,
                reason: Some((*reason).to_owned()),
                actor_user_id: None,
                operation_run_id: run_id,
                at: now,
            })
            .collect(),
    )
    .await?;
    let entries = reopened
        .iter()
        .map(|(id, tenant_id, workspace_id, reason)| audit::Entry {
            action: Action::FindingReopen,
            actor_user_id: None,
            workspace_id: Some(*workspace_id),
            tenant_id: Some(*tenant_id),
            target: Some(("finding", *id)),
            metadata: json!({"from": "accepted", "to": "open", "reason": reason, "operation_run_id": run_id}),
        })
        .collect();
    audit::record_many(db, entries)
        .await
        .map_err(|e| DbErr::Custom(e.to_string()))?;
    Ok(count)
}

/// id, workspace id, fingerprint, accepted hash, accepted until.
type AcceptedRow = (i64, i64, String, Option<String>, Option<DateTime<Utc>>);

/// Before a compare's findings of `fingerprints` are upserted: reopens the
/// accepted ones whose drift changed (another current hash) or whose
/// acceptance expired. `current` maps fingerprint to the current hash the
/// compare saw. One query to find them.
pub async fn reopen_seen<C: ConnectionTrait>(
    db: &C,
    tenant_id: i64,
    current: &HashMap<String, Option<String>>,
    run_id: i64,
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    if current.is_empty() {
        return Ok(0);
    }
    let accepted: Vec<AcceptedRow> = finding::Entity::find()
        .select_only()
        .columns([
            finding::Column::Id,
            finding::Column::WorkspaceId,
            finding::Column::Fingerprint,
            finding::Column::AcceptedHash,
            finding::Column::AcceptedUntil,
        ])
        .filter(finding::Column::TenantId.eq(tenant_id))
        .filter(finding::Column::Status.eq(FindingStatus::Accepted))
        .filter(finding::Column::Fingerprint.is_in(current.keys().cloned()))
        .into_tuple()
        .all(db)
        .await?;
    let reopened: Vec<(i64, i64, i64, &'static str)> = accepted
        .into_iter()
        .filter_map(|(id, workspace_id, fingerprint, hash, until)| {
            let reason = if until.is_some_and(|u| u <= now) {
                ACCEPTANCE_EXPIRED
            } else if current.get(&fingerprint).is_some_and(|c| *c != hash) {
                DRIFT_CHANGED
            } else {
                return None;
            };
            Some((id, tenant_id, workspace_id, reason))
        })
        .collect();
    reopen(db, reopened, Some(run_id), now).await
}

/// Reopens accepted findings whose acceptance has expired, oldest expiry
/// first, up to a batch per call; the workers call it now and then.
pub async fn sweep_expired(
    db: &sea_orm::DatabaseConnection,
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    use sea_orm::TransactionTrait;
    let due: Vec<(i64, i64, i64)> = finding::Entity::find()
        .select_only()
        .columns([
            finding::Column::Id,
            finding::Column::TenantId,
            finding::Column::WorkspaceId,
        ])
        .filter(finding::Column::Status.eq(FindingStatus::Accepted))
        .filter(finding::Column::AcceptedUntil.lte(now))
        .order_by_asc(finding::Column::AcceptedUntil)
        .limit(SWEEP_BATCH)
        .into_tuple()
        .all(db)
        .await?;
    if due.is_empty() {
        return Ok(0);
    }
    let reopened = due
        .into_iter()
        .map(|(id, tenant_id, workspace_id)| (id, tenant_id, workspace_id, ACCEPTANCE_EXPIRED))
        .collect();
    // The status, the history and the audit land together.
    let txn = db.begin().await?;
    let n = reopen(&txn, reopened, None, now).await?;
    txn.commit().await?;
    Ok(n)
}
