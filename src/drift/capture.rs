//! Baseline capture: scope types → the source tenant's present subjects →
//! the same resolver as compare → an immutable snapshot with tenant-free items.

use std::collections::HashSet;

use chrono::Utc;
use entity::enums::{CaptureMode, Fidelity, RunOutcome, SnapshotStatus, SubjectMatch};
use entity::{baseline_profile, baseline_snapshot, baseline_snapshot_item};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, NotSet,
    QueryFilter, Set, Statement,
};
use serde::Deserialize;
use serde_json::json;

use super::profiles::Scope;
use super::subjects::key_of;
use crate::db::jsonb_text;
use crate::evidence::resolver::{CHUNK_SIZE, resolve_present};
use crate::evidence::{Evidence, EvidenceWarning};
use crate::runs::identity_hash;
use crate::runs::queue::{Completion, NewRun};
use crate::runs::summary_counts;
use crate::runs::worker::{Finished, JobError, RunContext};

/// Subjects lacking content kept in a FULL_CONTENT run's context.
const MAX_LISTED_MISSING: usize = 1_000;

#[derive(Deserialize)]
pub struct CaptureRequest {
    pub baseline_profile_id: i64,
    pub source_tenant_id: i64,
}

/// The queued run for a capture of `profile` from `source`. Every front door
/// uses this, so the same capture always has the same identity (dedupe).
pub fn new_run(
    profile: &baseline_profile::Model,
    source: &entity::tenant::Model,
    initiator_user_id: Option<i64>,
) -> NewRun {
    NewRun {
        workspace_id: profile.workspace_id,
        tenant_id: source.id,
        run_type: entity::enums::RunType::BaselineCapture,
        initiator_user_id,
        run_identity_hash: identity_hash(&[
            "baseline_capture",
            &profile.id.to_string(),
            &source.id.to_string(),
        ]),
        context: json!({"baseline_capture": {"baseline_profile_id": profile.id, "source_tenant_id": source.id}}),
    }
}

fn evidence_json(e: &Evidence) -> serde_json::Value {
    json!({
        "hash": e.hash,
        "fidelity": e.provenance.fidelity,
        "source": e.provenance.source,
        "observed_at": e.provenance.observed_at,
        "observed_operation_run_id": e.provenance.observed_operation_run_id,
    })
}

/// Snapshot items written per transaction (each statement holds a chunk).
const ITEMS_BATCH: usize = 5_000;

/// Stores a chunk of a snapshot's items. PostgreSQL takes them as one text
/// array a column through `unnest`, one fixed statement planned once, as
/// ingestion's inserts do (see `ingest::by_document_bytes`); planning a
/// 500-row VALUES list was most of the statement's 21 ms.
async fn insert_items<C: ConnectionTrait>(
    db: &C,
    rows: Vec<baseline_snapshot_item::Model>,
) -> Result<(), DbErr> {
    // One statement per chunk: a SQLite statement binds at most 32,766 values.
    let mut rows = rows;
    while rows.len() > CHUNK_SIZE {
        let rest = rows.split_off(CHUNK_SIZE);
        insert_chunk(db, std::mem::replace(&mut rows, rest)).await?;
    }
    insert_chunk(db, rows).await
}

