//! Ingestion: inventory syncs (meta evidence, presence) and policy versions
//! (content evidence). Hashes are computed here, once, so that captures and
//! compares only ever read hashes.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use entity::enums::{RunOutcome, RunType};
use entity::{evidence_blob, inventory_item, operation_run, policy_version, tenant};
use rayon::prelude::*;
use sea_orm::sea_query::{Expr, OnConflict, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, EntityTrait,
    ExprTrait, QueryFilter, QueryOrder, QuerySelect, Set, Statement, TransactionTrait,
};
use serde_json::{Value, json};

use super::normalize::{self, NotNormalizable};
use super::{EvidenceWarning, assignments, meta, registry};
use crate::audit::{self, Action};
use crate::db::{MAX_STATEMENT_BYTES, jsonb_text};
use crate::error::{Error, Result};
use crate::runs::{self, CompletedRun};

/// Rows per INSERT statement.
const INSERT_CHUNK: usize = 500;
/// Policy versions per normalize-then-store step of an ingestion: small
/// enough that normalizing the next step overlaps most of the writing.
const PIPELINE_CHUNK: usize = 250;
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
    /// The collector vouches that an empty or much shorter listing is
    /// real, so it is taken as a full listing at once.
    pub confirm_empty: bool,
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
    /// What the sender has to say about the listing (for example, that an
    /// import keys subjects by path), kept with the run's warnings.
    pub warnings: Vec<EvidenceWarning>,
    pub guard: ListingGuard,
}

/// When a listing that says SUCCEEDED is not believed yet. Graph's `$batch`
/// answers 200 with throttled sub-responses, and collectors lose pages, so
/// a type that lists nothing where its last full listing had items, or
/// that shrank by more than `max_drop_share`, is recorded as
/// `unconfirmed`: its items stay as they were and compares leave it
/// uncovered, until the next sync lists it so again (or the sender says
/// `confirm_empty`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ListingGuard {
    /// A share in [0, 1]; 1 turns the check off for shrunk listings (an
    /// empty one is always checked).
    pub max_drop_share: f64,
}

impl Default for ListingGuard {
    fn default() -> Self {
        Self {
            max_drop_share: 0.5,
        }
    }
}

/// The warning codes of unconfirmed listings.
pub const EMPTY_LISTING_UNCONFIRMED: &str = "empty_listing_unconfirmed";
pub const LISTING_DROP_UNCONFIRMED: &str = "listing_drop_unconfirmed";

/// How far back to look for a type's last full listing, or the sync that
/// last covered it.
const LISTING_LOOKBACK_RUNS: u64 = 200;

/// What earlier syncs said about one type.
#[derive(Debug, Default)]
struct PreviousListing {
    /// Items in the latest listing that was taken as full.
    last_full_count: Option<u64>,
    /// The status in the latest sync that reported the type.
    last_status: Option<String>,
}

/// The tenant's most recent inventory syncs, newest first: (run id, run
/// context), in one query. Coverage and the listing guard read them.
pub async fn recent_inventory_syncs<C: ConnectionTrait>(
    db: &C,
    tenant_id: i64,
) -> std::result::Result<Vec<(i64, Value)>, sea_orm::DbErr> {
    operation_run::Entity::find()
        .select_only()
        .columns([operation_run::Column::Id, operation_run::Column::Context])
        .filter(operation_run::Column::TenantId.eq(tenant_id))
        .filter(operation_run::Column::RunType.eq(RunType::InventorySync))
        .order_by_desc(operation_run::Column::Id)
        .limit(LISTING_LOOKBACK_RUNS)
        .into_tuple()
        .all(db)
        .await
}

/// Per type, from the tenant's recent syncs, in one query.
async fn previous_listings(
    db: &DatabaseConnection,
    tenant_id: i64,
    types: &[&str],
) -> Result<BTreeMap<String, PreviousListing>> {
    let contexts = recent_inventory_syncs(db, tenant_id).await?;
    let mut out = BTreeMap::new();
    for policy_type in types {
        let mut previous = PreviousListing::default();
        for (_, context) in &contexts {
            let Some(entry) = context
                .get("inventory_coverage")
                .and_then(|c| c.get("policy_types"))
                .and_then(|t| t.get(*policy_type))
            else {
                continue;
            };
            let status = entry
                .get("status")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if previous.last_status.is_none() {
                previous.last_status = Some(status.to_owned());
            }
            if status == "succeeded" {
                previous.last_full_count = entry.get("item_count").and_then(Value::as_u64);
                break;
            }
        }
        out.insert((*policy_type).to_owned(), previous);
    }
    Ok(out)
}

