use std::sync::Arc;

use async_graphql::{Context, ID, Object, Result};
use chrono::{DateTime, Utc};
use entity::{tenant, workspace, workspace_membership};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::{Role, Tenant, User};
use crate::auth::capabilities;
use crate::error::Error;
use crate::graphql::ContextExt;
use crate::graphql::connection::{self, IdConnection, PageArgs};
use crate::graphql::ids::{self, NodeKind};
use crate::graphql::loaders::{Loaders, UserId};

/// Owns tenants and baselines; people work in it through memberships.
pub struct Workspace(pub workspace::Model);

#[Object]
impl Workspace {
    pub async fn id(&self) -> ID {
        ids::encode(NodeKind::Workspace, self.0.id)
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// The caller's role here.
    async fn viewer_role(&self, ctx: &Context<'_>) -> Result<Role> {
        Ok(ctx.viewer()?.workspace(self.0.id)?.role.into())
    }

    /// The capabilities the caller's role grants here, e.g. `tenant.sync`.
    async fn viewer_capabilities(&self, ctx: &Context<'_>) -> Result<Vec<&'static str>> {
        let access = ctx.viewer()?.workspace(self.0.id)?;
        Ok(capabilities(access.role)
            .iter()
            .map(|c| c.as_str())
            .collect())
    }

    /// The workspace's notification channels, by name (needs
    /// `workspace_baselines.view`).
    async fn notification_channels(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Vec<super::NotificationChannel>> {
        use entity::notification_channel::{Column, Entity};
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
        ctx.viewer()?
            .require_workspace(self.0.id, crate::auth::Capability::WorkspaceBaselinesView)?;
        Ok(Entity::find()
            .filter(Column::WorkspaceId.eq(self.0.id))
            .order_by_asc(Column::Name)
            .all(ctx.db())
            .await
            .map_err(crate::error::Error::from)?
            .into_iter()
            .map(super::NotificationChannel)
            .collect())
    }

    /// The fleet's alignment: the latest point of every tenant (that the
    /// caller may see) with every profile it was compared against, least
    /// aligned first by default. Pairs not compared yet are not listed.
    async fn alignment(
        &self,
        ctx: &Context<'_>,
        #[graphql(default)] order_by: super::AlignmentOrder,
    ) -> Result<Vec<super::Alignment>> {
        use entity::alignment_point::{Column, Entity};
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
        let access = ctx.viewer()?.workspace(self.0.id)?;
        let latest: Vec<i64> = Entity::find()
            .select_only()
            .column_as(Column::Id.max(), "id")
            .filter(Column::WorkspaceId.eq(self.0.id))
            .group_by(Column::TenantId)
            .group_by(Column::BaselineProfileId)
            .into_tuple()
            .all(ctx.db())
            .await
            .map_err(crate::error::Error::from)?;
        let mut points: Vec<entity::alignment_point::Model> = Entity::find()
            .filter(Column::Id.is_in(latest))
            .all(ctx.db())
            .await
            .map_err(crate::error::Error::from)?
            .into_iter()
            .filter(|p| access.can_see_tenant(p.tenant_id))
            .collect();
        // Unscored pairs (nothing applicable) last either way.
        points.sort_by(|a, b| match (a.aligned_percent, b.aligned_percent) {
            (Some(x), Some(y)) => {
                let by = x.total_cmp(&y);
                let by = if order_by == super::AlignmentOrder::AlignedDesc {
                    by.reverse()
                } else {
                    by
                };
                by.then(a.id.cmp(&b.id))
            }
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => a.id.cmp(&b.id),
        });
        Ok(points.into_iter().map(super::Alignment).collect())
    }

    /// The tenants of this workspace that the caller may see.
    #[graphql(complexity = "connection::complexity(first, last, child_complexity)")]
    async fn tenants(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<IdConnection<Tenant>> {
        Ok(workspace_tenants(ctx, self.0.id, PageArgs::new(first, after, last, before)).await?)
    }

    #[graphql(complexity = "connection::complexity(first, last, child_complexity)")]
    async fn members(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<IdConnection<WorkspaceMember>> {
        ctx.viewer()?.workspace(self.0.id)?;
        let select = workspace_membership::Entity::find()
            .filter(workspace_membership::Column::WorkspaceId.eq(self.0.id));
        Ok(connection::paginate(
            ctx.db(),
            select,
            connection::ById::<workspace_membership::Entity> {
                column: workspace_membership::Column::Id,
                id: |m| m.id,
            },
            WorkspaceMember,
            PageArgs::new(first, after, last, before),
        )
        .await?)
    }
}

/// The tenants of a workspace visible to the caller, as a connection.
pub async fn workspace_tenants(
    ctx: &Context<'_>,
    workspace_id: i64,
    args: PageArgs,
) -> Result<IdConnection<Tenant>, Error> {
    let access = ctx.viewer()?.workspace(workspace_id)?;
    let mut select = tenant::Entity::find().filter(tenant::Column::WorkspaceId.eq(workspace_id));
    if let Some(ids) = &access.tenant_ids {
        select = select.filter(tenant::Column::Id.is_in(ids.clone()));
    }
    connection::paginate(
        ctx.db(),
        select,
        connection::ById::<tenant::Entity> {
            column: tenant::Column::Id,
            id: |t| t.id,
        },
        Tenant,
        args,
    )
    .await
}

/// A user's membership of a workspace.
pub struct WorkspaceMember(pub workspace_membership::Model);

#[Object]
impl WorkspaceMember {
    pub async fn id(&self) -> ID {
        ids::encode(NodeKind::WorkspaceMember, self.0.id)
    }

    async fn role(&self) -> Role {
        self.0.role.into()
    }

    /// The tenants this member is limited to; `null` means every tenant.
    async fn tenant_ids(&self) -> Option<Vec<ID>> {
        let ids: Vec<i64> = serde_json::from_value(self.0.tenant_ids.clone()?).ok()?;
        Some(
            ids.into_iter()
                .map(|id| ids::encode(NodeKind::Tenant, id))
                .collect(),
        )
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    async fn user(&self, ctx: &Context<'_>) -> Result<User> {
        let user = ctx
            .data_unchecked::<Loaders>()
            .load_one(UserId(self.0.user_id))
            .await
            .map_err(Error::from)?
            .ok_or(Error::NotFound("user"))?;
        Ok(User(Arc::unwrap_or_clone(user)))
    }
}
