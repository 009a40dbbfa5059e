use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, Result};
use serde_json::json;

use crate::audit::{self, Action};
use crate::auth::{self, Capability};
use crate::drift::profiles::{self, ProfileChanges, Scope};
use crate::drift::{capture, compare};
use crate::error::Error;
use crate::governance::exclusions;
use crate::graphql::ContextExt;
use crate::graphql::ids::{self, NodeKind};
use crate::graphql::query::{load_exclusion, load_profile};
use crate::graphql::types::{
    BaselineProfile, CaptureMode, Exclusion, FindingType, OperationRun, Severity, SubjectMatch,
};
use crate::runs::queue::{self, NewRun};
use crate::runs::worker::RunNotifier;

#[derive(InputObject)]
pub struct BaselineScopeInput {
    /// Empty: every supported type that is not a foundation type.
    #[graphql(default)]
    pub policy_types: Vec<String>,
    /// Empty: none.
    #[graphql(default)]
    pub foundation_types: Vec<String>,
}

#[derive(InputObject)]
pub struct SeverityOverrideInput {
    pub finding_type: FindingType,
    pub severity: Severity,
}

#[derive(InputObject)]
pub struct CreateBaselineProfileInput {
    pub workspace_id: ID,
    pub name: String,
    pub description: Option<String>,
    pub scope: Option<BaselineScopeInput>,
    pub capture_mode: Option<CaptureMode>,
    pub subject_match: Option<SubjectMatch>,
    pub severity_overrides: Option<Vec<SeverityOverrideInput>>,
    /// Compare assignment sets as well as settings (default false). See
    /// `BaselineProfile.compareAssignments`.
    pub compare_assignments: Option<bool>,
}

#[derive(InputObject)]
pub struct UpdateBaselineProfileInput {
    pub id: ID,
    pub name: Option<String>,
    /// Send null to clear it.
    pub description: MaybeUndefined<String>,
    pub scope: Option<BaselineScopeInput>,
    pub capture_mode: Option<CaptureMode>,
    pub subject_match: Option<SubjectMatch>,
    pub severity_overrides: Option<Vec<SeverityOverrideInput>>,
    /// Compare assignment sets as well as settings (default false). See
    /// `BaselineProfile.compareAssignments`.
    pub compare_assignments: Option<bool>,
}

#[derive(InputObject)]
pub struct AssignBaselineProfileInput {
    pub baseline_profile_id: ID,
    pub tenant_id: ID,
}

#[derive(InputObject)]
pub struct CreateExclusionInput {
    pub baseline_profile_id: ID,
    /// Only this tenant; every assigned tenant when null.
    pub tenant_id: Option<ID>,
    pub policy_type: Option<String>,
    pub subject_pattern: Option<String>,
    pub setting_path_pattern: Option<String>,
    /// Required: why this drift does not matter.
    pub reason: String,
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(InputObject)]
pub struct DeleteExclusionInput {
    pub id: ID,
}

#[derive(async_graphql::SimpleObject)]
pub struct DeleteExclusionPayload {
    pub deleted_exclusion_id: ID,
}

#[derive(InputObject)]
pub struct StartBaselineCaptureInput {
    pub baseline_profile_id: ID,
    pub source_tenant_id: ID,
}

#[derive(InputObject)]
pub struct StartVerificationInput {
    pub tenant_id: ID,
}

#[derive(InputObject)]
pub struct StartBaselineCompareInput {
    pub baseline_profile_id: ID,
    pub tenant_id: ID,
}

fn scope(input: Option<BaselineScopeInput>) -> Option<Scope> {
    input.map(|s| Scope {
        policy_types: s.policy_types,
        foundation_types: s.foundation_types,
    })
}

fn overrides(
    input: Option<Vec<SeverityOverrideInput>>,
) -> Option<std::collections::BTreeMap<entity::enums::FindingType, entity::enums::Severity>> {
    input.map(|list| {
        list.into_iter()
            .map(|o| (o.finding_type.into(), o.severity.into()))
            .collect()
    })
}

#[derive(Default)]
pub struct BaselineMutation;

#[Object]
impl BaselineMutation {
    /// Needs `workspace_baselines.manage`.
    async fn create_baseline_profile(
        &self,
        ctx: &Context<'_>,
        input: CreateBaselineProfileInput,
    ) -> Result<BaselineProfile> {
        let viewer = ctx.viewer()?;
        let workspace_id = ids::decode_as(&input.workspace_id, NodeKind::Workspace)?;
        viewer.require_workspace(workspace_id, Capability::WorkspaceBaselinesManage)?;
        let profile = profiles::create_profile(
            ctx.db(),
            viewer.user.id,
            workspace_id,
            ProfileChanges {
                name: Some(input.name),
                description: Some(input.description),
                scope: scope(input.scope),
                capture_mode: input.capture_mode.map(Into::into),
                subject_match: input.subject_match.map(Into::into),
                severity_overrides: overrides(input.severity_overrides),
                compare_assignments: input.compare_assignments,
            },
        )
        .await?;
        Ok(BaselineProfile(profile))
    }