/// Why a listing of `count` items is not believed yet, given the type's
/// last full listing, or `None` when it is.
fn unconfirmed_reason(
    count: u64,
    previous: &PreviousListing,
    guard: ListingGuard,
) -> Option<(&'static str, String)> {
    let last = previous.last_full_count.filter(|n| *n > 0)?;
    let code = if count == 0 {
        EMPTY_LISTING_UNCONFIRMED
    } else if guard.max_drop_share < 1.0
        && (last.saturating_sub(count) as f64) > guard.max_drop_share * last as f64
    {
        LISTING_DROP_UNCONFIRMED
    } else {
        return None;
    };
    // The same listing twice in a row is believed.
    if previous.last_status.as_deref() == Some("unconfirmed") {
        return None;
    }
    Some((
        code,
        format!(
            "the listing has {count} items where the last full listing had {last}; the type stays uncovered and its items as they were until another sync lists it so, or the collector sends confirmEmpty"
        ),
    ))
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

/// `rows` in chunks of at most `size`, moved, not copied.
fn in_chunks<T>(rows: Vec<T>, size: usize) -> impl Iterator<Item = Vec<T>> {
    let mut rows = rows.into_iter().peekable();
    std::iter::from_fn(move || {
        rows.peek()?;
        Some(rows.by_ref().take(size).collect())
    })
}

fn check_key(what: &str, value: &str, max: usize) -> Result<()> {
    if value.contains('\0') {
        return Err(nul_refused(what));
    }
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

/// The one wording of a NUL refusal, wherever it is found.
pub fn nul_refused(path: &str) -> Error {
    Error::bad_input(format!(
        "{path} holds a NUL character (\\u0000), which cannot be stored; remove it"
    ))
}

/// Refuses a document that PostgreSQL's text and jsonb cannot hold: a NUL
/// character in any key or string. `path` names the document in the
/// request (`items[3].meta`); the error names the place inside it. The walk
/// keeps its own stack, so no nesting depth is too deep for it, and builds
/// no path unless it finds a NUL: it runs over every ingested document.
pub fn check_storable(path: &str, document: &Value) -> Result<()> {
    let mut stack: Vec<&Value> = vec![document];
    let mut found = false;
    while let Some(value) = stack.pop() {
        match value {
            Value::String(text) if text.contains('\0') => found = true,
            Value::Array(items) => stack.extend(items),
            Value::Object(map) => {
                for (key, v) in map {
                    found |= key.contains('\0');
                    stack.push(v);
                }
            }
            _ => {}
        }
        if found {
            return Err(nul_refused(&nul_path(path, document)));
        }
    }
    Ok(())
}

/// Where the first NUL of `document` is, as a path below `path`.
fn nul_path(path: &str, document: &Value) -> String {
    let mut stack: Vec<(String, &Value)> = vec![(path.to_owned(), document)];
    while let Some((at, value)) = stack.pop() {
        match value {
            Value::String(text) if text.contains('\0') => return at,
            Value::Array(items) => {
                stack.extend(
                    items
                        .iter()
                        .enumerate()
                        .map(|(i, v)| (format!("{at}[{i}]"), v)),
                );
            }
            Value::Object(map) => {
                for (key, v) in map {
                    if key.contains('\0') {
                        return format!("a key of {at}");
                    }
                    stack.push((format!("{at}.{key}"), v));
                }
            }
            _ => {}
        }
    }
    path.to_owned()
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
            code: None,
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
    let prepared = prepare_inventory_sync(db, tenant, sync).await?;
    let txn = db.begin().await?;
    // The run goes in first, for the items to reference it; `finish` writes
    // its outcome, failure and context.
    let mut run = insert_pushed_run(
        &txn,
        tenant,
        RunType::InventorySync,
        actor_user_id,
        prepared.observed_at,
        started_at,
        prepared.items.len(),
    )
    .await?;
    let written = write_inventory_sync(&txn, tenant, run.id, prepared).await?;
    run.outcome = written.outcome;
    run.failure_summary = written.failure_summary;
    run.context = written.context;
    finish(
        txn,
        run,
        written.summary_counts,
        Action::InventorySyncRecord,
        actor_user_id,
        tenant,
    )
    .await
}

/// The completed run of pushed or imported evidence, inserted first in the
/// ingestion's transaction so that rows can reference it; `finish` writes
/// its outcome, failure and context.
async fn insert_pushed_run(
    txn: &DatabaseTransaction,
    tenant: &tenant::Model,
    run_type: RunType,
    actor_user_id: Option<i64>,
    observed_at: DateTime<Utc>,
    started_at: DateTime<Utc>,
    total: usize,
) -> Result<operation_run::Model> {
    Ok(runs::insert_completed(
        txn,
        CompletedRun {
            workspace_id: tenant.workspace_id,
            tenant_id: tenant.id,
            run_type,
            outcome: RunOutcome::Pending,
            initiator_user_id: actor_user_id,
            run_identity_hash: runs::identity_hash(&[
                &run_type.as_str(),
                &tenant.id.to_string(),
                &observed_at.to_rfc3339(),
                &started_at
                    .timestamp_nanos_opt()
                    .unwrap_or_default()
                    .to_string(),
            ]),
            summary_counts: json!({}),
            failure_summary: None,
            context: json!({}),
            started_at,
            progress_total: total as i64,
        },
    )
    .await?)
}

/// An inventory listing that passed validation, with its coverage worked
/// out: what [`write_inventory_sync`] stores under a run. Pushed, imported
/// and collected listings all go through these two steps.
pub struct PreparedSync {
    observed_at: DateTime<Utc>,
    items: Vec<InventoryItemInput>,
    succeeded: Vec<String>,
    failed: usize,
    unconfirmed: usize,
    coverage: serde_json::Map<String, Value>,
    warnings: Vec<EvidenceWarning>,
}

/// What a written listing says about its run.
pub struct WrittenRun {
    pub outcome: RunOutcome,
    pub failure_summary: Option<Value>,
    /// The run's context: `inventory_coverage` or `policy_capture`.
    pub context: Value,
    pub summary_counts: Value,
}

/// The inventory item of a listed or exported object: its meta is the
/// contract's fields of the object, with the display name it is known by.
pub fn inventory_item_of(
    policy_type: &str,
    external_id: &str,
    display_name: &str,
    object: &Value,
) -> InventoryItemInput {
    let mut fields = meta::contract_fields(policy_type, object);
    fields
        .entry("displayName")
        .or_insert_with(|| Value::String(display_name.to_owned()));
    InventoryItemInput {
        policy_type: policy_type.to_owned(),
        external_id: external_id.to_owned(),
        display_name: display_name.to_owned(),
        meta: Value::Object(fields),
    }
}

/// The name a policy object goes by: `displayName`, or `name` (settings
/// catalog), trimmed; `None` when it has neither.
pub fn display_name_of(object: &Value) -> Option<String> {
    ["displayName", "name"]
        .iter()
        .find_map(|k| object.get(*k).and_then(Value::as_str))
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// Validates a listing and works out each type's coverage, including the
/// listing guard (which reads earlier syncs). Writes nothing.
pub async fn prepare_inventory_sync(
    db: &DatabaseConnection,
    tenant: &tenant::Model,
    sync: InventorySync,
) -> Result<PreparedSync> {
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
    for (i, item) in sync.items.iter().enumerate() {
        check_key(
            &format!("items[{i}].policyType"),
            &item.policy_type,
            MAX_TYPE_LEN,
        )?;
        check_key(
            &format!("items[{i}].externalId"),
            &item.external_id,
            MAX_KEY_LEN,
        )?;
        check_key(
            &format!("items[{i}].displayName"),
            &item.display_name,
            MAX_KEY_LEN,
        )?;
        check_storable(&format!("items[{i}].meta"), &item.meta)?;
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

    // Listings that shrank to nothing, or by more than the guard allows,
    // since the type's last full listing.
    let checked: Vec<&str> = statuses
        .values()
        .filter(|s| s.succeeded && !s.confirm_empty)
        .map(|s| s.policy_type.as_str())
        .collect();
    let previous = if checked.is_empty() {
        BTreeMap::new()
    } else {
        previous_listings(db, tenant.id, &checked).await?
    };
    let unconfirmed: BTreeMap<&str, (&'static str, String)> = checked
        .iter()
        .filter_map(|t| {
            let count = per_type.get(t).copied().unwrap_or(0);
            let reason = unconfirmed_reason(count, previous.get(*t)?, sync.guard)?;
            Some((*t, reason))
        })
        .collect();

    let succeeded: Vec<String> = statuses
        .values()
        .filter(|s| s.succeeded && !unconfirmed.contains_key(s.policy_type.as_str()))
        .map(|s| s.policy_type.clone())
        .collect();
    let failed = statuses.values().filter(|s| !s.succeeded).count();
    let coverage: serde_json::Map<String, Value> = statuses
        .iter()
        .map(|(name, s)| {
            let status = match (s.succeeded, unconfirmed.get(name)) {
                (false, _) => "failed",
                (true, Some(_)) => "unconfirmed",
                (true, None) => "succeeded",
            };
            let mut entry = json!({
                "status": status,
                "item_count": if s.succeeded { per_type.get(name).copied().unwrap_or(0) } else { 0 },
                "error": s.error.as_deref().map(|e| truncate(e, MAX_ERROR_LEN)),
            });
            if let Some((code, _)) = unconfirmed.get(name) {
                entry["reason_code"] = json!(code);
                entry["last_full_item_count"] =
                    json!(previous.get(*name).and_then(|p| p.last_full_count));
            }
            ((*name).to_owned(), entry)
        })
        .collect();
    let mut warnings = unknown_type_warnings(statuses.keys().copied());
    warnings.extend(
        unconfirmed
            .iter()
            .map(|(t, (code, reason))| EvidenceWarning {
                policy_type: (*t).to_owned(),
                external_id: None,
                code: Some((*code).to_owned()),
                reason: reason.clone(),
            }),
    );
    warnings.extend(sync.warnings.iter().cloned());
    warnings.truncate(MAX_WARNINGS_KEPT);
    let unconfirmed = unconfirmed.len();
    Ok(PreparedSync {
        observed_at: sync.observed_at,
        items: sync.items,
        succeeded,
        failed,
        unconfirmed,
        coverage,
        warnings,
    })
}

/// Stores a prepared listing under `run_id` in `txn`: upserts every item
/// and marks what the succeeded types no longer list as removed.
pub async fn write_inventory_sync(
    txn: &DatabaseTransaction,
    tenant: &tenant::Model,
    run_id: i64,
    prepared: PreparedSync,
) -> Result<WrittenRun> {
    let PreparedSync {
        observed_at,
        items,
        succeeded,
        failed,
        unconfirmed,
        coverage,
        warnings,
    } = prepared;
    let outcome = match (succeeded.len(), failed) {
        (_, 0) => RunOutcome::Succeeded,
        (0, _) => RunOutcome::Failed,
        _ => RunOutcome::PartiallySucceeded,
    };
    let items_total = items.len() as u64;

    // Rows are locked in key order, so two syncs of the same items, sent in
    // different orders at the same moment, wait for each other instead of
    // deadlocking.
    let mut items = items;
    items.sort_unstable_by(|a, b| {
        (a.policy_type.as_str(), a.external_id.as_str())
            .cmp(&(b.policy_type.as_str(), b.external_id.as_str()))
    });
    for chunk in items.chunks(INSERT_CHUNK) {
        let rows = chunk.iter().map(|item| inventory_item::ActiveModel {
            tenant_id: Set(tenant.id),
            policy_type: Set(item.policy_type.clone()),
            external_id: Set(item.external_id.clone()),
            display_name: Set(item.display_name.trim().to_owned()),
            meta_hash: Set(meta::meta_hash(&item.policy_type, &item.meta)),
            meta_jsonb: Set(if matches!(item.meta, Value::Null) {
                json!({})
            } else {
                item.meta.clone()
            }),
            first_seen_at: Set(observed_at),
            last_seen_at: Set(observed_at),
            last_seen_operation_run_id: Set(Some(run_id)),
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
            .exec_without_returning(txn)
            .await?;
    }

    // A full listing: what a succeeded type no longer lists is gone. The row
    // stays as history.
    let removed = if succeeded.is_empty() {
        0
    } else {
        inventory_item::Entity::update_many()
            .col_expr(inventory_item::Column::RemovedAt, Expr::value(observed_at))
            .filter(inventory_item::Column::TenantId.eq(tenant.id))
            .filter(inventory_item::Column::PolicyType.is_in(succeeded.clone()))
            .filter(inventory_item::Column::RemovedAt.is_null())
            .filter(
                inventory_item::Column::LastSeenOperationRunId
                    .ne(run_id)
                    .or(inventory_item::Column::LastSeenOperationRunId.is_null()),
            )
            .exec(txn)
            .await?
            .rows_affected
    };

    let failure_summary = (failed > 0)
        .then(|| json!({"reason_code": "policy_types_failed", "policy_types_failed": failed}));
    let context = json!({"inventory_coverage": {
        "observed_at": observed_at,
        "policy_types": coverage,
        "warnings": warnings,
    }});
    let counts = runs::summary_counts(&[
        ("items_total", items_total),
        ("items_upserted", items_total),
        ("items_removed", removed),
        ("policy_types_succeeded", succeeded.len() as u64),
        ("policy_types_unconfirmed", unconfirmed as u64),
        ("policy_types_failed", failed as u64),
        ("warnings", warnings.len() as u64),
    ]);
    Ok(WrittenRun {
        outcome,
        failure_summary,
        context,
        summary_counts: counts,
    })
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
    validate_versions(&input.versions)?;
    let txn = db.begin().await?;
    // The run goes in first, so that versions can reference it; its outcome,
    // warnings and counts are known once every chunk is normalized, and are
    // written by `finish` in the same transaction.
    let mut run = insert_pushed_run(
        &txn,
        tenant,
        RunType::PolicyCapture,
        actor_user_id,
        input.captured_at,
        started_at,
        input.versions.len(),
    )
    .await?;
    let captured_at = input.captured_at;
    let stored = write_versions(db, &txn, tenant.id, run.id, input).await?;
    let written = stored.into_run(captured_at);
    run.outcome = written.outcome;
    run.failure_summary = written.failure_summary;
    run.context = written.context;
    finish(
        txn,
        run,
        written.summary_counts,
        Action::PolicyVersionsRecord,
        actor_user_id,
        tenant,
    )
    .await
}

/// Refuses policy versions that cannot be stored: empty keys, NULs, and
/// the same subject twice.
pub fn validate_versions(versions: &[PolicyVersionInput]) -> Result<()> {
    if versions.is_empty() {
        return Err(Error::bad_input(
            "versions must contain at least one policy version",
        ));
    }
    for (i, v) in versions.iter().enumerate() {
        check_key(
            &format!("versions[{i}].policyType"),
            &v.policy_type,
            MAX_TYPE_LEN,
        )?;
        check_key(
            &format!("versions[{i}].externalId"),
            &v.external_id,
            MAX_KEY_LEN,
        )?;
        check_storable(&format!("versions[{i}].content"), &v.content)?;
    }
    reject_duplicates(
        "versions",
        versions
            .iter()
            .map(|v| (v.policy_type.as_str(), v.external_id.as_str())),
    )
}

/// What [`write_versions`] stored.
#[derive(Debug, Default)]
pub struct StoredVersions {
    pub total: u64,
    pub not_normalizable: u64,
    pub blobs_total: u64,
    pub warnings: Vec<EvidenceWarning>,
}

impl StoredVersions {
    /// The run's outcome, counts and `policy_capture` context.
    pub fn into_run(self, captured_at: DateTime<Utc>) -> WrittenRun {
        let StoredVersions {
            total,
            not_normalizable,
            blobs_total,
            mut warnings,
        } = self;
        let normalized = total - not_normalizable;
        let outcome = match (normalized, not_normalizable) {
            (_, 0) => RunOutcome::Succeeded,
            (0, _) => RunOutcome::Failed,
            _ => RunOutcome::PartiallySucceeded,
        };
        let failure_summary = (not_normalizable > 0).then(
            || json!({"reason_code": "not_normalizable", "versions_not_normalizable": not_normalizable}),
        );
        let warnings_total = warnings.len();
        warnings.truncate(MAX_WARNINGS_KEPT);
        let context = json!({"policy_capture": {
            "captured_at": captured_at,
            "warnings": warnings,
            "warnings_total": warnings_total,
        }});
        let summary_counts = runs::summary_counts(&[
            ("versions_total", total),
            ("versions_normalized", normalized),
            ("versions_not_normalizable", not_normalizable),
            ("blobs_total", blobs_total),
            ("warnings", warnings_total as u64),
        ]);
        WrittenRun {
            outcome,
            failure_summary,
            context,
            summary_counts,
        }
    }
}

/// Normalizes, hashes and stores validated policy versions under `run_id`
/// in `txn` (blobs may go beside it; see `blobs_beside_run`).
pub async fn write_versions(
    db: &DatabaseConnection,
    txn: &DatabaseTransaction,
    tenant_id: i64,
    run_id: i64,
    input: PolicyVersions,
) -> Result<StoredVersions> {
    let started_at = Utc::now();
    let total = input.versions.len() as u64;
    let mut warnings = unknown_type_warnings(input.versions.iter().map(|v| v.policy_type.as_str()));
    // Normalizing is CPU work and storing is database work: chunk k + 1 is
    // normalized on the blocking pool (over every core) while chunk k is
    // written.
    // Assignments name groups and filters by id: their names come from the
    // tenant's inventory, read for every version at once.
    let refs = assignments::References::of(input.versions.iter().map(|v| &v.content));
    let names = Arc::new(if refs.is_empty() {
        assignments::Names::default()
    } else {
        assignments::names(txn, tenant_id, &refs).await?
    });
    let mut chunks = in_chunks(input.versions, PIPELINE_CHUNK);
    let backend = db.get_database_backend();
    let prepare = |chunk| spawn_prepare(chunk, backend, names.clone());
    let mut next = chunks.next().map(prepare);
    let mut stored_hashes = HashSet::new();
    let (mut not_normalizable, mut blobs_total) = (0u64, 0u64);
    let mut ids_without_inventory = 0u64;
    let mut blob_job: Option<tokio::task::JoinHandle<Result<u64>>> = None;
    while let Some(pending) = next.take() {
        let mut prepared = pending.await.map_err(Error::internal)?;
        next = chunks.next().map(prepare);
        for v in &mut prepared {
            if let Err(err) = &v.normalized {
                not_normalizable += 1;
                warnings.push(EvidenceWarning {
                    code: None,
                    policy_type: v.policy_type.clone(),
                    external_id: Some(v.external_id.clone()),
                    reason: err.to_string(),
                });
            }
            if let Some(Err(err)) = &v.assignments {
                warnings.push(EvidenceWarning {
                    code: Some("assignments_not_normalizable".into()),
                    policy_type: v.policy_type.clone(),
                    external_id: Some(v.external_id.clone()),
                    reason: format!("assignments {err}; the version has no assignment hash"),
                });
            }
            ids_without_inventory += v.assignment_ids_without_inventory;
            for reason in std::mem::take(&mut v.assignment_warnings) {
                warnings.push(EvidenceWarning {
                    code: Some("assignment_unresolved".into()),
                    policy_type: v.policy_type.clone(),
                    external_id: Some(v.external_id.clone()),
                    reason,
                });
            }
        }
        let blobs = fresh_blobs(&mut prepared, &mut stored_hashes);
        if let Some(job) = blob_job.take() {
            blobs_total += job.await.map_err(Error::internal)??;
        }
        if blobs_beside_run(backend) {
            let db = db.clone();
            blob_job = Some(tokio::spawn(async move {
                store_blobs(&db, backend, blobs, started_at).await
            }));
        } else {
            blobs_total += store_blobs(txn, backend, blobs, started_at).await?;
        }
        store_versions(
            txn,
            backend,
            prepared,
            tenant_id,
            run_id,
            input.captured_at,
            started_at,
        )
        .await?;
    }
    // The run commits only once its blobs are stored.
    if let Some(job) = blob_job.take() {
        blobs_total += job.await.map_err(Error::internal)??;
    }
    if ids_without_inventory > 0 {
        warnings.push(EvidenceWarning {
            code: Some("assignments_without_inventory".into()),
            policy_type: registry::ASSIGNMENT_GROUP_TYPE.into(),
            external_id: None,
            reason: format!(
                "{ids_without_inventory} group or filter ids in assignments could not be named: the tenant has no `{}` or `{}` inventory; record it (an inventory sync lists both) before the policies, or assignment sets are compared by digests of the ids",
                registry::ASSIGNMENT_GROUP_TYPE,
                registry::ASSIGNMENT_FILTER_TYPE
            ),
        });
    }

    Ok(StoredVersions {
        total,
        not_normalizable,
        blobs_total,
        warnings,
    })
}

/// One policy version, ready to store: normalized, hashed and serialized.
struct PreparedVersion {
    policy_type: String,
    external_id: String,
    /// The payload with its secrets redacted, as JSON text in jsonb's key
    /// order (see `db::jsonb_text`).
    content: String,
    /// The normalized content, or why there is none.
    normalized: Result<Blob, NotNormalizable>,
    /// The normalized assignment set; `None` when the payload had none.
    assignments: Option<Result<Blob, NotNormalizable>>,
    /// What could not be resolved in the assignments.
    assignment_warnings: Vec<String>,
    /// Assignment ids unresolved because the tenant lists none of their kind.
    assignment_ids_without_inventory: u64,
}

impl PreparedVersion {
    fn assignments_hash(&self) -> Option<String> {
        match &self.assignments {
            Some(Ok(blob)) => Some(blob.hash.clone()),
            _ => None,
        }
    }
}

/// Normalized content, as the evidence blob that stores it.
pub(crate) struct Blob {
    pub(crate) hash: String,
    /// The size of the canonical form the hash was computed over.
    byte_size: i64,
    /// What the blob's column receives: the canonical JSON itself on SQLite,
    /// the same content in jsonb's key order on PostgreSQL.
    text: String,
}

/// The blob that stores `n` on `backend`.
pub(crate) fn blob_of(
    backend: DbBackend,
    n: normalize::Normalized,
) -> std::result::Result<Blob, NotNormalizable> {
    let byte_size = n.canonical.len() as i64;
    let text = if backend == DbBackend::Postgres {
        jsonb_text(&n.value)
    } else {
        // JCS output is UTF-8 by construction; SQLite stores those very
        // bytes rather than serializing again.
        String::from_utf8(n.canonical).map_err(|_| NotNormalizable {
            reason: "the canonical form is not UTF-8".to_owned(),
        })?
    };
    Ok(Blob {
        hash: n.hash,
        byte_size,
        text,
    })
}

/// Normalizes a chunk on the blocking pool, spread over the cores.
fn spawn_prepare(
    versions: Vec<PolicyVersionInput>,
    backend: DbBackend,
    names: Arc<assignments::Names>,
) -> tokio::task::JoinHandle<Vec<PreparedVersion>> {
    tokio::task::spawn_blocking(move || {
        versions
            .into_par_iter()
            .with_min_len(16)
            .map(|mut v| {
                let normalized = normalize::normalize(&v.policy_type, &v.content)
                    .and_then(|n| blob_of(backend, n));
                let (mut assignment_warnings, mut without_inventory) = (Vec::new(), 0);
                let assignments = assignments::normalize(&v.content, &names).map(|a| {
                    a.and_then(|a| {
                        assignment_warnings = a.warnings;
                        without_inventory = a.without_inventory;
                        blob_of(backend, a.normalized)
                    })
                });
                normalize::redact_secrets(&v.policy_type, &mut v.content);
                PreparedVersion {
                    content: jsonb_text(&v.content),
                    policy_type: v.policy_type,
                    external_id: v.external_id,
                    normalized,
                    assignments,
                    assignment_warnings,
                    assignment_ids_without_inventory: without_inventory,
                }
            })
            .collect()
    })
}

/// Whether an ingestion writes its blobs beside the run's transaction rather
/// than in it. Blobs are tenant-free and content-addressed, so they need not
/// wait for the run: on PostgreSQL a second connection writes them, each
/// chunk committing on its own, while the run's transaction writes the
/// versions, and the server parses both documents of a version at once. A
/// run that then fails leaves blobs nothing references yet, which the next
/// capture of that content finds stored. SQLite takes one writer at a time,
/// so there they go into the run's transaction.
fn blobs_beside_run(backend: DbBackend) -> bool {
    backend == DbBackend::Postgres
}

/// `rows` in groups of at most `MAX_STATEMENT_BYTES` of documents
/// (a larger document goes alone), in order, moved.
///
/// On PostgreSQL each group is one `INSERT ... SELECT ... FROM unnest(...)`
/// over text arrays, one per column, and each document is cast to jsonb on
/// its own. Measured in psql on 1,000 corpus documents of 6.3 KB: 165 ms
/// against 200 ms for the same rows sent as one JSON array and split with
/// `jsonb_array_elements`, which first parses every document into one large
/// jsonb value. sea-query binds an array's elements without NULLs, so
/// optional text goes as '' and comes back with `NULLIF`.
fn by_document_bytes<T>(rows: Vec<T>, bytes: impl Fn(&T) -> usize) -> Vec<Vec<T>> {
    let mut groups: Vec<Vec<T>> = Vec::new();
    let mut group_bytes = 0;
    for row in rows {
        let size = bytes(&row);
        match groups.last_mut() {
            Some(group) if group_bytes + size <= MAX_STATEMENT_BYTES => {
                group_bytes += size;
                group.push(row);
            }
            _ => {
                group_bytes = size;
                groups.push(vec![row]);
            }
        }
    }
    groups
}

/// The blobs of a chunk that this ingestion has not stored yet. They move
/// out: the version keeps only its hash.
fn fresh_blobs(chunk: &mut [PreparedVersion], stored: &mut HashSet<String>) -> Vec<Blob> {
    let mut fresh = Vec::new();
    for v in chunk.iter_mut() {
        let assignments = v.assignments.as_mut().and_then(|a| a.as_mut().ok());
        for blob in [v.normalized.as_mut().ok(), assignments]
            .into_iter()
            .flatten()
        {
            if stored.insert(blob.hash.clone()) {
                fresh.push(Blob {
                    hash: blob.hash.clone(),
                    byte_size: blob.byte_size,
                    text: std::mem::take(&mut blob.text),
                });
            }
        }
    }
    fresh
}

/// Stores the blobs that the database does not hold yet. Each hash is stored
/// once, ever: hashes already stored are skipped before any content is sent,
/// so an unchanged policy costs one index probe, not a document.
pub(crate) async fn store_blobs(
    db: &impl ConnectionTrait,
    backend: DbBackend,
    mut fresh: Vec<Blob>,
    now: DateTime<Utc>,
) -> Result<u64> {
    if fresh.is_empty() {
        return Ok(0);
    }
    // In key order, like inventory items: concurrent ingestions of the same
    // content then never wait on each other in a cycle.
    fresh.sort_unstable_by(|a, b| a.hash.cmp(&b.hash));
    let existing: HashSet<String> = evidence_blob::Entity::find()
        .select_only()
        .column(evidence_blob::Column::Hash)
        .filter(evidence_blob::Column::Hash.is_in(fresh.iter().map(|b| b.hash.as_str())))
        .into_tuple::<String>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    fresh.retain(|b| !existing.contains(&b.hash));
    let stored_now = fresh.len() as u64;
    if fresh.is_empty() {
        return Ok(0);
    }
    if backend == DbBackend::Postgres {
        for group in by_document_bytes(fresh, |b| b.text.len()) {
            let (mut hashes, mut sizes, mut contents) = (vec![], vec![], vec![]);
            for blob in group {
                hashes.push(blob.hash);
                sizes.push(blob.byte_size);
                contents.push(blob.text);
            }
            db.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "INSERT INTO evidence_blobs (hash, byte_size, content, created_at) \
                 SELECT h, s, c::jsonb, $1 \
                 FROM unnest($2::text[], $3::bigint[], $4::text[]) AS r(h, s, c) \
                 ON CONFLICT (hash) DO NOTHING",
                [now.into(), hashes.into(), sizes.into(), contents.into()],
            ))
            .await?;
        }
        return Ok(stored_now);
    }
    let mut insert = Query::insert();
    insert.into_table(evidence_blob::Entity).columns([
        evidence_blob::Column::Hash,
        evidence_blob::Column::ByteSize,
        evidence_blob::Column::Content,
        evidence_blob::Column::CreatedAt,
    ]);
    for blob in fresh {
        insert
            .values([
                blob.hash.into(),
                blob.byte_size.into(),
                blob.text.into(),
                now.into(),
            ])
            .map_err(Error::internal)?;
    }
    // Another writer may store the same hash meanwhile.
    insert.on_conflict(
        OnConflict::column(evidence_blob::Column::Hash)
            .do_nothing()
            .to_owned(),
    );
    db.execute(&insert).await?;
    Ok(stored_now)
}

async fn store_versions(
    txn: &DatabaseTransaction,
    backend: DbBackend,
    chunk: Vec<PreparedVersion>,
    tenant_id: i64,
    run_id: i64,
    captured_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<()> {
    if backend == DbBackend::Postgres {
        for group in by_document_bytes(chunk, |v| v.content.len()) {
            let n = group.len();
            let (mut types, mut ids, mut contents, mut hashes, mut warnings, mut assigned) = (
                Vec::with_capacity(n),
                Vec::with_capacity(n),
                Vec::with_capacity(n),
                Vec::with_capacity(n),
                Vec::with_capacity(n),
                Vec::with_capacity(n),
            );
            for v in group {
                assigned.push(v.assignments_hash().unwrap_or_default());
                // The arrays hold no NULLs (see `by_document_bytes`): no hash
                // and no warning go as '' and are stored as NULL.
                let (hash, warning) = match v.normalized {
                    Ok(blob) => (blob.hash, String::new()),
                    Err(e) => (String::new(), e.reason),
                };
                types.push(v.policy_type);
                ids.push(v.external_id);
                contents.push(v.content);
                hashes.push(hash);
                warnings.push(warning);
            }
            txn.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "INSERT INTO policy_versions (tenant_id, policy_type, external_id, captured_at, \
                 operation_run_id, content, content_hash, normalize_warning, created_at, \
                 assignments_hash) \
                 SELECT $1, t, e, $2, $3, c::jsonb, NULLIF(h, ''), NULLIF(w, ''), $4, NULLIF(a, '') \
                 FROM unnest($5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[]) \
                 AS r(t, e, c, h, w, a)",
                [
                    tenant_id.into(),
                    captured_at.into(),
                    run_id.into(),
                    now.into(),
                    types.into(),
                    ids.into(),
                    contents.into(),
                    hashes.into(),
                    warnings.into(),
                    assigned.into(),
                ],
            ))
            .await?;
        }
        return Ok(());
    }
    let mut insert = Query::insert();
    insert.into_table(policy_version::Entity).columns([
        policy_version::Column::TenantId,
        policy_version::Column::PolicyType,
        policy_version::Column::ExternalId,
        policy_version::Column::CapturedAt,
        policy_version::Column::OperationRunId,
        policy_version::Column::Content,
        policy_version::Column::ContentHash,
        policy_version::Column::NormalizeWarning,
        policy_version::Column::CreatedAt,
        policy_version::Column::AssignmentsHash,
    ]);
    for v in chunk {
        let assigned = v.assignments_hash();
        let (hash, warning) = match v.normalized {
            Ok(blob) => (Some(blob.hash), None),
            Err(e) => (None, Some(e.reason)),
        };
        insert
            .values([
                tenant_id.into(),
                v.policy_type.into(),
                v.external_id.into(),
                captured_at.into(),
                run_id.into(),
                v.content.into(),
                hash.into(),
                warning.into(),
                now.into(),
                assigned.into(),
            ])
            .map_err(Error::internal)?;
    }
    txn.execute(&insert).await?;
    Ok(())
}

/// Records the final outcome, context and counts of an inline run, audits
/// it, and commits.
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
        .col_expr(operation_run::Column::Outcome, Expr::value(run.outcome))
        .col_expr(
            operation_run::Column::FailureSummary,
            Expr::value(run.failure_summary.clone()),
        )
        .col_expr(
            operation_run::Column::Context,
            Expr::value(run.context.clone()),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_groups_keep_order_and_stay_under_the_bound() {
        let mb = 1 << 20;
        let sizes = vec![mb, mb, 1, 3 * mb, 10, mb / 2, mb, mb];
        let groups = by_document_bytes(sizes.clone(), |s| *s);
        assert_eq!(
            groups,
            vec![
                vec![mb, mb],
                vec![1],
                vec![3 * mb],
                vec![10, mb / 2, mb],
                vec![mb]
            ]
        );
        for group in &groups {
            let bytes: usize = group.iter().sum();
            assert!(group.len() == 1 || bytes <= MAX_STATEMENT_BYTES);
        }
        assert_eq!(groups.concat(), sizes);
        assert!(by_document_bytes(Vec::<usize>::new(), |s| *s).is_empty());
    }
}
