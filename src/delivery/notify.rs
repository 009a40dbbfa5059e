//! The outbox side of notifications: in the transaction that completes a
//! compare, each channel of the workspace that is for the tenant gets a
//! notification when its view of the scope's active findings changed.
//!
//! A channel's view is the active (open or acknowledged) findings that
//! pass its filters; its fingerprint is a SHA-256 over their fingerprints
//! and current hashes, sorted. It is compared with the fingerprint of the
//! channel's last notification for the same tenant and profile (none
//! counts as no findings), so the same drift seen again sends nothing, a
//! new or changed drift sends one, and drift that went away sends one.
//! The payload names findings and their setting paths, never values.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::enums::{FindingStatus, FindingType, Severity};
use entity::{baseline_profile, finding, notification, notification_channel, tenant};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, ExprTrait, QueryFilter, QuerySelect, Set,
};
use serde_json::{Value, json};

use super::channels::{Filters, filters_of};
use crate::evidence::hash::sha256_hex;

/// The payload's format version.
pub const PAYLOAD_VERSION: u32 = 1;
/// Findings listed in one payload; all are counted.
pub const MAX_LISTED: usize = 20;

pub const PENDING: &str = "pending";
pub const DELIVERED: &str = "delivered";
pub const FAILED: &str = "failed";

/// A finding as a notification reads it.
struct Row {
    id: i64,
    fingerprint: String,
    finding_type: FindingType,
    severity: Severity,
    status: FindingStatus,
    policy_type: String,
    subject_key: String,
    display_name: String,
    evidence: Value,
    first_seen_run: Option<i64>,
}

impl Row {
    fn passes(&self, f: &Filters) -> bool {
        f.min_severity.is_none_or(|min| self.severity >= min)
            && (f.finding_types.is_empty() || f.finding_types.contains(&self.finding_type))
    }
}

fn fingerprint_of<'a>(rows: impl Iterator<Item = &'a Row>) -> String {
    let mut parts: Vec<String> = rows
        .map(|r| {
            format!(
                "{}|{}",
                r.fingerprint,
                crate::governance::acceptance::current_hash(&r.evidence).unwrap_or_default()
            )
        })
        .collect();
    parts.sort_unstable();
    sha256_hex(parts.join("\n").as_bytes())
}

/// Reads the findings of the scope in `statuses` (and, for resolved ones,
/// resolved at `resolved_at`).
async fn rows<C: ConnectionTrait>(
    db: &C,
    tenant_id: i64,
    profile_id: i64,
    statuses: &[FindingStatus],
    resolved_at: Option<DateTime<Utc>>,
) -> Result<Vec<Row>, DbErr> {
    let mut select = finding::Entity::find()
        .filter(finding::Column::TenantId.eq(tenant_id))
        .filter(finding::Column::ScopeKey.eq(crate::drift::findings::scope_key(profile_id)))
        .filter(finding::Column::Status.is_in(statuses.iter().map(|s| s.as_str())));
    if let Some(at) = resolved_at {
        select = select.filter(finding::Column::ResolvedAt.eq(at));
    }
    Ok(select
        .all(db)
        .await?
        .into_iter()
        .map(|f| Row {
            id: f.id,
            fingerprint: f.fingerprint,
            finding_type: f.finding_type,
            severity: f.severity,
            status: f.status,
            policy_type: f.policy_type,
            subject_key: f.subject_key,
            display_name: f.display_name,
            evidence: f.evidence_jsonb,
            first_seen_run: f.first_seen_operation_run_id,
        })
        .collect())
}

