use async_graphql::{Context, ID, Object, Result};
use entity::operation_run;
use sea_orm::EntityTrait;

use crate::auth::{self, Capability};
use crate::error::Error;
use crate::graphql::ContextExt;
use crate::graphql::ids::{self, NodeKind};
use crate::graphql::types::OperationRun;

#[derive(Default)]
pub struct EvidenceQuery;

#[Object]
impl EvidenceQuery {
    async fn operation_run(&self, ctx: &Context<'_>, id: ID) -> Result<Option<OperationRun>> {
        let run_id = ids::decode_as(&id, NodeKind::OperationRun)?;
        Ok(Some(load_run(ctx, run_id).await?))
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
    .map_err(|e| match e {
        Error::NotFound(_) => Error::NotFound("operation run"),
        other => other,
    })?;
    Ok(OperationRun(run))
}
