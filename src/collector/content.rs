//! Content capture: full policy content for a tenant's present subjects,
//! fetched with JSON `$batch` (at most 20 GETs each) and recorded through
//! the same ingestion as `recordPolicyVersions`. The `policy_capture` job
//! runs it on its own; FULL_CONTENT captures and compares run it first for
//! the subjects whose content is missing or stale.
//!
//! Each batch's versions and the checkpoint that counts them are written in
//! one fenced transaction. A run taken over after its worker died
//! therefore resumes with the subjects it has not captured yet: those it
//! did capture have versions under its run id, which the next attempt
//! leaves out.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::enums::RunOutcome;
use entity::{inventory_item, policy_version, tenant};
use futures_util::StreamExt;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use serde_json::{Value, json};

use super::graph::{GraphError, MAX_BATCH_REQUESTS, Session, SubResponse};
use super::session;
use crate::audit::Action;
use crate::evidence::EvidenceWarning;
use crate::evidence::ingest::{self, PolicyVersionInput, PolicyVersions, StoredVersions};
use crate::evidence::registry;
use crate::runs::queue::{self, Completion};
use crate::runs::worker::{Finished, Interrupted, JobError, RunContext};

const MAX_PROBLEMS_KEPT: usize = 100;

/// What a content capture did, kept in the run's context as
/// `content_capture` and updated after every batch.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct ContentCapture {
    /// Subjects in scope whose content was missing or stale when the
    /// capture began: what it set out to fetch.
    pub requested: u64,
    pub captured: u64,
    /// Not fetched: the request budget ran out, or Graph no longer has the
    /// subject (404). `skipped_by_reason` says which.
    pub skipped: u64,
    /// Throttled answers (429, 503, 504), `$batch` sub-responses included.
    pub throttled: u64,
    pub failed: u64,
    /// Subjects in scope that already had fresh content: not fetched.
    pub fresh: u64,
    #[serde(default)]
    pub skipped_by_reason: BTreeMap<String, u64>,
    /// Up to 100 subjects that were skipped or failed, with why.
    #[serde(default)]
    pub problems: Vec<EvidenceWarning>,
    #[serde(default)]
    pub only_stale_since: Option<DateTime<Utc>>,
    /// Graph requests, retries and throttling over the whole capture.
    #[serde(default)]
    pub graph: Value,
    #[serde(default)]
    pub versions_total: u64,
    #[serde(default)]
    pub versions_not_normalizable: u64,
    #[serde(default)]
    pub blobs_total: u64,
    #[serde(default)]
    pub warnings: Vec<EvidenceWarning>,
    #[serde(default)]
    pub started: bool,
    #[serde(default)]
    pub resumed: u32,
}

impl ContentCapture {
    fn problem(&mut self, subject: &Subject, code: &str, reason: String) {
        if self.problems.len() < MAX_PROBLEMS_KEPT {
            self.problems.push(EvidenceWarning {
                policy_type: subject.policy_type.clone(),
                external_id: Some(subject.external_id.clone()),
                code: Some(code.to_owned()),
                reason,
            });
        }
    }

    fn skip(&mut self, subject: &Subject, reason_code: &str, reason: &str) {
        self.skipped += 1;
        *self
            .skipped_by_reason
            .entry(reason_code.to_owned())
            .or_default() += 1;
        self.problem(subject, reason_code, reason.to_owned());
    }

    fn fail(&mut self, subject: &Subject, reason: String) {
        self.failed += 1;
        self.problem(subject, "content_fetch_failed", reason);
    }

    fn stored(&self) -> StoredVersions {
        StoredVersions {
            total: self.versions_total,
            not_normalizable: self.versions_not_normalizable,
            blobs_total: self.blobs_total,
            warnings: self.warnings.clone(),
        }
    }

