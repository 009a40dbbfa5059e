//! The `inventory_sync` job: lists each requested type from its Graph
//! collection, page by page, and records the listing through the same
//! ingestion as `recordInventorySync`. Every page is kept in
//! `collector_pages` and checkpointed in the run's context in one fenced
//! transaction, so a run taken over after its worker died continues where
//! the last page left off and does not list finished types again.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use entity::{collector_page, tenant};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use serde_json::{Value, json};

use super::graph::{Collector, GraphError, Session};
use super::session;
use crate::audit::Action;
use crate::evidence::EvidenceWarning;
use crate::evidence::ingest::{self, InventoryItemInput, InventorySync, PolicyTypeStatus};
use crate::evidence::registry;
use crate::runs::queue::{self, Completion};
use crate::runs::worker::{Finished, Interrupted, JobError, RunContext};

/// Pages one type may take: no tenant has policies enough for more, so a
/// listing that goes on is broken (a `nextLink` that loops).
const MAX_PAGES: i32 = 5_000;
/// Warnings kept in the checkpoint; more are counted.
const MAX_WARNINGS: usize = 100;
/// Why a type was not listed when the budget ran out.
pub const BUDGET_SKIPPED: &str = "skipped: the run's Graph request budget (--graph-request-budget) ran out before this type was listed in full";

