use std::sync::Arc;

use async_graphql::{Context, Enum, ID, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{
    baseline_profile, baseline_snapshot, baseline_snapshot_item, baseline_tenant_assignment, tenant,
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use super::{Severity, Tenant, Workspace};
use crate::drift::profiles::Scope;
use crate::error::Error;
use crate::graphql::ContextExt;
use crate::graphql::connection::{self, IdConnection, PageArgs};
use crate::graphql::ids::{self, NodeKind};
use crate::graphql::loaders::{Loaders, WorkspaceId};

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "entity::enums::CaptureMode")]
pub enum CaptureMode {
    /// Meta hashes only.
    MetaOnly,
    /// Content where it exists, meta otherwise (the default).
    Opportunistic,
    /// Content where it exists; the run lists subjects that lack it.
    FullContent,
}

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "entity::enums::SubjectMatch")]
pub enum SubjectMatch {
    /// The policy's id in each tenant (the default).
    ExternalId,
    /// Display name plus `@odata.type`: for tenants whose ids differ.
    DisplayName,
}

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "entity::enums::SnapshotStatus")]
pub enum SnapshotStatus {
    Building,
    Complete,
    Failed,
}

#[derive(SimpleObject)]
pub struct BaselineScope {
    /// As configured; empty means every supported non-foundation type.
    pub policy_types: Vec<String>,
    pub foundation_types: Vec<String>,
    /// The types a capture or compare actually covers.
    pub effective_policy_types: Vec<String>,
}

#[derive(SimpleObject)]
pub struct SeverityOverride {
    pub finding_type: super::FindingType,
    pub severity: Severity,
}

/// What a baseline covers and how it is captured and matched.
pub struct BaselineProfile(pub baseline_profile::Model);

#[Object]
impl BaselineProfile {
    pub async fn id(&self) -> ID {
        ids::encode(NodeKind::BaselineProfile, self.0.id)
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }

    async fn scope(&self) -> BaselineScope {
        let scope = Scope::of(&self.0);
        BaselineScope {
            effective_policy_types: scope.effective_types(),
            policy_types: scope.policy_types,
            foundation_types: scope.foundation_types,
        }
    }

    async fn capture_mode(&self) -> CaptureMode {
        self.0.capture_mode.into()
    }

    async fn subject_match(&self) -> SubjectMatch {
        self.0.subject_match.into()
    }

    /// Whether compares also compare assignment sets. Assignments are
    /// normalized to `{kind, group, intent, filter, filterMode}`, with
    /// group and filter ids resolved to display names through the
    /// tenant's `groups` and `assignmentFilters` inventory when the
    /// version is recorded (an id it does not list is a warning, and is
    /// compared by a digest). Only content evidence carries assignments,
    /// so meta-fidelity subjects are compared as before; a subject whose
    /// content on either side has no assignments captured is counted in
    /// the compare's `assignments_uncompared`.
    async fn compare_assignments(&self) -> bool {
        self.0.compare_assignments
    }

    async fn severity_overrides(&self) -> Vec<SeverityOverride> {
        use entity::enums::FindingType as F;
        [F::MissingPolicy, F::DifferentVersion, F::UnexpectedPolicy]
            .into_iter()
            .filter(|t| {
                self.0
                    .severity_overrides
                    .as_ref()
                    .is_some_and(|o| o.get(t.as_str()).is_some())
            })
            .map(|t| SeverityOverride {
                finding_type: t.into(),
                severity: crate::drift::profiles::severity_for(&self.0, t).into(),
            })
            .collect()
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }

    async fn workspace(&self, ctx: &Context<'_>) -> Result<Workspace> {
        let ws = ctx
            .data_unchecked::<Loaders>()
            .load_one(WorkspaceId(self.0.workspace_id))
            .await
            .map_err(Error::from)?
            .ok_or(Error::NotFound("workspace"))?;
        Ok(Workspace(Arc::unwrap_or_clone(ws)))
    }

    /// The tenants this profile is compared on that the caller may see.
    async fn assigned_tenants(&self, ctx: &Context<'_>) -> Result<Vec<Tenant>> {
        let viewer = ctx.viewer()?;
        let rows = baseline_tenant_assignment::Entity::find()
            .filter(baseline_tenant_assignment::Column::BaselineProfileId.eq(self.0.id))
            .find_also_related(tenant::Entity)
            .order_by_asc(baseline_tenant_assignment::Column::Id)
            .all(ctx.db())
            .await
            .map_err(Error::from)?;
        Ok(rows
            .into_iter()
            .filter_map(|(_, t)| t)
            .filter(|t| viewer.can_see_tenant(t))
            .map(Tenant)
            .collect())
    }

    /// Its schedules on the tenants the caller may see, by tenant.
    async fn schedules(&self, ctx: &Context<'_>) -> Result<Vec<super::Schedule>> {
        let viewer = ctx.viewer()?;
        let rows = entity::schedule::Entity::find()
            .filter(entity::schedule::Column::BaselineProfileId.eq(self.0.id))
            .find_also_related(tenant::Entity)
            .order_by_asc(entity::schedule::Column::TenantId)
            .all(ctx.db())
            .await
            .map_err(Error::from)?;
        Ok(rows
            .into_iter()
            .filter_map(|(s, t)| Some((s, t?)))
            .filter(|(_, t)| viewer.can_see_tenant(t))
            .map(|(s, t)| super::Schedule(s, t))
            .collect())
    }

