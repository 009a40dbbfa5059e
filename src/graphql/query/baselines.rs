use async_graphql::{Context, ID, Object, Result};
use entity::{baseline_profile, baseline_snapshot, finding};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::auth::{self, Capability};
use crate::error::Error;
use crate::graphql::ContextExt;
use crate::graphql::connection::{self, IdConnection, PageArgs, TimeIdConnection};
use crate::graphql::ids::{self, NodeKind};
use crate::graphql::loaders::prime_findings;
use crate::graphql::types::{
    BaselineProfile, BaselineSnapshot, Fidelity, Finding, FindingStatus, FindingType,
};

#[derive(Default)]
pub struct BaselineQuery;

#[Object]
impl BaselineQuery {
    async fn baseline_profile(&self, ctx: &Context<'_>, id: ID) -> Result<Option<BaselineProfile>> {
        let id = ids::decode_as(&id, NodeKind::BaselineProfile)?;
        Ok(Some(BaselineProfile(
            load_profile(ctx, id, Capability::WorkspaceBaselinesView).await?,
        )))
    }

    /// The baseline profiles of a workspace.
    #[graphql(complexity = "connection::complexity(first, last, child_complexity)")]
    async fn baseline_profiles(
        &self,
        ctx: &Context<'_>,
        workspace_id: ID,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<IdConnection<BaselineProfile>> {
        let workspace_id = ids::decode_as(&workspace_id, NodeKind::Workspace)?;
        ctx.viewer()?
            .require_workspace(workspace_id, Capability::WorkspaceBaselinesView)?;
        let select = baseline_profile::Entity::find()
            .filter(baseline_profile::Column::WorkspaceId.eq(workspace_id));
        Ok(connection::paginate(
            ctx.db(),
            select,
            connection::ById::<baseline_profile::Entity> {
                column: baseline_profile::Column::Id,
                id: |p| p.id,
            },
            BaselineProfile,
            PageArgs::new(first, after, last, before),
        )
        .await?)
    }

    async fn baseline_snapshot(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> Result<Option<BaselineSnapshot>> {
        let id = ids::decode_as(&id, NodeKind::BaselineSnapshot)?;
        Ok(Some(load_snapshot(ctx, id).await?))
    }

    /// Counts of findings by status, finding type, fidelity and severity,
    /// for one tenant or a whole workspace (give exactly one), optionally of
    /// one profile. Read from counters that compares and triage keep, so it
    /// costs the same over ten findings or a million.
    async fn findings_summary(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<ID>,
        workspace_id: Option<ID>,
        baseline_profile_id: Option<ID>,
        #[graphql(desc = "Only findings in these statuses; all by default.")] status: Option<
            Vec<FindingStatus>,
        >,
    ) -> Result<crate::graphql::types::FindingsSummary> {
        let viewer = ctx.viewer()?;
        let mut filter = crate::governance::summary::Filter {
            statuses: status.map(|s| {
                s.into_iter()
                    .map(entity::enums::FindingStatus::from)
                    .collect()
            }),
            ..Default::default()
        };
        match (tenant_id, workspace_id) {
            (Some(t), None) => {
                let id = ids::decode_as(&t, NodeKind::Tenant)?;
                auth::authorized_tenant(ctx.db(), viewer, id, Some(Capability::TenantFindingsView))
                    .await?;
                filter.tenant_id = Some(id);
            }
            (None, Some(w)) => {
                let id = ids::decode_as(&w, NodeKind::Workspace)?;
                let access = viewer.workspace(id)?;
                viewer.require_workspace(id, Capability::TenantFindingsView)?;
                filter.workspace_id = Some(id);
                filter.tenant_ids = access.tenant_ids.clone();
            }
            _ => {
                return Err(
                    Error::bad_input("give exactly one of tenantId and workspaceId").into(),
                );
            }
        }
        if let Some(p) = baseline_profile_id {
            filter.baseline_profile_id = Some(ids::decode_as(&p, NodeKind::BaselineProfile)?);
        }
        let summary = crate::governance::summary::summarize(ctx.db(), &filter)
            .await
            .map_err(Error::from)?;
        Ok(crate::graphql::types::FindingsSummary::from(summary))
    }

    /// A tenant's alignment with a profile over time: one point per
    /// completed compare, oldest first.
    #[graphql(complexity = "connection::complexity(first, last, child_complexity)")]
    #[allow(clippy::too_many_arguments)]
    async fn alignment_history(
        &self,
        ctx: &Context<'_>,
        tenant_id: ID,
        baseline_profile_id: ID,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<IdConnection<crate::graphql::types::Alignment>> {
        let tenant_id = ids::decode_as(&tenant_id, NodeKind::Tenant)?;
        let profile_id = ids::decode_as(&baseline_profile_id, NodeKind::BaselineProfile)?;
        let viewer = ctx.viewer()?;
        auth::authorized_tenant(
            ctx.db(),
            viewer,
            tenant_id,
            Some(Capability::TenantFindingsView),
        )
        .await?;
        let select = entity::alignment_point::Entity::find()
            .filter(entity::alignment_point::Column::TenantId.eq(tenant_id))
            .filter(entity::alignment_point::Column::BaselineProfileId.eq(profile_id));
        Ok(connection::paginate(
            ctx.db(),
            select,
            connection::ById::<entity::alignment_point::Entity> {
                column: entity::alignment_point::Column::Id,
                id: |p| p.id,
            },
            crate::graphql::types::Alignment,
            PageArgs::new(first, after, last, before),
        )
        .await?)
    }

    /// The drift findings of one tenant, newest `lastSeenAt` first (then id), filtered.
    #[graphql(complexity = "connection::complexity(first, last, child_complexity)")]
    #[allow(clippy::too_many_arguments)]
    async fn findings(
        &self,
        ctx: &Context<'_>,
        tenant_id: ID,
        fidelity: Option<Fidelity>,
        status: Option<Vec<FindingStatus>>,
        finding_type: Option<Vec<FindingType>>,
        policy_type: Option<Vec<String>>,
        baseline_profile_id: Option<ID>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<TimeIdConnection<Finding>> {
        let tenant_id = ids::decode_as(&tenant_id, NodeKind::Tenant)?;
        let viewer = ctx.viewer()?;
        // Without a policy-type filter, the total comes from the counters.
        let mut counted = policy_type
            .is_none()
            .then(|| crate::governance::summary::Filter {
                tenant_id: Some(tenant_id),
                fidelity: fidelity.map(entity::enums::Fidelity::from),
                statuses: status.clone().map(|s| {
                    s.into_iter()
                        .map(entity::enums::FindingStatus::from)
                        .collect()
                }),
                finding_types: finding_type.clone().map(|t| {
                    t.into_iter()
                        .map(entity::enums::FindingType::from)
                        .collect()
                }),
                ..Default::default()
            });
        let mut select = finding::Entity::find().filter(finding::Column::TenantId.eq(tenant_id));
        if let Some(fidelity) = fidelity {
            select = select.filter(
                finding::Column::EvidenceFidelity.eq(entity::enums::Fidelity::from(fidelity)),
            );
        }
        if let Some(status) = status {
            select = select.filter(
                finding::Column::Status
                    .is_in(status.into_iter().map(entity::enums::FindingStatus::from)),
            );
        }
        if let Some(types) = finding_type {
            select = select.filter(
                finding::Column::FindingType
                    .is_in(types.into_iter().map(entity::enums::FindingType::from)),
            );
        }
        if let Some(policy_types) = policy_type {
            select = select.filter(finding::Column::PolicyType.is_in(policy_types));
        }
        if let Some(profile) = baseline_profile_id {
            let profile_id = ids::decode_as(&profile, NodeKind::BaselineProfile)?;
            select = select.filter(finding::Column::BaselineProfileId.eq(profile_id));
            if let Some(c) = counted.as_mut() {
                c.baseline_profile_id = Some(profile_id);
            }
        }
        // The access check and the page are read at the same time, on two
        // connections: the page is dropped unless the check passes, and the
        // check's error comes first.
        let (authorized, page) = futures_util::join!(
            auth::authorized_tenant(
                ctx.db(),
                viewer,
                tenant_id,
                Some(Capability::TenantFindingsView),
            ),
            connection::paginate(
                ctx.db(),
                select,
                connection::findings_newest_first(),
                Finding,
                PageArgs::new(first, after, last, before),
            )
        );
        authorized?;
        let mut page = page?;
        page.additional_fields.counted = counted;
        let models: Vec<&finding::Model> = page.edges.iter().map(|e| &e.node.0).collect();
        prime_findings(ctx, &models).await.map_err(Error::from)?;
        Ok(page)
    }

    async fn finding(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Finding>> {
        let id = ids::decode_as(&id, NodeKind::Finding)?;
        Ok(Some(load_finding(ctx, id).await?))
    }
}

/// A profile the caller may see, with `capability` on its workspace.
pub async fn load_profile(
    ctx: &Context<'_>,
    id: i64,
    capability: Capability,
) -> Result<baseline_profile::Model, Error> {
    let viewer = ctx.viewer()?;
    let profile = baseline_profile::Entity::find_by_id(id)
        .one(ctx.db())
        .await?
        .filter(|p| viewer.workspace(p.workspace_id).is_ok())
        .ok_or(Error::NotFound("baseline profile"))?;
    viewer.require_workspace(profile.workspace_id, capability)?;
    Ok(profile)
}

/// An exclusion, when the viewer holds `capability` in its workspace.
pub async fn load_exclusion(
    ctx: &Context<'_>,
    id: i64,
    capability: Capability,
) -> Result<entity::exclusion::Model, Error> {
    let viewer = ctx.viewer()?;
    let row = entity::exclusion::Entity::find_by_id(id)
        .one(ctx.db())
        .await?
        .filter(|e| viewer.workspace(e.workspace_id).is_ok())
        .ok_or(Error::NotFound("exclusion"))?;
    viewer.require_workspace(row.workspace_id, capability)?;
    Ok(row)
}

pub async fn load_channel(
    ctx: &Context<'_>,
    id: i64,
    capability: Capability,
) -> Result<entity::notification_channel::Model, Error> {
    let viewer = ctx.viewer()?;
    let row = entity::notification_channel::Entity::find_by_id(id)
        .one(ctx.db())
        .await?
        .filter(|c| viewer.workspace(c.workspace_id).is_ok())
        .ok_or(Error::NotFound("notification channel"))?;
    viewer.require_workspace(row.workspace_id, capability)?;
    Ok(row)
}

pub async fn load_snapshot(ctx: &Context<'_>, id: i64) -> Result<BaselineSnapshot, Error> {
    let viewer = ctx.viewer()?;
    let snapshot = baseline_snapshot::Entity::find_by_id(id)
        .one(ctx.db())
        .await?
        .filter(|s| viewer.workspace(s.workspace_id).is_ok())
        .ok_or(Error::NotFound("baseline snapshot"))?;
    Ok(BaselineSnapshot(snapshot))
}

pub async fn load_finding(ctx: &Context<'_>, id: i64) -> Result<Finding, Error> {
    let viewer = ctx.viewer()?;
    let found = finding::Entity::find_by_id(id)
        .one(ctx.db())
        .await?
        .ok_or(Error::NotFound("finding"))?;
    auth::authorized_tenant(
        ctx.db(),
        viewer,
        found.tenant_id,
        Some(Capability::TenantFindingsView),
    )
    .await
    .map_err(|e| e.not_found_as("finding"))?;
    Ok(Finding(found))
}