async fn insert_chunk<C: ConnectionTrait>(
    db: &C,
    rows: Vec<baseline_snapshot_item::Model>,
) -> Result<(), DbErr> {
    let Some(first) = rows.first() else {
        return Ok(());
    };
    if db.get_database_backend() == DbBackend::Postgres {
        // A chunk's items share their snapshot and workspace.
        let (snapshot_id, workspace_id) = (first.baseline_snapshot_id, first.workspace_id);
        let n = rows.len();
        let mut columns: [Vec<String>; 7] = std::array::from_fn(|_| Vec::with_capacity(n));
        for r in rows {
            // The arrays hold no NULLs: no hash goes as '' and is stored as NULL.
            let meta = jsonb_text(&r.meta_jsonb);
            let values = [
                r.policy_type,
                r.subject_key,
                r.display_name,
                r.baseline_hash.unwrap_or_default(),
                r.meta_hash.unwrap_or_default(),
                meta,
                r.assignments_hash.unwrap_or_default(),
            ];
            for (column, value) in columns.iter_mut().zip(values) {
                column.push(value);
            }
        }
        let [
            types,
            keys,
            names,
            baseline_hashes,
            meta_hashes,
            metas,
            assigned,
        ] = columns;
        db.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO baseline_snapshot_items (baseline_snapshot_id, workspace_id, \
             policy_type, subject_key, display_name, baseline_hash, meta_hash, meta_jsonb, \
             assignments_hash) \
             SELECT $1, $2, t, k, d, NULLIF(b, ''), NULLIF(m, ''), j::jsonb, NULLIF(a, '') \
             FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], \
             $9::text[]) AS r(t, k, d, b, m, j, a)",
            [
                snapshot_id.into(),
                workspace_id.into(),
                types.into(),
                keys.into(),
                names.into(),
                baseline_hashes.into(),
                meta_hashes.into(),
                metas.into(),
                assigned.into(),
            ],
        ))
        .await?;
        return Ok(());
    }
    let rows = rows.into_iter().map(|r| {
        let mut row: baseline_snapshot_item::ActiveModel = r.into();
        row.id = NotSet;
        row
    });
    baseline_snapshot_item::Entity::insert_many(rows)
        .exec_without_returning(db)
        .await?;
    Ok(())
}

