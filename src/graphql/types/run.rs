use std::sync::Arc;

use async_graphql::{Context, Enum, ID, Json, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use entity::operation_run;
use serde_json::Value;

use super::Tenant;
use entity::finding;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::auth::{self, Capability};
use crate::error::Error;
use crate::graphql::ContextExt;
use crate::graphql::connection::{self, PageArgs, TimeIdConnection};
use crate::graphql::ids::{self, NodeKind};
use crate::graphql::loaders::{Loaders, UserId, prime_findings};

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "entity::enums::RunType")]
pub enum OperationRunType {
    InventorySync,
    PolicyCapture,
    BaselineCapture,
    BaselineCompare,
    Verification,
}

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "entity::enums::RunStatus")]
pub enum OperationRunStatus {
    Queued,
    Running,
    Completed,
}

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "entity::enums::RunOutcome")]
pub enum OperationRunOutcome {
    Pending,
    Succeeded,
    PartiallySucceeded,
    Failed,
}

#[derive(SimpleObject)]
pub struct Progress {
    pub done: i64,
    pub total: i64,
}

/// Coverage of one policy type by an inventory sync.
#[derive(SimpleObject)]
pub struct PolicyTypeCoverage {
    pub policy_type: String,
    /// `succeeded`, `failed`, or `unconfirmed` (an empty or much shorter
    /// listing not confirmed yet: the type counts as uncovered).
    pub status: String,
    pub item_count: i64,
    pub error: Option<String>,
}

/// A problem with one subject's evidence that did not stop the run.
#[derive(SimpleObject)]
pub struct EvidenceWarning {
    pub policy_type: String,
    pub external_id: Option<String>,
    /// A stable code where the warning has one, such as
    /// `empty_listing_unconfirmed`.
    pub code: Option<String>,
    pub reason: String,
}

/// What a collector run asked of Microsoft Graph.
#[derive(SimpleObject)]
pub struct GraphRequests {
    /// HTTP requests to Graph (a `$batch` is one), retries included.
    pub requests: i64,
    pub retries: i64,
    /// Throttled answers (429, 503, 504), `$batch` sub-responses included.
    pub throttled: i64,
    pub token_requests: i64,
}

/// Content fetched from Graph by a policy capture, or first by a
/// FULL_CONTENT baseline capture or compare.
#[derive(SimpleObject)]
pub struct ContentCaptureReport {
    /// Subjects whose content was missing or stale: what it set out to fetch.
    pub requested: i64,
    pub captured: i64,
    /// Not fetched: the request budget ran out, or Graph no longer has the
    /// subject; `skippedByReason` says which (`budget`, `not_found`).
    pub skipped: i64,
    pub throttled: i64,
    pub failed: i64,
    /// Subjects in scope whose content was fresh: not fetched.
    pub fresh: i64,
    pub skipped_by_reason: Json<Value>,
    /// Up to 100 skipped or failed subjects, with why.
    pub problems: Vec<EvidenceWarning>,
    pub graph: GraphRequests,
}

fn graph_requests_of(v: &Value) -> GraphRequests {
    GraphRequests {
        requests: int(&v["requests"]),
        retries: int(&v["retries"]),
        throttled: int(&v["throttled"]),
        token_requests: int(&v["token_requests"]),
    }
}

fn warning_list(v: &Value) -> Vec<EvidenceWarning> {
    serde_json::from_value::<Vec<crate::evidence::EvidenceWarning>>(v.clone())
        .unwrap_or_default()
        .into_iter()
        .map(|w| EvidenceWarning {
            policy_type: w.policy_type,
            external_id: w.external_id,
            code: w.code,
            reason: w.reason,
        })
        .collect()
}

#[derive(SimpleObject)]
pub struct CompareCoverage {
    pub subjects_total: i64,
    pub resolved_total: i64,
    pub resolved_content: i64,
    pub resolved_meta: i64,
}

#[derive(SimpleObject)]
pub struct EvidenceGaps {
    pub missing_baseline: i64,
    pub missing_current: i64,
    pub missing_both: i64,
}

#[derive(SimpleObject)]
pub struct PolicyTypeCompare {
    pub policy_type: String,
    /// `content`, `meta` or `uncovered`.
    pub coverage: String,
    pub subjects: i64,
    pub resolved_content: i64,
    pub resolved_meta: i64,
}