    /// What the profile's compares ignore, oldest first (the order in which
    /// they apply: of the rules that match, the last decides).
    #[graphql(complexity = "connection::complexity(first, last, child_complexity)")]
    async fn exclusions(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<IdConnection<super::Exclusion>> {
        let select = entity::exclusion::Entity::find()
            .filter(entity::exclusion::Column::BaselineProfileId.eq(self.0.id));
        Ok(connection::paginate(
            ctx.db(),
            select,
            connection::ById::<entity::exclusion::Entity> {
                column: entity::exclusion::Column::Id,
                id: |e| e.id,
            },
            super::Exclusion,
            PageArgs::new(first, after, last, before),
        )
        .await?)
    }

    /// The newest complete snapshot: what compares run against.
    async fn latest_snapshot(&self, ctx: &Context<'_>) -> Result<Option<BaselineSnapshot>> {
        let snapshot = baseline_snapshot::Entity::find()
            .filter(baseline_snapshot::Column::BaselineProfileId.eq(self.0.id))
            .filter(baseline_snapshot::Column::Status.eq(entity::enums::SnapshotStatus::Complete))
            .order_by_desc(baseline_snapshot::Column::CapturedAt)
            .order_by_desc(baseline_snapshot::Column::Id)
            .one(ctx.db())
            .await
            .map_err(Error::from)?;
        Ok(snapshot.map(BaselineSnapshot))
    }
}

/// An immutable capture of a baseline.
pub struct BaselineSnapshot(pub baseline_snapshot::Model);

#[Object]
impl BaselineSnapshot {
    pub async fn id(&self) -> ID {
        ids::encode(NodeKind::BaselineSnapshot, self.0.id)
    }

    async fn status(&self) -> SnapshotStatus {
        self.0.status.into()
    }

    /// The "since" reference of every compare against this snapshot.
    async fn captured_at(&self) -> DateTime<Utc> {
        self.0.captured_at
    }

    async fn item_count(&self) -> i64 {
        self.0.item_count
    }

    async fn completed_at(&self) -> Option<DateTime<Utc>> {
        self.0.completed_at
    }

    async fn operation_run_id(&self) -> Option<ID> {
        self.0
            .operation_run_id
            .map(|id| ids::encode(NodeKind::OperationRun, id))
    }

    /// The subjects of the snapshot (no tenant identifiers), by policy type.
    #[graphql(complexity = "connection::complexity(first, last, child_complexity)")]
    async fn items(
        &self,
        ctx: &Context<'_>,
        policy_type: Option<String>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<IdConnection<BaselineSnapshotItem>> {
        let mut select = baseline_snapshot_item::Entity::find()
            .filter(baseline_snapshot_item::Column::BaselineSnapshotId.eq(self.0.id));
        if let Some(policy_type) = policy_type {
            select = select.filter(baseline_snapshot_item::Column::PolicyType.eq(policy_type));
        }
        Ok(connection::paginate(
            ctx.db(),
            select,
            connection::ById::<baseline_snapshot_item::Entity> {
                column: baseline_snapshot_item::Column::Id,
                id: |i| i.id,
            },
            BaselineSnapshotItem,
            PageArgs::new(first, after, last, before),
        )
        .await?)
    }
}

/// One subject of a snapshot, with the evidence the capture chose.
pub struct BaselineSnapshotItem(pub baseline_snapshot_item::Model);

#[Object]
impl BaselineSnapshotItem {
    async fn policy_type(&self) -> &str {
        &self.0.policy_type
    }

    /// External id, or `@odata.type|display name` for DISPLAY_NAME profiles.
    async fn subject_key(&self) -> &str {
        &self.0.subject_key
    }

    async fn display_name(&self) -> &str {
        &self.0.display_name
    }

    /// Null when the capture found no evidence (a missing_baseline gap).
    async fn evidence(&self) -> Option<super::EvidenceSide> {
        let e = self.0.meta_jsonb.get("evidence").filter(|v| !v.is_null())?;
        Some(
            crate::evidence::Evidence {
                hash: self.0.baseline_hash.clone()?,
                provenance: crate::evidence::Provenance {
                    fidelity: serde_json::from_value(e["fidelity"].clone()).ok()?,
                    source: serde_json::from_value(e["source"].clone()).ok()?,
                    observed_at: serde_json::from_value(e["observed_at"].clone()).ok()?,
                    observed_operation_run_id: e["observed_operation_run_id"].as_i64(),
                },
                assignments_hash: self.0.assignments_hash.clone(),
            }
            .into(),
        )
    }

    /// The meta contract hash, used when a compare falls back to meta.
    async fn meta_hash(&self) -> Option<&str> {
        self.0.meta_hash.as_deref()
    }
}
