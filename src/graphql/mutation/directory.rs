use async_graphql::{Context, ID, InputObject, Object, Result};

use crate::auth::{Access, Capability};
use crate::directory;
use crate::graphql::ContextExt;
use crate::graphql::ids::{self, NodeKind};
use crate::graphql::types::{Role, Tenant, TenantKind, Workspace, WorkspaceMember};

#[derive(InputObject)]
pub struct CreateWorkspaceInput {
    pub name: String,
}

#[derive(InputObject)]
pub struct CreateTenantInput {
    pub workspace_id: ID,
    pub name: String,
    #[graphql(default_with = "TenantKind::Intune")]
    pub kind: TenantKind,
    /// The provider's own identifier, such as the M365 tenant id.
    pub external_ref: Option<String>,
}

#[derive(InputObject)]
pub struct AddWorkspaceMemberInput {
    pub workspace_id: ID,
    /// The user is created if no user has this email yet.
    pub email: String,
    pub role: Role,
    /// Limit the member to these tenants; omit for every tenant.
    pub tenant_ids: Option<Vec<ID>>,
}

#[derive(Default)]
pub struct DirectoryMutation;

#[Object]
impl DirectoryMutation {
    /// Creates a workspace; the caller becomes its owner.
    async fn create_workspace(
        &self,
        ctx: &Context<'_>,
        input: CreateWorkspaceInput,
    ) -> Result<Workspace> {
        let viewer = ctx.viewer()?;
        let (ws, membership) =
            directory::create_workspace(ctx.db(), viewer.user.id, &input.name).await?;
        viewer.grant(
            ws.id,
            Access {
                membership_id: membership.id,
                role: membership.role,
                tenant_ids: None,
            },
        );
        Ok(Workspace(ws))
    }

    /// Needs `workspace_tenants.manage` (owner, manager).
    async fn create_tenant(&self, ctx: &Context<'_>, input: CreateTenantInput) -> Result<Tenant> {
        let viewer = ctx.viewer()?;
        let workspace_id = ids::decode_as(&input.workspace_id, NodeKind::Workspace)?;
        viewer.require_workspace(workspace_id, Capability::WorkspaceTenantsManage)?;
        let tenant = directory::create_tenant(
            ctx.db(),
            viewer.user.id,
            workspace_id,
            &input.name,
            input.kind.into(),
            input.external_ref,
        )
        .await?;
        Ok(Tenant(tenant))
    }

    /// Needs `workspace_members.manage` (owner).
    async fn add_workspace_member(
        &self,
        ctx: &Context<'_>,
        input: AddWorkspaceMemberInput,
    ) -> Result<WorkspaceMember> {
        let viewer = ctx.viewer()?;
        let workspace_id = ids::decode_as(&input.workspace_id, NodeKind::Workspace)?;
        viewer.require_workspace(workspace_id, Capability::WorkspaceMembersManage)?;
        let tenant_ids = input
            .tenant_ids
            .map(|ids| {
                ids.iter()
                    .map(|id| ids::decode_as(id, NodeKind::Tenant))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        let membership = directory::add_member(
            ctx.db(),
            viewer.user.id,
            workspace_id,
            &input.email,
            input.role.into(),
            tenant_ids,
        )
        .await?;
        Ok(WorkspaceMember(membership))
    }
}