    /// Needs `workspace_baselines.manage`. Omitted fields stay as they are.
    async fn update_baseline_profile(
        &self,
        ctx: &Context<'_>,
        input: UpdateBaselineProfileInput,
    ) -> Result<BaselineProfile> {
        let viewer = ctx.viewer()?;
        let id = ids::decode_as(&input.id, NodeKind::BaselineProfile)?;
        let profile = load_profile(ctx, id, Capability::WorkspaceBaselinesManage).await?;
        let description = match input.description {
            MaybeUndefined::Undefined => None,
            MaybeUndefined::Null => Some(None),
            MaybeUndefined::Value(d) => Some(Some(d)),
        };
        let updated = profiles::update_profile(
            ctx.db(),
            viewer.user.id,
            profile,
            ProfileChanges {
                name: input.name,
                description,
                scope: scope(input.scope),
                capture_mode: input.capture_mode.map(Into::into),
                subject_match: input.subject_match.map(Into::into),
                severity_overrides: overrides(input.severity_overrides),
                compare_assignments: input.compare_assignments,
            },
        )
        .await?;
        Ok(BaselineProfile(updated))
    }

    /// Compares the profile on a tenant from now on. Needs
    /// `workspace_baselines.manage`.
    async fn assign_baseline_profile(
        &self,
        ctx: &Context<'_>,
        input: AssignBaselineProfileInput,
    ) -> Result<BaselineProfile> {
        let viewer = ctx.viewer()?;
        let id = ids::decode_as(&input.baseline_profile_id, NodeKind::BaselineProfile)?;
        let tenant_id = ids::decode_as(&input.tenant_id, NodeKind::Tenant)?;
        let profile = load_profile(ctx, id, Capability::WorkspaceBaselinesManage).await?;
        let tenant = auth::authorized_tenant(ctx.db(), viewer, tenant_id, None).await?;
        profiles::assign(ctx.db(), viewer.user.id, &profile, &tenant).await?;
        Ok(BaselineProfile(profile))
    }

    /// Tells the profile's compares to ignore something (needs
    /// `workspace_baselines.manage`; audited with its reason). Name a
    /// `policyType`, a `subjectPattern` (a glob over subject key and display
    /// name), a `settingPathPattern` (a glob over setting paths), or several.
    /// Globs: `*` within a segment, `**` across segments, a leading `!` takes
    /// back what an earlier exclusion excluded; a pattern that does not
    /// parse is BAD_USER_INPUT with its position. A path pattern applies to
    /// subjects that differ at content fidelity only; meta-fidelity subjects
    /// can only be excluded whole. No `tenantId` means every assigned
    /// tenant. Findings it now covers are resolved as `excluded` by the
    /// next compare.
    async fn create_exclusion(
        &self,
        ctx: &Context<'_>,
        input: CreateExclusionInput,
    ) -> Result<Exclusion> {
        let viewer = ctx.viewer()?;
        let id = ids::decode_as(&input.baseline_profile_id, NodeKind::BaselineProfile)?;
        let profile = load_profile(ctx, id, Capability::WorkspaceBaselinesManage).await?;
        let tenant = match &input.tenant_id {
            Some(t) => {
                let tenant_id = ids::decode_as(t, NodeKind::Tenant)?;
                Some(auth::authorized_tenant(ctx.db(), viewer, tenant_id, None).await?)
            }
            None => None,
        };
        let row = exclusions::create(
            ctx.db(),
            viewer.user.id,
            &profile,
            exclusions::NewExclusion {
                tenant,
                policy_type: input.policy_type,
                subject_pattern: input.subject_pattern,
                setting_path_pattern: input.setting_path_pattern,
                reason: input.reason,
                expires_at: input.expires_at,
            },
        )
        .await?;
        Ok(Exclusion(row))
    }

    /// Deletes an exclusion (needs `workspace_baselines.manage`; audited).
    /// The next compare finds what it hid.
    async fn delete_exclusion(
        &self,
        ctx: &Context<'_>,
        input: DeleteExclusionInput,
    ) -> Result<DeleteExclusionPayload> {
        let viewer = ctx.viewer()?;
        let id = ids::decode_as(&input.id, NodeKind::Exclusion)?;
        let row = load_exclusion(ctx, id, Capability::WorkspaceBaselinesManage).await?;
        exclusions::delete(ctx.db(), viewer.user.id, &row).await?;
        Ok(DeleteExclusionPayload {
            deleted_exclusion_id: input.id,
        })
    }