/// What a baseline compare covered and could not cover.
#[derive(SimpleObject)]
pub struct BaselineCompareReport {
    pub since: Option<DateTime<Utc>>,
    pub baseline_snapshot_id: Option<ID>,
    pub coverage: CompareCoverage,
    pub evidence_gaps: EvidenceGaps,
    pub policy_types: Vec<PolicyTypeCompare>,
    pub warnings: Vec<EvidenceWarning>,
    /// Subjects an exclusion hid: whole, or every change they had.
    pub excluded: i64,
    /// Findings from earlier compares that an exclusion now covers,
    /// resolved with reason `excluded`.
    pub findings_resolved_excluded: i64,
    /// Subjects another assigned profile expects differently (see
    /// `Tenant.conflicts`).
    pub conflicts: i64,
    /// Whether this compare compared assignment sets.
    pub compare_assignments: bool,
    /// Content comparisons where a side had no assignments captured, so
    /// only settings were compared.
    pub assignments_uncompared: i64,
}

#[derive(SimpleObject)]
pub struct MissingContent {
    pub policy_type: String,
    pub external_id: String,
}

/// What a baseline capture stored.
#[derive(SimpleObject)]
pub struct BaselineCaptureReport {
    pub baseline_snapshot_id: Option<ID>,
    pub captured_at: Option<DateTime<Utc>>,
    pub subjects_total: i64,
    pub resolved_content: i64,
    pub resolved_meta: i64,
    /// FULL_CONTENT: in-scope subjects that had no content evidence (first 1,000).
    pub missing_content: Vec<MissingContent>,
    pub missing_content_total: i64,
}

#[derive(SimpleObject)]
pub struct VerificationSummary {
    pub pass: i64,
    pub fail: i64,
    pub warn: i64,
    pub skip: i64,
    pub running: i64,
    pub blocking_failures: i64,
    /// `ready`, `attention` or `blocked`.
    pub overall: String,
}

/// A safe pointer to what a check looked at.
#[derive(SimpleObject)]
pub struct VerificationEvidence {
    /// `operation_run`, `baseline_snapshot` or `baseline_profile`.
    pub kind: String,
    pub id: ID,
}

#[derive(SimpleObject)]
pub struct VerificationCheck {
    pub key: String,
    pub title: String,
    /// `pass`, `fail`, `warn`, `skip` or `running`.
    pub status: String,
    /// `info` … `critical`.
    pub severity: String,
    pub blocking: bool,
    pub reason_code: String,
    pub message: String,
    pub evidence: Vec<VerificationEvidence>,
    pub next_steps: Vec<String>,
}

/// The stored report of a verification run; reading it does no work.
#[derive(SimpleObject)]
pub struct VerificationReport {
    pub schema_version: i64,
    pub flow: String,
    pub generated_at: Option<DateTime<Utc>>,
    pub summary: VerificationSummary,
    pub checks: Vec<VerificationCheck>,
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

fn int(v: &Value) -> i64 {
    v.as_i64().unwrap_or_default()
}

fn warnings_of(section: &Value) -> Vec<EvidenceWarning> {
    serde_json::from_value::<Vec<crate::evidence::EvidenceWarning>>(section["warnings"].clone())
        .unwrap_or_default()
        .into_iter()
        .map(|w| EvidenceWarning {
            policy_type: w.policy_type,
            external_id: w.external_id,
            code: w.code,
            reason: w.reason,
        })
        .collect()
}

/// A long-running or auditable job: sync, capture, compare, verification.
pub struct OperationRun(pub Arc<operation_run::Model>);

impl From<operation_run::Model> for OperationRun {
    fn from(run: operation_run::Model) -> Self {
        OperationRun(Arc::new(run))
    }
}

#[Object]
impl OperationRun {
    pub async fn id(&self) -> ID {
        ids::encode(NodeKind::OperationRun, self.0.id)
    }

    #[graphql(name = "type")]
    async fn run_type(&self) -> OperationRunType {
        self.0.run_type.into()
    }

    async fn status(&self) -> OperationRunStatus {
        self.0.status.into()
    }

    async fn outcome(&self) -> OperationRunOutcome {
        self.0.outcome.into()
    }

    async fn tenant(&self, ctx: &Context<'_>) -> Result<Tenant> {
        let tenant =
            auth::authorized_tenant(ctx.db(), ctx.viewer()?, self.0.tenant_id, None).await?;
        Ok(Tenant(tenant))
    }

    /// Who started the run; null for runs the system started or whose user is gone.
    async fn initiator(&self, ctx: &Context<'_>) -> Result<Option<super::User>> {
        let Some(user_id) = self.0.initiator_user_id else {
            return Ok(None);
        };
        let user = ctx
            .data_unchecked::<Loaders>()
            .load_one(UserId(user_id))
            .await
            .map_err(Error::from)?;
        Ok(user.map(|u| super::User(Arc::unwrap_or_clone(u))))
    }

