use async_graphql::{Context, ID, Object, Result};
use chrono::{DateTime, Utc};
use entity::tenant;

use super::{TenantKind, Workspace};
use crate::error::Error;
use crate::graphql::ids::{self, NodeKind};
use crate::graphql::loaders::{Loaders, WorkspaceId};

/// A managed environment: an M365 tenant, a cloud account.
pub struct Tenant(pub tenant::Model);

#[Object]
impl Tenant {
    pub async fn id(&self) -> ID {
        ids::encode(NodeKind::Tenant, self.0.id)
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn kind(&self) -> TenantKind {
        self.0.kind.into()
    }

    /// The provider's own identifier, such as the M365 tenant id.
    async fn external_ref(&self) -> Option<&str> {
        self.0.external_ref.as_deref()
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    async fn workspace(&self, ctx: &Context<'_>) -> Result<Workspace> {
        let ws = ctx
            .data_unchecked::<Loaders>()
            .load_one(WorkspaceId(self.0.workspace_id))
            .await
            .map_err(Error::from)?
            .ok_or(Error::NotFound("workspace"))?;
        Ok(Workspace(ws))
    }
}
