use async_graphql::{Context, ID, Object, Result};
use entity::operation_run;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::auth::{self, Capability};
use crate::error::Error;
use crate::graphql::ContextExt;
use crate::graphql::connection::{self, PageArgs, TimeIdConnection};
use crate::graphql::ids::{self, NodeKind};
use crate::graphql::types::{OperationRun, OperationRunStatus, OperationRunType};

#[derive(Default)]
pub struct EvidenceQuery;

#[Object]
impl EvidenceQuery {
    async fn operation_run(&self, ctx: &Context<'_>, id: ID) -> Result<Option<OperationRun>> {
        let run_id = ids::decode_as(&id, NodeKind::OperationRun)?;
        Ok(Some(load_run(ctx, run_id).await?))
    }

    /// Runs of one tenant, or of every tenant of a workspace the caller can
    /// see (give exactly one), newest first.
    #[graphql(complexity = "connection::complexity(first, last, child_complexity)")]
    #[allow(clippy::too_many_arguments)]
    async fn operation_runs(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<ID>,
        workspace_id: Option<ID>,
        #[graphql(name = "type")] run_type: Option<Vec<OperationRunType>>,
        status: Option<Vec<OperationRunStatus>>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<TimeIdConnection<OperationRun>> {
        let viewer = ctx.viewer()?;
        let mut select = operation_run::Entity::find();
        match (tenant_id, workspace_id) {
            (Some(tenant), None) => {
                let tenant_id = ids::decode_as(&tenant, NodeKind::Tenant)?;
                auth::authorized_tenant(
                    ctx.db(),
                    viewer,
                    tenant_id,
                    Some(Capability::TenantFindingsView),
                )
                .await?;
                select = select.filter(operation_run::Column::TenantId.eq(tenant_id));
            }
            (None, Some(workspace)) => {
                let workspace_id = ids::decode_as(&workspace, NodeKind::Workspace)?;
                let access =
                    viewer.require_workspace(workspace_id, Capability::TenantFindingsView)?;
                select = select.filter(operation_run::Column::WorkspaceId.eq(workspace_id));
                if let Some(ids) = access.tenant_ids {
                    select = select.filter(operation_run::Column::TenantId.is_in(ids));
                }
            }
            _ => {
                return Err(
                    Error::bad_input("give exactly one of tenantId and workspaceId").into(),
                );
            }
        }
        if let Some(types) = run_type {
            select = select.filter(
                operation_run::Column::RunType
                    .is_in(types.into_iter().map(entity::enums::RunType::from)),
            );
        }
        if let Some(status) = status {
            select = select.filter(
                operation_run::Column::Status
                    .is_in(status.into_iter().map(entity::enums::RunStatus::from)),
            );
        }
        Ok(connection::paginate(
            ctx.db(),
            select,
            connection::runs_newest_first(),
            OperationRun::from,
            PageArgs::new(first, after, last, before),
        )
        .await?)
    }
}

/// A run the caller may see: the run's tenant must be visible to it.
pub async fn load_run(ctx: &Context<'_>, run_id: i64) -> Result<OperationRun, Error> {
    let viewer = ctx.viewer()?;
    let run = operation_run::Entity::find_by_id(run_id)
        .one(ctx.db())
        .await?
        .ok_or(Error::NotFound("operation run"))?;
    auth::authorized_tenant(
        ctx.db(),
        viewer,
        run.tenant_id,
        Some(Capability::TenantFindingsView),
    )
    .await
    .map_err(|e| e.not_found_as("operation run"))?;
    Ok(OperationRun(run.into()))
}