    /// The findings this run produced or saw last, newest first.
    #[graphql(complexity = "connection::complexity(first, None, child_complexity)")]
    async fn findings(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<TimeIdConnection<super::Finding>> {
        auth::authorized_tenant(
            ctx.db(),
            ctx.viewer()?,
            self.0.tenant_id,
            Some(Capability::TenantFindingsView),
        )
        .await?;
        let select = finding::Entity::find()
            .filter(finding::Column::TenantId.eq(self.0.tenant_id))
            .filter(finding::Column::LastSeenOperationRunId.eq(self.0.id));
        let page = connection::paginate(
            ctx.db(),
            select,
            connection::findings_newest_first(),
            super::Finding,
            PageArgs::new(first, after, None, None),
        )
        .await?;
        let models: Vec<&finding::Model> = page.edges.iter().map(|e| &e.node.0).collect();
        prime_findings(ctx, &models).await.map_err(Error::from)?;
        Ok(page)
    }

    async fn progress(&self) -> Progress {
        Progress {
            done: self.0.progress_done,
            total: self.0.progress_total,
        }
    }

    /// Numeric counters only, under whitelisted keys.
    async fn summary_counts(&self) -> Json<Value> {
        Json(self.0.summary_counts.clone())
    }

    async fn failure_summary(&self) -> Option<Json<Value>> {
        self.0.failure_summary.clone().map(Json)
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    async fn started_at(&self) -> Option<DateTime<Utc>> {
        self.0.started_at
    }

    async fn completed_at(&self) -> Option<DateTime<Utc>> {
        self.0.completed_at
    }

    /// For inventory syncs: which policy types the listing covered.
    async fn inventory_coverage(&self) -> Option<Vec<PolicyTypeCoverage>> {
        let types = self
            .0
            .context
            .get("inventory_coverage")?
            .get("policy_types")?
            .as_object()?;
        Some(
            types
                .iter()
                .map(|(name, c)| PolicyTypeCoverage {
                    policy_type: name.clone(),
                    status: c["status"].as_str().unwrap_or_default().to_owned(),
                    item_count: c["item_count"].as_i64().unwrap_or_default(),
                    error: c["error"].as_str().map(str::to_owned),
                })
                .collect(),
        )
    }

    /// For baseline compares that completed: coverage, gaps, per-type breakdown.
    async fn baseline_compare(&self) -> Option<BaselineCompareReport> {
        let c = self.0.context.get("baseline_compare")?;
        c.get("coverage")?;
        let snapshot = c["baseline_snapshot_id"].as_i64();
        Some(BaselineCompareReport {
            since: serde_json::from_value(c["since"].clone()).ok(),
            baseline_snapshot_id: snapshot.map(|id| ids::encode(NodeKind::BaselineSnapshot, id)),
            coverage: CompareCoverage {
                subjects_total: int(&c["coverage"]["subjects_total"]),
                resolved_total: int(&c["coverage"]["resolved_total"]),
                resolved_content: int(&c["coverage"]["resolved_content"]),
                resolved_meta: int(&c["coverage"]["resolved_meta"]),
            },
            evidence_gaps: EvidenceGaps {
                missing_baseline: int(&c["evidence_gaps"]["missing_baseline"]),
                missing_current: int(&c["evidence_gaps"]["missing_current"]),
                missing_both: int(&c["evidence_gaps"]["missing_both"]),
            },
            policy_types: c["policy_types"]
                .as_object()
                .map(|types| {
                    types
                        .iter()
                        .map(|(name, t)| PolicyTypeCompare {
                            policy_type: name.clone(),
                            coverage: t["coverage"].as_str().unwrap_or_default().to_owned(),
                            subjects: int(&t["subjects"]),
                            resolved_content: int(&t["resolved_content"]),
                            resolved_meta: int(&t["resolved_meta"]),
                        })
                        .collect()
                })
                .unwrap_or_default(),
            warnings: warnings_of(c),
            excluded: int(&c["excluded"]),
            findings_resolved_excluded: int(&c["findings_resolved_excluded"]),
            conflicts: int(&c["conflicts"]),
            compare_assignments: c["compare_assignments"].as_bool().unwrap_or(false),
            assignments_uncompared: int(&c["assignments_uncompared"]),
        })
    }

    /// For baseline captures that completed: what the snapshot holds.
    async fn baseline_capture(&self) -> Option<BaselineCaptureReport> {
        let c = self.0.context.get("baseline_capture")?;
        c.get("coverage")?;
        Some(BaselineCaptureReport {
            baseline_snapshot_id: c["baseline_snapshot_id"]
                .as_i64()
                .map(|id| ids::encode(NodeKind::BaselineSnapshot, id)),
            captured_at: serde_json::from_value(c["captured_at"].clone()).ok(),
            subjects_total: int(&c["coverage"]["subjects_total"]),
            resolved_content: int(&c["coverage"]["resolved_content"]),
            resolved_meta: int(&c["coverage"]["resolved_meta"]),
            missing_content: c["missing_content"]
                .as_array()
                .map(|items| {
                    items
                        .iter()
                        .map(|m| MissingContent {
                            policy_type: m["policy_type"].as_str().unwrap_or_default().to_owned(),
                            external_id: m["external_id"].as_str().unwrap_or_default().to_owned(),
                        })
                        .collect()
                })
                .unwrap_or_default(),
            missing_content_total: int(&c["missing_content_total"]),
        })
    }

    /// For verification runs: the stored readiness report.
    async fn verification_report(&self) -> Option<VerificationReport> {
        let r = self.0.context.get("verification_report")?;
        let kind_of = |kind: &str| match kind {
            "operation_run" => Some(NodeKind::OperationRun),
            "baseline_snapshot" => Some(NodeKind::BaselineSnapshot),
            "baseline_profile" => Some(NodeKind::BaselineProfile),
            _ => None,
        };
        Some(VerificationReport {
            schema_version: int(&r["schema_version"]),
            flow: text(&r["flow"]),
            generated_at: serde_json::from_value(r["generated_at"].clone()).ok(),
            summary: VerificationSummary {
                pass: int(&r["summary"]["counts"]["pass"]),
                fail: int(&r["summary"]["counts"]["fail"]),
                warn: int(&r["summary"]["counts"]["warn"]),
                skip: int(&r["summary"]["counts"]["skip"]),
                running: int(&r["summary"]["counts"]["running"]),
                blocking_failures: int(&r["summary"]["blocking_failures"]),
                overall: text(&r["summary"]["overall"]),
            },
            checks: r["checks"]
                .as_array()
                .map(|checks| {
                    checks
                        .iter()
                        .map(|c| VerificationCheck {
                            key: text(&c["key"]),
                            title: text(&c["title"]),
                            status: text(&c["status"]),
                            severity: text(&c["severity"]),
                            blocking: c["blocking"].as_bool().unwrap_or_default(),
                            reason_code: text(&c["reason_code"]),
                            message: text(&c["message"]),
                            evidence: c["evidence"]
                                .as_array()
                                .map(|e| {
                                    e.iter()
                                        .filter_map(|p| {
                                            let kind = text(&p["kind"]);
                                            let id =
                                                ids::encode(kind_of(&kind)?, p["id"].as_i64()?);
                                            Some(VerificationEvidence { kind, id })
                                        })
                                        .collect()
                                })
                                .unwrap_or_default(),
                            next_steps: c["next_steps"]
                                .as_array()
                                .map(|n| n.iter().map(text).collect())
                                .unwrap_or_default(),
                        })
                        .collect()
                })
                .unwrap_or_default(),
        })
    }

    /// For collector runs (and FULL_CONTENT captures and compares that
    /// fetched content): what they fetched, skipped and failed.
    async fn content_capture(&self) -> Option<ContentCaptureReport> {
        let c = self
            .0
            .context
            .get("content_capture")
            .filter(|c| c.is_object())?;
        Some(ContentCaptureReport {
            requested: int(&c["requested"]),
            captured: int(&c["captured"]),
            skipped: int(&c["skipped"]),
            throttled: int(&c["throttled"]),
            failed: int(&c["failed"]),
            fresh: int(&c["fresh"]),
            skipped_by_reason: Json(c["skipped_by_reason"].clone()),
            problems: warning_list(&c["problems"]),
            graph: graph_requests_of(&c["graph"]),
        })
    }

    /// For inventory syncs collected from Graph: the requests they made.
    async fn graph_requests(&self) -> Option<GraphRequests> {
        let g = self.0.context.get("collection")?.get("graph")?;
        g.is_object().then(|| graph_requests_of(g))
    }

    /// For collected inventory syncs: the types not listed because the
    /// request budget ran out (they are FAILED in `inventoryCoverage`).
    async fn skipped_policy_types(&self) -> Vec<String> {
        crate::collector::session::strings(&self.0.context["collection"]["skipped"])
    }

    /// Evidence warnings recorded by the run (unknown types, payloads that
    /// could not be normalized, items Graph listed without an id, ...).
    async fn warnings(&self) -> Vec<EvidenceWarning> {
        let Some(context) = self.0.context.as_object() else {
            return Vec::new();
        };
        let section = [
            "inventory_coverage",
            "policy_capture",
            "baseline_capture",
            "baseline_compare",
        ]
        .iter()
        .find_map(|k| context.get(*k))
        .or_else(|| context.values().next());
        section
            .map(|s| warning_list(&s["warnings"]))
            .unwrap_or_default()
    }
}
