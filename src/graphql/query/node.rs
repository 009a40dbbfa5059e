use async_graphql::{Context, ID, Object, Result};

use entity::{inventory_item, user, workspace_membership};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};

use super::directory::load_workspace;
use crate::auth::{self, Capability};
use crate::error::Error;
use crate::graphql::ContextExt;
use crate::graphql::ids::{self, NodeKind};
use crate::graphql::types::{BaselineProfile, InventoryItem, Node, Tenant, User, WorkspaceMember};

#[derive(Default)]
pub struct NodeQuery;

#[Object]
impl NodeQuery {
    /// Fetches any object by its global id. An id the caller may not see is
    /// `NOT_FOUND`, exactly like an id that does not exist.
    async fn node(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Node>> {
        let (kind, raw_id) = ids::decode(&id)?;
        let node = load_node(ctx, kind, raw_id)
            .await
            .map_err(|e| e.not_found_as(kind.label()))?;
        Ok(Some(node))
    }
}

/// Whichever step finds nothing (the object, its tenant, its workspace),
/// `node` answers that the object was not found.
async fn load_node(ctx: &Context<'_>, kind: NodeKind, raw_id: i64) -> Result<Node, Error> {
    let viewer = ctx.viewer()?;
    let db = ctx.db();
    let node = match kind {
        NodeKind::Workspace => Node::Workspace(load_workspace(ctx, raw_id).await?),
        NodeKind::Tenant => Node::Tenant(Tenant(
            auth::authorized_tenant(db, viewer, raw_id, None).await?,
        )),
        NodeKind::WorkspaceMember => {
            let membership = workspace_membership::Entity::find_by_id(raw_id)
                .one(db)
                .await?
                .filter(|m| viewer.workspace(m.workspace_id).is_ok())
                .ok_or(Error::NotFound("workspace member"))?;
            Node::WorkspaceMember(WorkspaceMember(membership))
        }
        NodeKind::User => Node::User(User(visible_user(ctx, raw_id).await?)),
        NodeKind::BaselineProfile => Node::BaselineProfile(BaselineProfile(
            super::baselines::load_profile(ctx, raw_id, Capability::WorkspaceBaselinesView).await?,
        )),
        NodeKind::BaselineSnapshot => {
            Node::BaselineSnapshot(super::baselines::load_snapshot(ctx, raw_id).await?)
        }
        NodeKind::Finding => Node::Finding(super::baselines::load_finding(ctx, raw_id).await?),
        NodeKind::OperationRun => Node::OperationRun(super::evidence::load_run(ctx, raw_id).await?),
        NodeKind::Exclusion => Node::Exclusion(crate::graphql::types::Exclusion(
            super::baselines::load_exclusion(ctx, raw_id, Capability::WorkspaceBaselinesView)
                .await?,
        )),
        NodeKind::NotificationChannel => {
            Node::NotificationChannel(crate::graphql::types::NotificationChannel(
                super::baselines::load_channel(ctx, raw_id, Capability::WorkspaceBaselinesView)
                    .await?,
            ))
        }
        NodeKind::ApiToken => {
            let token = entity::api_token::Entity::find_by_id(raw_id)
                .one(db)
                .await?
                .filter(|t| t.user_id == viewer.user.id)
                .ok_or(Error::NotFound("API token"))?;
            Node::ApiToken(crate::graphql::types::ApiToken(token))
        }
        NodeKind::InventoryItem => {
            let item = inventory_item::Entity::find_by_id(raw_id)
                .one(db)
                .await?
                .ok_or(Error::NotFound("inventory item"))?;
            auth::authorized_tenant(
                db,
                viewer,
                item.tenant_id,
                Some(Capability::TenantFindingsView),
            )
            .await?;
            Node::InventoryItem(InventoryItem(item))
        }
    };
    Ok(node)
}

/// A user is visible to itself and to the members of a workspace it shares.
async fn visible_user(ctx: &Context<'_>, user_id: i64) -> Result<user::Model, Error> {
    let viewer = ctx.viewer()?;
    if viewer.user.id != user_id {
        let shared = workspace_membership::Entity::find()
            .filter(workspace_membership::Column::UserId.eq(user_id))
            .filter(workspace_membership::Column::WorkspaceId.is_in(viewer.workspace_ids()))
            .count(ctx.db())
            .await?;
        if shared == 0 {
            return Err(Error::NotFound("user"));
        }
    }
    user::Entity::find_by_id(user_id)
        .one(ctx.db())
        .await?
        .ok_or(Error::NotFound("user"))
}
