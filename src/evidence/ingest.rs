//! Ingestion: inventory syncs (meta evidence, presence) and policy versions
//! (content evidence). Hashes are computed here, once, so that captures and
//! compares only ever read hashes.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use entity::enums::{RunOutcome, RunType};
use entity::{evidence_blob, inventory_item, operation_run, policy_version, tenant};
use rayon::prelude::*;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, ExprTrait, QueryFilter, Set, TransactionTrait,
};
use serde_json::{Value, json};

use super::normalize::{self, Normalized, NotNormalizable};
use super::{EvidenceWarning, meta, registry};
use crate::audit::{self, Action};
use crate::error::{Error, Result};
use crate::runs::{self, CompletedRun};

/// Rows per INSERT statement.
const INSERT_CHUNK: usize = 500;
/// Warnings kept in a run's context; the rest are counted.
const MAX_WARNINGS_KEPT: usize = 100;
const MAX_KEY_LEN: usize = 400;
const MAX_TYPE_LEN: usize = 100;
const MAX_ERROR_LEN: usize = 500;

#[derive(Clone, Debug)]
pub struct PolicyTypeStatus {
    pub policy_type: String,
    pub succeeded: bool,
    /// How many items the collector listed; checked against the items sent,
    /// so that a truncated listing is never taken as a full one.
    pub item_count: Option<u64>,
    pub error: Option<String>,
}

#[derive(Clone, Debug)]
pub struct InventoryItemInput {
    pub policy_type: String,
    pub external_id: String,
    pub display_name: String,
    pub meta: Value,
}

#[derive(Clone, Debug)]
pub struct InventorySync {
    pub observed_at: DateTime<Utc>,
    pub policy_types: Vec<PolicyTypeStatus>,
    pub items: Vec<InventoryItemInput>,
}

#[derive(Clone, Debug)]
pub struct PolicyVersionInput {
    pub policy_type: String,
    pub external_id: String,
    pub content: Value,
}

#[derive(Clone, Debug)]
pub struct PolicyVersions {
    pub captured_at: DateTime<Utc>,
    pub versions: Vec<PolicyVersionInput>,
}

/// `rows` in statements of at most `INSERT_CHUNK` rows, moved, not copied.
fn in_chunks<T>(rows: Vec<T>) -> impl Iterator<Item = Vec<T>> {
    let mut rows = rows.into_iter().peekable();
    std::iter::from_fn(move || {
        rows.peek()?;
        Some(rows.by_ref().take(INSERT_CHUNK).collect())
    })
}

fn check_key(what: &str, value: &str, max: usize) -> Result<()> {
    if value.trim().is_empty() {
        return Err(Error::bad_input(format!("{what} must not be empty")));
    }
    if value.chars().count() > max {
        return Err(Error::bad_input(format!(
            "{what} is longer than {max} characters"
        )));
    }
    Ok(())
}

fn reject_duplicates<'a>(what: &str, keys: impl Iterator<Item = (&'a str, &'a str)>) -> Result<()> {
    let mut seen = HashSet::new();
    let mut duplicates = Vec::new();
    for key in keys {
        if !seen.insert(key) && duplicates.len() < 5 {
            duplicates.push(format!("{}/{}", key.0, key.1));
        }
    }
    if duplicates.is_empty() {
        Ok(())
    } else {
        Err(Error::bad_input(format!(
            "{what} lists the same subject more than once ({}); send each subject once",
            duplicates.join(", ")
        )))
    }
}

fn truncate(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

fn unknown_type_warnings<'a>(types: impl Iterator<Item = &'a str>) -> Vec<EvidenceWarning> {
    let mut seen: Vec<&str> = types.filter(|t| !registry::is_supported(t)).collect();
    seen.sort_unstable();
    seen.dedup();
    seen.into_iter()
        .map(|t| EvidenceWarning {
            policy_type: t.to_owned(),
            external_id: None,
            reason: format!(
                "policy type `{t}` is not in the registry; default normalization rules apply"
            ),
        })
        .collect()
}