/// Writes the notifications a completed compare calls for, in `txn` (the
/// compare's final transaction). Returns how many.
pub async fn on_compare<C: ConnectionTrait>(
    txn: &C,
    tenant: &tenant::Model,
    profile: &baseline_profile::Model,
    run_id: i64,
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let channels: Vec<notification_channel::Model> = notification_channel::Entity::find()
        .filter(notification_channel::Column::WorkspaceId.eq(tenant.workspace_id))
        .all(txn)
        .await?
        .into_iter()
        .filter(|c| {
            let f = filters_of(c);
            f.tenant_ids.is_empty() || f.tenant_ids.contains(&tenant.id)
        })
        .collect();
    if channels.is_empty() {
        return Ok(0);
    }
    let active = rows(
        txn,
        tenant.id,
        profile.id,
        &[FindingStatus::Open, FindingStatus::Acknowledged],
        None,
    )
    .await?;
    let resolved = rows(
        txn,
        tenant.id,
        profile.id,
        &[FindingStatus::Resolved],
        Some(now),
    )
    .await?;
    // Each channel's last notification of this scope.
    let last_ids = Query::select()
        .expr(notification::Column::Id.max())
        .from(notification::Entity)
        .and_where(Expr::col(notification::Column::TenantId).eq(tenant.id))
        .and_where(Expr::col(notification::Column::BaselineProfileId).eq(profile.id))
        .group_by_col(notification::Column::ChannelId)
        .to_owned();
    let previous: HashMap<i64, String> = notification::Entity::find()
        .select_only()
        .columns([
            notification::Column::ChannelId,
            notification::Column::Fingerprint,
        ])
        .filter(notification::Column::Id.in_subquery(last_ids))
        .into_tuple::<(i64, String)>()
        .all(txn)
        .await?
        .into_iter()
        .collect();
    let nothing = fingerprint_of(std::iter::empty());

    let mut due: Vec<(&notification_channel::Model, String, Vec<&Row>, usize)> = Vec::new();
    for channel in &channels {
        let filters = filters_of(channel);
        let mut seen: Vec<&Row> = active.iter().filter(|r| r.passes(&filters)).collect();
        let fingerprint = fingerprint_of(seen.iter().copied());
        let before = previous.get(&channel.id).unwrap_or(&nothing);
        if &fingerprint == before {
            continue;
        }
        // New ones first, then the most severe.
        seen.sort_by_key(|r| {
            (
                r.first_seen_run != Some(run_id),
                std::cmp::Reverse(r.severity),
                r.id,
            )
        });
        let gone = resolved.iter().filter(|r| r.passes(&filters)).count();
        due.push((channel, fingerprint, seen, gone));
    }
    if due.is_empty() {
        return Ok(0);
    }
    // The setting paths of the findings listed, from one read of blobs.
    let listed: Vec<&Row> = due
        .iter()
        .flat_map(|d| d.2.iter().take(MAX_LISTED).copied())
        .collect();
    let hashes: Vec<String> = listed
        .iter()
        .flat_map(|r| crate::evidence::diff::finding_blob_pairs(&r.evidence))
        .flat_map(|(a, b)| [a, b])
        .collect();
    let blobs = crate::evidence::blobs::load(txn, hashes).await?;
    let paths = |r: &Row| -> Vec<String> {
        let excluded = crate::governance::exclusions::stored_patterns(&r.evidence);
        crate::evidence::diff::finding_changes(&r.evidence, &blobs)
            .map(|changes| {
                changes
                    .into_iter()
                    .filter(|c| !crate::governance::exclusions::path_excluded(&excluded, &c.path))
                    .map(|c| c.path)
                    .collect()
            })
            .unwrap_or_default()
    };

    let rows_to_insert: Vec<notification::ActiveModel> = due
        .into_iter()
        .map(|(channel, fingerprint, seen, gone)| {
            let new = seen
                .iter()
                .filter(|r| r.first_seen_run == Some(run_id))
                .count();
            let payload = json!({
                "version": PAYLOAD_VERSION,
                "event": "drift.changed",
                "workspace": {"id": tenant.workspace_id},
                "tenant": {"id": tenant.id, "name": tenant.name},
                "baseline_profile": {"id": profile.id, "name": profile.name},
                "run": {"id": run_id, "completed_at": now},
                "channel": {"id": channel.id, "name": channel.name},
                "counts": {"new": new, "resolved": gone, "open": seen.len()},
                "findings": seen.iter().take(MAX_LISTED).map(|r| json!({
                    "id": r.id,
                    "finding_type": r.finding_type.as_str(),
                    "severity": r.severity.as_str(),
                    "status": r.status.as_str(),
                    "new": r.first_seen_run == Some(run_id),
                    "policy_type": r.policy_type,
                    "subject_key": r.subject_key,
                    "display_name": r.display_name,
                    "changed_aspects": r.evidence.get("changed_aspects").cloned().unwrap_or(json!([])),
                    "paths": paths(r),
                })).collect::<Vec<_>>(),
                "findings_listed": seen.len().min(MAX_LISTED),
            });
            notification::ActiveModel {
                workspace_id: Set(tenant.workspace_id),
                channel_id: Set(channel.id),
                tenant_id: Set(tenant.id),
                baseline_profile_id: Set(profile.id),
                operation_run_id: Set(run_id),
                fingerprint: Set(fingerprint),
                payload: Set(payload),
                status: Set(PENDING.to_owned()),
                attempts: Set(0),
                next_attempt_at: Set(now),
                last_error: Set(None),
                created_at: Set(now),
                delivered_at: Set(None),
                ..Default::default()
            }
        })
        .collect();
    let n = rows_to_insert.len() as u64;
    notification::Entity::insert_many(rows_to_insert)
        .exec_without_returning(txn)
        .await?;
    Ok(n)
}