/// Where one type's listing stands.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
struct TypeState {
    /// `listing`, `done`, `failed` or `skipped`.
    state: String,
    pages: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next_link: Option<String>,
    items: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
struct Checkpoint {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    observed_at: Option<DateTime<Utc>>,
    #[serde(default)]
    types: BTreeMap<String, TypeState>,
    #[serde(default)]
    graph: Value,
    #[serde(default)]
    warnings: Vec<EvidenceWarning>,
    #[serde(default)]
    warnings_total: u64,
    /// How many times the run was taken over and resumed.
    #[serde(default)]
    resumed: u32,
}

impl Checkpoint {
    fn warn(&mut self, policy_type: &str, external_id: Option<String>, code: &str, reason: String) {
        self.warnings_total += 1;
        if self.warnings.len() < MAX_WARNINGS {
            self.warnings.push(EvidenceWarning {
                policy_type: policy_type.to_owned(),
                external_id,
                code: Some(code.to_owned()),
                reason,
            });
        }
    }
}

/// The staged form of one listed item.
#[derive(serde::Serialize, serde::Deserialize)]
struct StagedItem {
    id: String,
    name: String,
    meta: Value,
}

/// The policy types a request names: validated, or every collectable one.
pub fn requested_types(named: &[String]) -> Result<Vec<String>, String> {
    if named.is_empty() {
        return Ok(registry::collectable_types()
            .into_iter()
            .map(str::to_owned)
            .collect());
    }
    let mut out: Vec<String> = Vec::new();
    for t in named {
        let t = t.trim();
        if registry::graph_endpoint(t).is_none() {
            return Err(if registry::is_supported(t) {
                format!(
                    "policy type `{t}` cannot be collected from Graph (it has no collection of its own); import or push it instead"
                )
            } else {
                format!("policy type `{t}` is not in the registry")
            });
        }
        if !out.iter().any(|o| o == t) {
            out.push(t.to_owned());
        }
    }
    Ok(out)
}

pub async fn execute(
    ctx: &RunContext,
    collector: Option<&Arc<Collector>>,
) -> Result<Finished, JobError> {
    let types = requested_types(&session::strings(
        &ctx.run.context["request"]["policy_types"],
    ))
    .map_err(|message| JobError::Failed {
        reason_code: "invalid_request",
        message,
    })?;
    let mut checkpoint: Checkpoint =
        serde_json::from_value(session::section(&ctx.run.context, "collection"))
            .unwrap_or_default();
    if ctx.run.attempts > 1 && !checkpoint.types.is_empty() {
        checkpoint.resumed += 1;
    }
    let spent = checkpoint.graph["requests"].as_u64().unwrap_or(0);
    let (tenant, session) = session::open(ctx, collector, spent).await?;
    session.stats.resume_from(&checkpoint.graph);
    let observed_at = *checkpoint.observed_at.get_or_insert_with(Utc::now);

    let total = types.len() as i64;
    let mut budget_out = false;
    for (n, policy_type) in types.iter().enumerate() {
        ctx.progress(n as i64, total).await?;
        let state = checkpoint
            .types
            .entry(policy_type.clone())
            .or_default()
            .clone();
        if matches!(state.state.as_str(), "done" | "failed" | "skipped") {
            continue;
        }
        if budget_out {
            checkpoint.types.insert(
                policy_type.clone(),
                TypeState {
                    state: "skipped".into(),
                    error: Some(BUDGET_SKIPPED.into()),
                    ..TypeState::default()
                },
            );
            continue;
        }
        match list_type(ctx, &session, &tenant, policy_type, state, &mut checkpoint).await {
            Ok(()) => {}
            Err(ListError::Job(err)) => return Err(err),
            Err(ListError::Graph(GraphError::BudgetExhausted)) => {
                budget_out = true;
                let entry = checkpoint.types.entry(policy_type.clone()).or_default();
                entry.state = "skipped".into();
                entry.next_link = None;
                entry.error = Some(BUDGET_SKIPPED.into());
            }
            Err(ListError::Graph(err)) => {
                let entry = checkpoint.types.entry(policy_type.clone()).or_default();
                entry.state = "failed".into();
                entry.next_link = None;
                entry.error = Some(err.to_string());
                tracing::warn!(run_id = ctx.run.id, policy_type = %policy_type, error = %err, "a type's listing failed");
            }
        }
    }
    checkpoint.graph = session.stats.to_json();
    finish(ctx, &tenant, &session, &types, observed_at, checkpoint).await
}

enum ListError {
    Graph(GraphError),
    Job(JobError),
}

impl From<JobError> for ListError {
    fn from(err: JobError) -> Self {
        ListError::Job(err)
    }
}

impl From<sea_orm::DbErr> for ListError {
    fn from(err: sea_orm::DbErr) -> Self {
        ListError::Job(err.into())
    }
}

/// Lists one type from where its checkpoint stands, keeping each page.
async fn list_type(
    ctx: &RunContext,
    session: &Session,
    tenant: &tenant::Model,
    policy_type: &str,
    mut state: TypeState,
    checkpoint: &mut Checkpoint,
) -> Result<(), ListError> {
    let endpoint = registry::graph_endpoint(policy_type).ok_or_else(|| {
        ListError::Graph(GraphError::BadAnswer(format!(
            "`{policy_type}` has no Graph collection"
        )))
    })?;
    // Ids already kept for this type (a resumed listing), so that a page
    // Graph repeats does not list a subject twice.
    let mut seen: HashSet<String> = if state.pages > 0 {
        staged_pages(ctx, Some(policy_type))
            .await?
            .into_iter()
            .flat_map(|(_, items)| items.into_iter().map(|i| i.id))
            .collect()
    } else {
        HashSet::new()
    };
    let mut url = match (&state.next_link, state.pages) {
        (Some(link), _) => link.clone(),
        (None, 0) => session.collection_url(endpoint.collection, endpoint.list_query),
        // Resumed after the last page was kept: the type is complete.
        (None, _) => String::new(),
    };
    while !url.is_empty() {
        if state.pages >= MAX_PAGES {
            return Err(ListError::Graph(GraphError::BadAnswer(format!(
                "the listing goes on past {MAX_PAGES} pages; it is not trusted"
            ))));
        }
        let page = session.page(&url).await.map_err(ListError::Graph)?;
        let mut items = Vec::with_capacity(page.items.len());
        for (i, object) in page.items.iter().enumerate() {
            match staged_item(policy_type, object) {
                Ok(item) => {
                    if seen.insert(item.id.clone()) {
                        items.push(item);
                    } else {
                        checkpoint.warn(
                            policy_type,
                            Some(item.id.clone()),
                            "duplicate_item",
                            "Graph listed this item twice; it was kept once".into(),
                        );
                    }
                }
                Err(reason) => checkpoint.warn(
                    policy_type,
                    None,
                    "item_skipped",
                    format!("item {i} of page {}: {reason}; skipped", state.pages + 1),
                ),
            }
        }
        state.items += items.len() as u64;
        state.next_link = page.next_link.clone();
        state.state = if page.next_link.is_some() {
            "listing"
        } else {
            "done"
        }
        .into();
        let page_index = state.pages;
        state.pages += 1;
        checkpoint
            .types
            .insert(policy_type.to_owned(), state.clone());
        checkpoint.graph = session.stats.to_json();

        // The page and the checkpoint that counts it land together, fenced.
        let txn = ctx.begin_write().await?;
        collector_page::Entity::insert(collector_page::ActiveModel {
            tenant_id: Set(tenant.id),
            operation_run_id: Set(ctx.run.id),
            policy_type: Set(policy_type.to_owned()),
            page_index: Set(page_index),
            items: Set(serde_json::to_value(&items).unwrap_or_default()),
            created_at: Set(Utc::now()),
            ..Default::default()
        })
        .on_conflict(
            OnConflict::columns([
                collector_page::Column::OperationRunId,
                collector_page::Column::PolicyType,
                collector_page::Column::PageIndex,
            ])
            .update_column(collector_page::Column::Items)
            .to_owned(),
        )
        .exec_without_returning(&txn)
        .await?;
        let mut context = ctx.run.context.clone();
        context["collection"] = serde_json::to_value(&*checkpoint).unwrap_or_default();
        if !queue::set_context(&txn, &ctx.claim, context).await? {
            txn.rollback().await?;
            return Err(JobError::Interrupted(Interrupted::ClaimLost).into());
        }
        txn.commit().await?;
        url = page.next_link.unwrap_or_default();
    }
    let entry = checkpoint.types.entry(policy_type.to_owned()).or_default();
    entry.state = "done".into();
    entry.next_link = None;
    Ok(())
}

/// One listed object as an inventory item, or why it cannot be one.
fn staged_item(policy_type: &str, object: &Value) -> Result<StagedItem, String> {
    if !object.is_object() {
        return Err("it is not a JSON object".into());
    }
    let id = object
        .get("id")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .ok_or("it has no id")?;
    if id.chars().count() > 400 {
        return Err("its id is longer than 400 characters".into());
    }
    ingest::check_storable("the item", object).map_err(|e| e.to_string())?;
    let name = ingest::display_name_of(object).unwrap_or_else(|| id.to_owned());
    let item = ingest::inventory_item_of(policy_type, id, &name, object);
    Ok(StagedItem {
        id: item.external_id,
        name: item.display_name,
        meta: item.meta,
    })
}

/// The pages this run kept, in order, of one type or all.
async fn staged_pages(
    ctx: &RunContext,
    policy_type: Option<&str>,
) -> Result<Vec<(String, Vec<StagedItem>)>, sea_orm::DbErr> {
    let mut query = collector_page::Entity::find()
        .filter(collector_page::Column::TenantId.eq(ctx.run.tenant_id))
        .filter(collector_page::Column::OperationRunId.eq(ctx.run.id));
    if let Some(t) = policy_type {
        query = query.filter(collector_page::Column::PolicyType.eq(t));
    }
    let pages = query
        .order_by_asc(collector_page::Column::PolicyType)
        .order_by_asc(collector_page::Column::PageIndex)
        .all(&ctx.db)
        .await?;
    Ok(pages
        .into_iter()
        .map(|p| {
            let items: Vec<StagedItem> = serde_json::from_value(p.items).unwrap_or_default();
            (p.policy_type, items)
        })
        .collect())
}

/// Records the listing like `recordInventorySync`, completes the run with
/// it, and drops the kept pages, in the run's last fenced transaction.
async fn finish(
    ctx: &RunContext,
    tenant: &tenant::Model,
    session: &Session,
    types: &[String],
    observed_at: DateTime<Utc>,
    checkpoint: Checkpoint,
) -> Result<Finished, JobError> {
    let mut items: Vec<InventoryItemInput> = Vec::new();
    for (policy_type, page) in staged_pages(ctx, None).await? {
        if checkpoint
            .types
            .get(&policy_type)
            .is_some_and(|s| s.state == "done")
        {
            items.extend(page.into_iter().map(|i| InventoryItemInput {
                policy_type: policy_type.clone(),
                external_id: i.id,
                display_name: i.name,
                meta: i.meta,
            }));
        }
    }
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    for item in &items {
        *counts.entry(item.policy_type.as_str()).or_default() += 1;
    }
    let policy_types = types
        .iter()
        .map(|t| {
            let state = checkpoint.types.get(t).cloned().unwrap_or_default();
            let done = state.state == "done";
            PolicyTypeStatus {
                policy_type: t.clone(),
                succeeded: done,
                item_count: done.then(|| counts.get(t.as_str()).copied().unwrap_or(0)),
                error: (!done).then(|| {
                    state
                        .error
                        .unwrap_or_else(|| "the listing did not complete".into())
                }),
                confirm_empty: false,
            }
        })
        .collect();
    let skipped: Vec<&String> = types
        .iter()
        .filter(|t| {
            checkpoint
                .types
                .get(*t)
                .is_some_and(|s| s.state == "skipped")
        })
        .collect();
    let sync = InventorySync {
        observed_at,
        policy_types,
        items,
        warnings: checkpoint.warnings.clone(),
        guard: ctx.listing_guard(),
    };
    let prepared = ingest::prepare_inventory_sync(&ctx.db, tenant, sync)
        .await
        .map_err(|e| JobError::Failed {
            reason_code: "invalid_listing",
            message: e.to_string(),
        })?;
    let txn = ctx.begin_final_write().await?;
    let written = ingest::write_inventory_sync(&txn, tenant, ctx.run.id, prepared).await?;
    collector_page::Entity::delete_many()
        .filter(collector_page::Column::TenantId.eq(tenant.id))
        .filter(collector_page::Column::OperationRunId.eq(ctx.run.id))
        .exec(&txn)
        .await?;
    session::record_token_outcome(&txn, tenant.id, session).await?;
    let mut context = written.context;
    context["request"] = ctx.run.context["request"].clone();
    let mut collection = serde_json::to_value(&checkpoint).unwrap_or_default();
    collection["skipped"] = json!(skipped);
    context["collection"] = collection;
    session::audit_recorded(
        &txn,
        ctx,
        tenant,
        Action::InventorySyncRecord,
        &written.summary_counts,
    )
    .await?;
    ctx.finish(
        txn,
        Completion {
            outcome: written.outcome,
            summary_counts: written.summary_counts,
            context,
            failure_summary: written.failure_summary,
        },
    )
    .await
}