    /// Whether the capture got everything it set out to.
    pub fn complete(&self) -> bool {
        self.captured >= self.requested
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Subject {
    policy_type: String,
    external_id: String,
}

/// What to capture.
#[derive(Clone, Debug)]
pub struct ContentRequest {
    pub policy_types: Vec<String>,
    /// Only subjects without content captured at or after this time.
    pub only_stale_since: Option<DateTime<Utc>>,
    /// Only subjects whose latest content is older than their latest
    /// listing (or missing): what FULL_CONTENT captures and compares
    /// refresh. Content captured after the sync that last listed a subject
    /// is as fresh as anything the server knows of it.
    pub stale_if_older_than_listing: bool,
}

/// The present subjects of `types` whose content is missing or stale, and
/// how many in scope were fresh: three queries.
async fn subjects_to_fetch(
    ctx: &RunContext,
    tenant_id: i64,
    types: &[String],
    request: &ContentRequest,
) -> Result<(Vec<Subject>, u64), JobError> {
    let present: Vec<(String, String, DateTime<Utc>)> = inventory_item::Entity::find()
        .select_only()
        .column(inventory_item::Column::PolicyType)
        .column(inventory_item::Column::ExternalId)
        .column(inventory_item::Column::LastSeenAt)
        .filter(inventory_item::Column::TenantId.eq(tenant_id))
        .filter(inventory_item::Column::RemovedAt.is_null())
        .filter(inventory_item::Column::PolicyType.is_in(types.to_vec()))
        .into_tuple()
        .all(&ctx.db)
        .await?;
    // The latest capture of each subject, and whether this run made it;
    // against the listing every capture counts, else only this run's and
    // those since the given time.
    let base = || {
        policy_version::Entity::find()
            .select_only()
            .column(policy_version::Column::PolicyType)
            .column(policy_version::Column::ExternalId)
            .filter(policy_version::Column::TenantId.eq(tenant_id))
            .filter(policy_version::Column::PolicyType.is_in(types.to_vec()))
    };
    let mut latest_query = base()
        .column_as(policy_version::Column::CapturedAt.max(), "captured_at")
        .group_by(policy_version::Column::PolicyType)
        .group_by(policy_version::Column::ExternalId);
    if !request.stale_if_older_than_listing {
        latest_query = latest_query.filter(
            policy_version::Column::CapturedAt
                .gte(request.only_stale_since.unwrap_or(DateTime::<Utc>::MAX_UTC)),
        );
    }
    let latest: HashMap<(String, String), DateTime<Utc>> = latest_query
        .into_tuple::<(String, String, DateTime<Utc>)>()
        .all(&ctx.db)
        .await?
        .into_iter()
        .map(|(t, id, at)| ((t, id), at))
        .collect();
    let ours: HashSet<(String, String)> = base()
        .distinct()
        .filter(policy_version::Column::OperationRunId.eq(ctx.run.id))
        .into_tuple()
        .all(&ctx.db)
        .await?
        .into_iter()
        .collect();
    let mut todo: Vec<Subject> = Vec::new();
    let mut fresh_count = 0;
    for (policy_type, external_id, last_seen_at) in present {
        let key = (policy_type, external_id);
        let fresh = ours.contains(&key)
            || latest.get(&key).is_some_and(|at| {
                request.only_stale_since.is_some_and(|since| *at >= since)
                    || (request.stale_if_older_than_listing && *at >= last_seen_at)
            });
        if fresh {
            fresh_count += 1;
        } else {
            todo.push(Subject {
                policy_type: key.0,
                external_id: key.1,
            });
        }
    }
    todo.sort_by(|a, b| {
        (a.policy_type.as_str(), a.external_id.as_str())
            .cmp(&(b.policy_type.as_str(), b.external_id.as_str()))
    });
    Ok((todo, fresh_count))
}

/// A path segment with everything but OData's unreserved characters
/// percent-encoded (ids are GUIDs, but keys of imported subjects need not be).
fn encode_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn content_url(subject: &Subject) -> Option<String> {
    let endpoint = registry::graph_endpoint(&subject.policy_type)?;
    let mut url = format!(
        "{}/{}",
        endpoint.collection,
        encode_segment(&subject.external_id)
    );
    if !endpoint.content_query.is_empty() {
        url.push('?');
        url.push_str(endpoint.content_query);
    }
    Some(url)
}

/// What one batch came back with.
struct BatchResult {
    subjects: Vec<Subject>,
    answer: Result<Vec<SubResponse>, GraphError>,
}

/// Fetches and records content for the subjects of `request` that lack it,
/// checkpointing `content_capture` in the run's context after every batch.
/// `state` carries what an earlier attempt of the run recorded.
pub async fn capture_content(
    ctx: &RunContext,
    session: &Session,
    tenant: &tenant::Model,
    request: &ContentRequest,
    mut state: ContentCapture,
) -> Result<ContentCapture, JobError> {
    let types: Vec<String> = request
        .policy_types
        .iter()
        .filter(|t| registry::graph_endpoint(t).is_some())
        .cloned()
        .collect();
    if types.is_empty() {
        state.started = true;
        return Ok(state);
    }
    let (todo, fresh) = subjects_to_fetch(ctx, tenant.id, &types, request).await?;
    if state.started {
        state.resumed += 1;
    } else {
        state.started = true;
        state.requested = todo.len() as u64;
        state.fresh = fresh;
        state.only_stale_since = request.only_stale_since;
    }
    session.stats.resume_from(&state.graph);

    let concurrency = session.concurrency();
    let mut round_subjects: Vec<(Subject, u32)> = todo.into_iter().map(|s| (s, 0)).collect();
    let mut round: u32 = 0;
    let mut budget_out = false;
    let total = state.requested as i64;
    while !round_subjects.is_empty() {
        let mut retry: Vec<(Subject, u32)> = Vec::new();
        let mut wait = Duration::ZERO;
        let chunks: Vec<Vec<(Subject, u32)>> = round_subjects
            .chunks(MAX_BATCH_REQUESTS)
            .map(<[_]>::to_vec)
            .collect();
        let mut batches = futures_util::stream::iter(chunks.into_iter().map(|chunk| async move {
            let subjects: Vec<Subject> = chunk.iter().map(|(s, _)| s.clone()).collect();
            let requests: Vec<(String, String)> = subjects
                .iter()
                .enumerate()
                .filter_map(|(i, s)| content_url(s).map(|u| (i.to_string(), u)))
                .collect();
            let answer = session.batch(&requests).await;
            (chunk, BatchResult { subjects, answer })
        }))
        .buffer_unordered(concurrency);
        while let Some((chunk, result)) = batches.next().await {
            let mut versions: Vec<PolicyVersionInput> = Vec::new();
            match result.answer {
                Err(GraphError::BudgetExhausted) => {
                    budget_out = true;
                    for s in &result.subjects {
                        state.skip(s, "budget", super::sync::BUDGET_SKIPPED);
                    }
                }
                Err(err) => {
                    let reason = err.to_string();
                    for s in &result.subjects {
                        state.fail(s, reason.clone());
                    }
                }
                Ok(responses) => {
                    let by_id: BTreeMap<&str, &SubResponse> =
                        responses.iter().map(|r| (r.id.as_str(), r)).collect();
                    let mut throttled: Vec<&SubResponse> = Vec::new();
                    for (i, (subject, tries)) in chunk.iter().enumerate() {
                        let Some(answer) = by_id.get(i.to_string().as_str()) else {
                            state.fail(subject, "the $batch answer has no response for it".into());
                            continue;
                        };
                        match answer.status {
                            200 if answer.body.is_object() => {
                                if let Err(err) =
                                    ingest::check_storable("the content", &answer.body)
                                {
                                    state.fail(subject, err.to_string());
                                } else {
                                    versions.push(PolicyVersionInput {
                                        policy_type: subject.policy_type.clone(),
                                        external_id: subject.external_id.clone(),
                                        content: answer.body.clone(),
                                    });
                                }
                            }
                            200 => state.fail(subject, "Graph answered 200 without a JSON object".into()),
                            404 => state.skip(
                                subject,
                                "not_found",
                                "Graph no longer has this subject (404); the next inventory sync will see it gone",
                            ),
                            _ if answer.is_throttled() => {
                                throttled.push(answer);
                                if *tries >= session.max_retries() {
                                    state.fail(
                                        subject,
                                        format!("throttled {} times in a row; giving up", tries + 1),
                                    );
                                } else {
                                    retry.push((subject.clone(), tries + 1));
                                }
                            }
                            status => state.fail(
                                subject,
                                format!(
                                    "Graph answered {status}: {}",
                                    sub_error(&answer.body)
                                ),
                            ),
                        }
                    }
                    if !throttled.is_empty() {
                        wait = wait.max(session.sub_backoff(&throttled, round));
                    }
                }
            }
            state.captured += versions.len() as u64;
            state.graph = session.stats.to_json();
            state.throttled = state.graph["throttled"].as_u64().unwrap_or(state.throttled);
            record_batch(ctx, tenant.id, versions, &mut state).await?;
            let done = (state.captured + state.skipped + state.failed) as i64;
            ctx.progress(std::cmp::min(done, total), total).await?;
        }
        drop(batches);
        if budget_out {
            for (s, _) in &retry {
                state.skip(s, "budget", super::sync::BUDGET_SKIPPED);
            }
            break;
        }
        if !retry.is_empty() {
            tokio::time::sleep(wait).await;
            session.count_retries(retry.len() as u64);
        }
        round_subjects = retry;
        round += 1;
    }
    state.graph = session.stats.to_json();
    state.throttled = state.graph["throttled"].as_u64().unwrap_or(state.throttled);
    Ok(state)
}

fn sub_error(body: &Value) -> String {
    let code = body["error"]["code"].as_str().unwrap_or("error");
    let message: String = body["error"]["message"]
        .as_str()
        .unwrap_or("")
        .chars()
        .take(300)
        .collect();
    format!("{code}: {message}")
}

/// Stores one batch's versions and the checkpoint, fenced, in one
/// transaction.
async fn record_batch(
    ctx: &RunContext,
    tenant_id: i64,
    versions: Vec<PolicyVersionInput>,
    state: &mut ContentCapture,
) -> Result<(), JobError> {
    let txn = ctx.begin_write().await?;
    if !versions.is_empty() {
        ingest::validate_versions(&versions)?;
        let stored = ingest::write_versions(
            &ctx.db,
            &txn,
            tenant_id,
            ctx.run.id,
            PolicyVersions {
                captured_at: Utc::now(),
                versions,
            },
        )
        .await?;
        state.versions_total += stored.total;
        state.versions_not_normalizable += stored.not_normalizable;
        state.blobs_total += stored.blobs_total;
        state.warnings.extend(stored.warnings);
        state.warnings.truncate(MAX_PROBLEMS_KEPT);
    }
    let mut context = ctx.run.context.clone();
    context["content_capture"] = serde_json::to_value(&*state).unwrap_or_default();
    if !queue::set_context(&txn, &ctx.claim, context).await? {
        txn.rollback().await?;
        return Err(JobError::Interrupted(Interrupted::ClaimLost));
    }
    txn.commit().await?;
    Ok(())
}

/// The `policy_capture` job.
pub async fn execute(ctx: &RunContext) -> Result<Finished, JobError> {
    let request = &ctx.run.context["request"];
    let named = session::strings(&request["policy_types"]);
    let policy_types =
        super::sync::requested_types(&named).map_err(|message| JobError::Failed {
            reason_code: "invalid_request",
            message,
        })?;
    let only_stale_since = request["only_stale_since"]
        .as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|d| d.with_timezone(&Utc));
    let previous: ContentCapture =
        serde_json::from_value(session::section(&ctx.run.context, "content_capture"))
            .unwrap_or_default();
    let spent = previous.graph["requests"].as_u64().unwrap_or(0);
    let collector = ctx.collector.clone();
    let (tenant, session) = session::open(ctx, collector.as_ref(), spent).await?;
    let state = capture_content(
        ctx,
        &session,
        &tenant,
        &ContentRequest {
            policy_types,
            only_stale_since,
            stale_if_older_than_listing: false,
        },
        previous,
    )
    .await?;

    let written = state.stored().into_run(Utc::now());
    let outcome = if state.requested == 0 || state.complete() {
        written.outcome
    } else if state.captured > 0 {
        RunOutcome::PartiallySucceeded
    } else {
        RunOutcome::Failed
    };
    let failure_summary = if state.complete() {
        written.failure_summary
    } else {
        Some(json!({
            "reason_code": "content_capture_incomplete",
            "message": format!(
                "{} of {} subjects captured: {} skipped, {} failed",
                state.captured, state.requested, state.skipped, state.failed
            ),
        }))
    };
    let mut context = written.context;
    context["request"] = ctx.run.context["request"].clone();
    context["content_capture"] = serde_json::to_value(&state).unwrap_or_default();
    let txn = ctx.begin_final_write().await?;
    session::record_token_outcome(&txn, tenant.id, &session).await?;
    session::audit_recorded(
        &txn,
        ctx,
        &tenant,
        Action::PolicyVersionsRecord,
        &written.summary_counts,
    )
    .await?;
    ctx.finish(
        txn,
        Completion {
            outcome,
            summary_counts: written.summary_counts,
            context,
            failure_summary,
        },
    )
    .await
}

/// Captures missing or stale content before a FULL_CONTENT capture or
/// compare, when the tenant has a connection and this process collects.
/// `None` when there is nothing to collect with; the job goes on with the
/// content it has.
pub async fn refresh_before(
    ctx: &RunContext,
    tenant_id: i64,
    policy_types: &[String],
) -> Result<Option<ContentCapture>, JobError> {
    let Some(collector) = ctx.collector.clone() else {
        return Ok(None);
    };
    let has_connection = super::connections::connection_of(&ctx.db, tenant_id)
        .await?
        .is_some();
    if !has_connection || collector.key().is_none() {
        return Ok(None);
    }
    let previous: ContentCapture =
        serde_json::from_value(session::section(&ctx.run.context, "content_capture"))
            .unwrap_or_default();
    let spent = previous.graph["requests"].as_u64().unwrap_or(0);
    let collector = Some(Arc::clone(&collector));
    let (tenant, session) = match session::open(ctx, collector.as_ref(), spent).await {
        Ok(opened) => opened,
        Err(JobError::Failed { .. }) => return Ok(None),
        Err(err) => return Err(err),
    };
    let state = capture_content(
        ctx,
        &session,
        &tenant,
        &ContentRequest {
            policy_types: policy_types.to_vec(),
            only_stale_since: None,
            stale_if_older_than_listing: true,
        },
        previous,
    )
    .await?;
    let txn = ctx.begin_write().await?;
    session::record_token_outcome(&txn, tenant.id, &session).await?;
    txn.commit().await?;
    Ok(Some(state))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_encoded_as_one_path_segment() {
        assert_eq!(encode_segment("a1b2-c3_d.e~"), "a1b2-c3_d.e~");
        assert_eq!(encode_segment("x/y z'"), "x%2Fy%20z%27");
        assert_eq!(encode_segment("é"), "%C3%A9");
    }
}