/// Records a full inventory listing: upserts every item, marks items of the
/// succeeded types that were not listed as removed, and stores the per-type
/// coverage in a completed `inventory_sync` run.
pub async fn record_inventory_sync(
    db: &DatabaseConnection,
    actor_user_id: Option<i64>,
    tenant: &tenant::Model,
    sync: InventorySync,
) -> Result<operation_run::Model> {
    let started_at = Utc::now();
    if sync.policy_types.is_empty() {
        return Err(Error::bad_input(
            "policyTypes must list at least one policy type",
        ));
    }
    let mut statuses: BTreeMap<&str, &PolicyTypeStatus> = BTreeMap::new();
    for status in &sync.policy_types {
        check_key("policyType", &status.policy_type, MAX_TYPE_LEN)?;
        if statuses
            .insert(status.policy_type.as_str(), status)
            .is_some()
        {
            return Err(Error::bad_input(format!(
                "policyTypes lists `{}` more than once",
                status.policy_type
            )));
        }
    }
    let mut per_type: BTreeMap<&str, u64> = BTreeMap::new();
    for item in &sync.items {
        check_key("externalId", &item.external_id, MAX_KEY_LEN)?;
        check_key("displayName", &item.display_name, MAX_KEY_LEN)?;
        match statuses.get(item.policy_type.as_str()) {
            None => {
                return Err(Error::bad_input(format!(
                    "item {} has policyType `{}`, which is not in policyTypes",
                    item.external_id, item.policy_type
                )));
            }
            Some(status) if !status.succeeded => {
                return Err(Error::bad_input(format!(
                    "items were sent for `{}`, whose status is FAILED; a failed type carries no items",
                    item.policy_type
                )));
            }
            Some(_) => *per_type.entry(item.policy_type.as_str()).or_default() += 1,
        }
        if !(item.meta.is_object() || matches!(item.meta, Value::Null)) {
            return Err(Error::bad_input(format!(
                "the meta of item {} must be a JSON object",
                item.external_id
            )));
        }
    }
    for (name, status) in &statuses {
        let sent = per_type.get(name).copied().unwrap_or(0);
        if let Some(count) = status.item_count
            && status.succeeded
            && count != sent
        {
            return Err(Error::bad_input(format!(
                "itemCount for `{name}` is {count} but {sent} items were sent; a sync must be a full listing"
            )));
        }
    }
    reject_duplicates(
        "items",
        sync.items
            .iter()
            .map(|i| (i.policy_type.as_str(), i.external_id.as_str())),
    )?;

    let succeeded: Vec<String> = statuses
        .values()
        .filter(|s| s.succeeded)
        .map(|s| s.policy_type.clone())
        .collect();
    let failed = statuses.len() - succeeded.len();
    let coverage: serde_json::Map<String, Value> = statuses
        .iter()
        .map(|(name, s)| {
            (
                (*name).to_owned(),
                json!({
                    "status": if s.succeeded { "succeeded" } else { "failed" },
                    "item_count": if s.succeeded { per_type.get(name).copied().unwrap_or(0) } else { 0 },
                    "error": s.error.as_deref().map(|e| truncate(e, MAX_ERROR_LEN)),
                }),
            )
        })
        .collect();
    let warnings = unknown_type_warnings(statuses.keys().copied());
    let outcome = match (succeeded.len(), failed) {
        (_, 0) => RunOutcome::Succeeded,
        (0, _) => RunOutcome::Failed,
        _ => RunOutcome::PartiallySucceeded,
    };
    let items_total = sync.items.len() as u64;

    let txn = db.begin().await?;
    let run = runs::insert_completed(
        &txn,
        CompletedRun {
            workspace_id: tenant.workspace_id,
            tenant_id: tenant.id,
            run_type: RunType::InventorySync,
            outcome,
            initiator_user_id: actor_user_id,
            run_identity_hash: runs::identity_hash(&[
                "inventory_sync",
                &tenant.id.to_string(),
                &sync.observed_at.to_rfc3339(),
                &started_at
                    .timestamp_nanos_opt()
                    .unwrap_or_default()
                    .to_string(),
            ]),
            summary_counts: json!({}),
            failure_summary: (failed > 0).then(
                || json!({"reason_code": "policy_types_failed", "policy_types_failed": failed}),
            ),
            context: json!({"inventory_coverage": {
                "observed_at": sync.observed_at,
                "policy_types": coverage,
                "warnings": warnings,
            }}),
            started_at,
            progress_total: items_total as i64,
        },
    )
    .await?;

    for chunk in sync.items.chunks(INSERT_CHUNK) {
        let rows = chunk.iter().map(|item| inventory_item::ActiveModel {
            tenant_id: Set(tenant.id),
            policy_type: Set(item.policy_type.clone()),
            external_id: Set(item.external_id.clone()),
            display_name: Set(item.display_name.trim().to_owned()),
            meta_hash: Set(meta::meta_hash(&item.meta)),
            meta_jsonb: Set(if matches!(item.meta, Value::Null) {
                json!({})
            } else {
                item.meta.clone()
            }),
            first_seen_at: Set(sync.observed_at),
            last_seen_at: Set(sync.observed_at),
            last_seen_operation_run_id: Set(Some(run.id)),
            removed_at: Set(None),
            ..Default::default()
        });
        inventory_item::Entity::insert_many(rows)
            .on_conflict(
                OnConflict::columns([
                    inventory_item::Column::TenantId,
                    inventory_item::Column::PolicyType,
                    inventory_item::Column::ExternalId,
                ])
                .update_columns([
                    inventory_item::Column::DisplayName,
                    inventory_item::Column::MetaJsonb,
                    inventory_item::Column::MetaHash,
                    inventory_item::Column::LastSeenAt,
                    inventory_item::Column::LastSeenOperationRunId,
                    inventory_item::Column::RemovedAt,
                ])
                .to_owned(),
            )
            .exec_without_returning(&txn)
            .await?;
    }

    // A full listing: what a succeeded type no longer lists is gone. The row
    // stays as history.
    let removed = if succeeded.is_empty() {
        0
    } else {
        inventory_item::Entity::update_many()
            .col_expr(
                inventory_item::Column::RemovedAt,
                Expr::value(sync.observed_at),
            )
            .filter(inventory_item::Column::TenantId.eq(tenant.id))
            .filter(inventory_item::Column::PolicyType.is_in(succeeded.clone()))
            .filter(inventory_item::Column::RemovedAt.is_null())
            .filter(
                inventory_item::Column::LastSeenOperationRunId
                    .ne(run.id)
                    .or(inventory_item::Column::LastSeenOperationRunId.is_null()),
            )
            .exec(&txn)
            .await?
            .rows_affected
    };

    let counts = runs::summary_counts(&[
        ("items_total", items_total),
        ("items_upserted", items_total),
        ("items_removed", removed),
        ("policy_types_succeeded", succeeded.len() as u64),
        ("policy_types_failed", failed as u64),
        ("warnings", warnings.len() as u64),
    ]);
    finish(
        txn,
        run,
        counts,
        Action::InventorySyncRecord,
        actor_user_id,
        tenant,
    )
    .await
}