pub async fn execute(ctx: &RunContext) -> Result<Finished, JobError> {
    let db = &ctx.db;
    let request: CaptureRequest =
        serde_json::from_value(ctx.run.context["baseline_capture"].clone()).map_err(|_| {
            JobError::Failed {
                reason_code: "invalid_request",
                message: "the run does not name a profile and a source tenant".into(),
            }
        })?;
    let profile = baseline_profile::Entity::find_by_id(request.baseline_profile_id)
        .one(db)
        .await?
        .ok_or(JobError::Failed {
            reason_code: "profile_not_found",
            message: "the baseline profile no longer exists".into(),
        })?;
    let types = Scope::of(&profile).effective_types();
    // FULL_CONTENT: content that is missing, or older than the subject's
    // latest listing, is fetched first when the source has a connection.
    // A resumed run continues it: what this run captured already is fresh.
    let content_capture = if profile.capture_mode == CaptureMode::FullContent {
        crate::collector::content::refresh_before(ctx, request.source_tenant_id, &types).await?
    } else {
        None
    };

    // A retried run starts over: drop what an earlier attempt left half-built.
    let txn = ctx.begin_write().await?;
    baseline_snapshot::Entity::delete_many()
        .filter(baseline_snapshot::Column::OperationRunId.eq(ctx.run.id))
        .filter(baseline_snapshot::Column::Status.eq(SnapshotStatus::Building))
        .exec(&txn)
        .await?;
    let captured_at = Utc::now();
    let snapshot = baseline_snapshot::ActiveModel {
        workspace_id: Set(profile.workspace_id),
        baseline_profile_id: Set(profile.id),
        source_tenant_id: Set(Some(request.source_tenant_id)),
        operation_run_id: Set(Some(ctx.run.id)),
        status: Set(SnapshotStatus::Building),
        captured_at: Set(captured_at),
        item_count: Set(0),
        created_at: Set(captured_at),
        completed_at: Set(None),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;

    let presence = resolve_present(
        db,
        request.source_tenant_id,
        &types,
        None,
        profile.subject_match == SubjectMatch::DisplayName,
    )
    .await?;
    let subjects = presence.subjects;
    let total = subjects.len() as i64;
    ctx.progress(0, total).await?;

    let mut warnings: Vec<EvidenceWarning> = presence.warnings;
    let mut seen_keys: HashSet<(String, String)> = HashSet::new();
    let (mut content, mut meta, mut gaps, mut items) = (0u64, 0u64, 0u64, 0i64);
    let mut missing_content = Vec::new();
    let mut missing_content_total = 0usize;
    // Items are written in fenced transactions of up to ITEMS_BATCH rows,
    // the last ones with the snapshot's completion: a transaction per chunk
    // cost a round trip and a commit for every 500 items.
    let mut pending: Vec<baseline_snapshot_item::Model> = Vec::new();
    for (n, chunk) in subjects.chunks(CHUNK_SIZE).enumerate() {
        let rows = &mut pending;
        for subject in chunk {
            let subject_key = key_of(profile.subject_match, subject);
            if !seen_keys.insert((subject.policy_type.clone(), subject_key.clone())) {
                warnings.push(EvidenceWarning {
                    code: None,
                    policy_type: subject.policy_type.clone(),
                    external_id: Some(subject.external_id.clone()),
                    reason: format!(
                        "another {} subject already has the key `{}`; only the first is in the baseline",
                        subject.policy_type, subject_key
                    ),
                });
                continue;
            }
            let state = subject.state.as_ref();
            let meta_evidence = state.and_then(|s| s.meta.clone());
            let chosen = match profile.capture_mode {
                CaptureMode::MetaOnly => meta_evidence.clone(),
                CaptureMode::Opportunistic | CaptureMode::FullContent => {
                    state.map(|s| s.evidence.clone())
                }
            };
            match chosen.as_ref().map(|e| e.provenance.fidelity) {
                Some(Fidelity::Content) => content += 1,
                Some(Fidelity::Meta) => meta += 1,
                None => gaps += 1,
            }
            if profile.capture_mode == CaptureMode::FullContent
                && chosen.as_ref().map(|e| e.provenance.fidelity) != Some(Fidelity::Content)
            {
                missing_content_total += 1;
                if missing_content.len() < MAX_LISTED_MISSING {
                    missing_content.push(json!({"policy_type": subject.policy_type, "external_id": subject.external_id}));
                }
            }
            rows.push(baseline_snapshot_item::Model {
                id: 0,
                baseline_snapshot_id: snapshot.id,
                workspace_id: profile.workspace_id,
                policy_type: subject.policy_type.clone(),
                subject_key,
                display_name: subject.display_name.clone(),
                baseline_hash: chosen.as_ref().map(|e| e.hash.clone()),
                meta_hash: meta_evidence.as_ref().map(|e| e.hash.clone()),
                assignments_hash: chosen.as_ref().and_then(|e| e.assignments_hash.clone()),
                meta_jsonb: json!({
                    "evidence": chosen.as_ref().map(evidence_json),
                    "meta_evidence": meta_evidence.as_ref().map(evidence_json),
                }),
            });
        }
        if pending.len() >= ITEMS_BATCH {
            items += pending.len() as i64;
            let txn = ctx.begin_write().await?;
            insert_items(&txn, std::mem::take(&mut pending)).await?;
            txn.commit().await?;
        }
        ctx.progress(((n + 1) * CHUNK_SIZE).min(subjects.len()) as i64, total)
            .await?;
    }

    let txn = ctx.begin_final_write().await?;
    items += pending.len() as i64;
    insert_items(&txn, pending).await?;
    let mut complete: baseline_snapshot::ActiveModel = snapshot.clone().into();
    complete.status = Set(SnapshotStatus::Complete);
    complete.item_count = Set(items);
    complete.completed_at = Set(Some(Utc::now()));
    complete.update(&txn).await?;

    let outcome = if gaps > 0 || missing_content_total > 0 {
        RunOutcome::PartiallySucceeded
    } else {
        RunOutcome::Succeeded
    };
    let completion = Completion {
        outcome,
        summary_counts: summary_counts(&[
            ("subjects_total", items as u64),
            ("resolved_content", content),
            ("resolved_meta", meta),
            ("evidence_gaps", gaps),
            ("warnings", warnings.len() as u64),
        ]),
        context: json!({"baseline_capture": {
            "baseline_profile_id": profile.id,
            "source_tenant_id": request.source_tenant_id,
            "baseline_snapshot_id": snapshot.id,
            "captured_at": captured_at,
            "capture_mode": profile.capture_mode,
            "policy_types": types,
            "coverage": {"subjects_total": items, "resolved_content": content, "resolved_meta": meta, "missing": gaps},
            "missing_content": missing_content,
            "missing_content_total": missing_content_total,
            "warnings": warnings.iter().take(100).collect::<Vec<_>>(),
        }, "content_capture": content_capture}),
        failure_summary: None,
    };
    ctx.finish(txn, completion).await
}