    /// Queues a capture of the profile from a source tenant and returns the
    /// run at once; an identical capture already queued or running is
    /// returned instead. Needs `workspace_baselines.manage`.
    async fn start_baseline_capture(
        &self,
        ctx: &Context<'_>,
        input: StartBaselineCaptureInput,
    ) -> Result<OperationRun> {
        let viewer = ctx.viewer()?;
        let id = ids::decode_as(&input.baseline_profile_id, NodeKind::BaselineProfile)?;
        let tenant_id = ids::decode_as(&input.source_tenant_id, NodeKind::Tenant)?;
        let profile = load_profile(ctx, id, Capability::WorkspaceBaselinesManage).await?;
        let tenant = auth::authorized_tenant(ctx.db(), viewer, tenant_id, None).await?;
        if tenant.workspace_id != profile.workspace_id {
            return Err(Error::bad_input(
                "the source tenant belongs to another workspace than the profile",
            )
            .into());
        }
        let run = start(
            ctx,
            capture::new_run(&profile, &tenant, Some(viewer.user.id)),
            Action::BaselineCaptureStart,
            json!({"baseline_profile_id": profile.id}),
        )
        .await?;
        Ok(run)
    }

    /// Queues a verification of a tenant's readiness (spec 074) and returns
    /// the run at once. Needs `tenant_findings.manage`.
    async fn start_verification(
        &self,
        ctx: &Context<'_>,
        input: StartVerificationInput,
    ) -> Result<OperationRun> {
        let viewer = ctx.viewer()?;
        let tenant_id = ids::decode_as(&input.tenant_id, NodeKind::Tenant)?;
        let tenant = auth::authorized_tenant(
            ctx.db(),
            viewer,
            tenant_id,
            Some(Capability::TenantFindingsManage),
        )
        .await?;
        let run = start(
            ctx,
            crate::runs::verification::new_run(&tenant, Some(viewer.user.id)),
            Action::VerificationStart,
            json!({}),
        )
        .await?;
        Ok(run)
    }

    /// Queues a compare of an assigned tenant against the profile's latest
    /// snapshot and returns the run at once; an identical compare already
    /// queued or running is returned instead. Needs `tenant_findings.manage`.
    async fn start_baseline_compare(
        &self,
        ctx: &Context<'_>,
        input: StartBaselineCompareInput,
    ) -> Result<OperationRun> {
        let viewer = ctx.viewer()?;
        let id = ids::decode_as(&input.baseline_profile_id, NodeKind::BaselineProfile)?;
        let tenant_id = ids::decode_as(&input.tenant_id, NodeKind::Tenant)?;
        let profile = load_profile(ctx, id, Capability::WorkspaceBaselinesView).await?;
        let tenant = auth::authorized_tenant(
            ctx.db(),
            viewer,
            tenant_id,
            Some(Capability::TenantFindingsManage),
        )
        .await?;
        if profiles::assignment(ctx.db(), profile.id, tenant.id)
            .await?
            .is_none()
        {
            return Err(Error::bad_input(
                "the profile is not assigned to this tenant; assign it first",
            )
            .into());
        }
        let run = start(
            ctx,
            compare::new_run(&profile, &tenant, Some(viewer.user.id)),
            Action::BaselineCompareStart,
            json!({"baseline_profile_id": profile.id}),
        )
        .await?;
        Ok(run)
    }
}

/// Queues a run (or finds the identical active one), wakes this process's
/// workers, and audits the start.
pub(crate) async fn start(
    ctx: &Context<'_>,
    new: NewRun,
    action: Action,
    mut metadata: serde_json::Value,
) -> Result<OperationRun, Error> {
    let (workspace_id, tenant_id, actor) = (new.workspace_id, new.tenant_id, new.initiator_user_id);
    let (run, created) = queue::enqueue(ctx.db(), new).await?;
    if created {
        ctx.data_unchecked::<RunNotifier>().notify();
    }
    audit::record(
        ctx.db(),
        audit::Entry {
            action,
            actor_user_id: actor,
            workspace_id: Some(workspace_id),
            tenant_id: Some(tenant_id),
            target: Some(("operation_run", run.id)),
            metadata: {
                metadata["deduplicated"] = json!(!created);
                metadata
            },
        },
    )
    .await?;
    Ok(OperationRun(run.into()))
}