/// Normalizes, hashes and stores captured policy payloads under a completed
/// `policy_capture` run. A payload that does not normalize is stored with its
/// reason and no hash, so the chain falls back to meta for it.
pub async fn record_policy_versions(
    db: &DatabaseConnection,
    actor_user_id: Option<i64>,
    tenant: &tenant::Model,
    input: PolicyVersions,
) -> Result<operation_run::Model> {
    let started_at = Utc::now();
    if input.versions.is_empty() {
        return Err(Error::bad_input(
            "versions must contain at least one policy version",
        ));
    }
    for v in &input.versions {
        check_key("policyType", &v.policy_type, MAX_TYPE_LEN)?;
        check_key("externalId", &v.external_id, MAX_KEY_LEN)?;
    }
    reject_duplicates(
        "versions",
        input
            .versions
            .iter()
            .map(|v| (v.policy_type.as_str(), v.external_id.as_str())),
    )?;

    // Normalization is CPU work: keep it off the async workers, and spread
    // a large batch over the cores.
    let versions = input.versions;
    let prepared = tokio::task::spawn_blocking(move || {
        versions
            .into_par_iter()
            .with_min_len(16)
            .map(|mut v| {
                let result = normalize::normalize(&v.policy_type, &v.content);
                normalize::redact_secrets(&v.policy_type, &mut v.content);
                (v, result)
            })
            .collect::<Vec<(PolicyVersionInput, Result<Normalized, NotNormalizable>)>>()
    })
    .await
    .map_err(Error::internal)?;

    let mut warnings = unknown_type_warnings(prepared.iter().map(|(v, _)| v.policy_type.as_str()));
    let mut not_normalizable = 0u64;
    for (v, result) in &prepared {
        if let Err(err) = result {
            not_normalizable += 1;
            warnings.push(EvidenceWarning {
                policy_type: v.policy_type.clone(),
                external_id: Some(v.external_id.clone()),
                reason: err.to_string(),
            });
        }
    }
    let total = prepared.len() as u64;
    let normalized = total - not_normalizable;
    let outcome = match (normalized, not_normalizable) {
        (_, 0) => RunOutcome::Succeeded,
        (0, _) => RunOutcome::Failed,
        _ => RunOutcome::PartiallySucceeded,
    };
    let warnings_total = warnings.len();
    warnings.truncate(MAX_WARNINGS_KEPT);

    let txn = db.begin().await?;
    let run = runs::insert_completed(
        &txn,
        CompletedRun {
            workspace_id: tenant.workspace_id,
            tenant_id: tenant.id,
            run_type: RunType::PolicyCapture,
            outcome,
            initiator_user_id: actor_user_id,
            run_identity_hash: runs::identity_hash(&[
                "policy_capture",
                &tenant.id.to_string(),
                &input.captured_at.to_rfc3339(),
                &started_at.timestamp_nanos_opt().unwrap_or_default().to_string(),
            ]),
            summary_counts: json!({}),
            failure_summary: (not_normalizable > 0)
                .then(|| json!({"reason_code": "not_normalizable", "versions_not_normalizable": not_normalizable})),
            context: json!({"policy_capture": {
                "captured_at": input.captured_at,
                "warnings": warnings,
                "warnings_total": warnings_total,
            }}),
            started_at,
            progress_total: total as i64,
        },
    )
    .await?;

    // Blobs are content-addressed: each hash is stored once, ever. The
    // documents move into their rows; a version is never copied whole.
    let mut blob_hashes = HashSet::new();
    let mut blobs = Vec::new();
    let mut versions = Vec::with_capacity(prepared.len());
    for (v, result) in prepared {
        let (content_hash, normalize_warning) = match result {
            Ok(n) => {
                if blob_hashes.insert(n.hash.clone()) {
                    blobs.push(evidence_blob::ActiveModel {
                        hash: Set(n.hash.clone()),
                        byte_size: Set(n.canonical.len() as i64),
                        content: Set(n.value),
                        created_at: Set(started_at),
                    });
                }
                (Some(n.hash), None)
            }
            Err(e) => (None, Some(e.reason)),
        };
        versions.push(policy_version::ActiveModel {
            tenant_id: Set(tenant.id),
            policy_type: Set(v.policy_type),
            external_id: Set(v.external_id),
            captured_at: Set(input.captured_at),
            operation_run_id: Set(Some(run.id)),
            content: Set(v.content),
            content_hash: Set(content_hash),
            normalize_warning: Set(normalize_warning),
            created_at: Set(started_at),
            ..Default::default()
        });
    }
    let blobs_total = blobs.len() as u64;
    for chunk in in_chunks(blobs) {
        evidence_blob::Entity::insert_many(chunk)
            .on_conflict(
                OnConflict::column(evidence_blob::Column::Hash)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(&txn)
            .await?;
    }
    for chunk in in_chunks(versions) {
        policy_version::Entity::insert_many(chunk)
            .exec_without_returning(&txn)
            .await?;
    }

    let counts = runs::summary_counts(&[
        ("versions_total", total),
        ("versions_normalized", normalized),
        ("versions_not_normalizable", not_normalizable),
        ("blobs_total", blobs_total),
        ("warnings", warnings_total as u64),
    ]);
    finish(
        txn,
        run,
        counts,
        Action::PolicyVersionsRecord,
        actor_user_id,
        tenant,
    )
    .await
}

/// Records the final counts of an inline run, audits it, and commits.
async fn finish(
    txn: sea_orm::DatabaseTransaction,
    run: operation_run::Model,
    counts: Value,
    action: Action,
    actor_user_id: Option<i64>,
    tenant: &tenant::Model,
) -> Result<operation_run::Model> {
    operation_run::Entity::update_many()
        .col_expr(
            operation_run::Column::SummaryCounts,
            Expr::value(counts.clone()),
        )
        .filter(operation_run::Column::Id.eq(run.id))
        .exec(&txn)
        .await?;
    audit::record(
        &txn,
        audit::Entry {
            action,
            actor_user_id,
            workspace_id: Some(tenant.workspace_id),
            tenant_id: Some(tenant.id),
            target: Some(("operation_run", run.id)),
            metadata: json!({"counts": counts}),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(operation_run::Model {
        summary_counts: counts,
        ..run
    })
}
