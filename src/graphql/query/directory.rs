use async_graphql::{Context, ID, Object, Result};
use entity::workspace;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::auth;
use crate::error::Error;
use crate::graphql::ContextExt;
use crate::graphql::connection::{self, IdConnection, PageArgs};
use crate::graphql::ids::{self, NodeKind};
use crate::graphql::types::workspace_tenants;
use crate::graphql::types::{Tenant, User, Workspace};

#[derive(Default)]
pub struct DirectoryQuery;

#[Object]
impl DirectoryQuery {
    /// The caller.
    async fn viewer(&self, ctx: &Context<'_>) -> Result<User> {
        Ok(User(ctx.viewer()?.user.clone()))
    }

    async fn workspace(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Workspace>> {
        let workspace_id = ids::decode_as(&id, NodeKind::Workspace)?;
        Ok(Some(load_workspace(ctx, workspace_id).await?))
    }

    async fn tenant(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Tenant>> {
        let tenant_id = ids::decode_as(&id, NodeKind::Tenant)?;
        let tenant = auth::authorized_tenant(ctx.db(), ctx.viewer()?, tenant_id, None).await?;
        Ok(Some(Tenant(tenant)))
    }

    /// The workspaces the caller is a member of.
    #[graphql(complexity = "connection::complexity(first, last, child_complexity)")]
    async fn workspaces(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<IdConnection<Workspace>> {
        let ids = ctx.viewer()?.workspace_ids();
        let select = workspace::Entity::find().filter(workspace::Column::Id.is_in(ids));
        Ok(connection::paginate(
            ctx.db(),
            select,
            connection::ById::<workspace::Entity> {
                column: workspace::Column::Id,
                id: |w| w.id,
            },
            Workspace,
            PageArgs::new(first, after, last, before),
        )
        .await?)
    }

    /// The tenants of a workspace that the caller may see.
    #[graphql(complexity = "connection::complexity(first, last, child_complexity)")]
    async fn tenants(
        &self,
        ctx: &Context<'_>,
        workspace_id: ID,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<IdConnection<Tenant>> {
        let workspace_id = ids::decode_as(&workspace_id, NodeKind::Workspace)?;
        Ok(workspace_tenants(ctx, workspace_id, PageArgs::new(first, after, last, before)).await?)
    }
}

pub async fn load_workspace(ctx: &Context<'_>, workspace_id: i64) -> Result<Workspace, Error> {
    ctx.viewer()?.workspace(workspace_id)?;
    let ws = workspace::Entity::find_by_id(workspace_id)
        .one(ctx.db())
        .await?
        .ok_or(Error::NotFound("workspace"))?;
    Ok(Workspace(ws))
}
