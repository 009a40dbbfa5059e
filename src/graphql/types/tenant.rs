use std::sync::Arc;

use async_graphql::{Context, ID, Object, Result};
use chrono::{DateTime, Utc};
use entity::tenant;

use entity::inventory_item;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::{InventoryItem, TenantKind, Workspace};
use crate::auth::Capability;
use crate::error::Error;
use crate::evidence::SubjectRef;
use crate::graphql::ContextExt;
use crate::graphql::connection::{self, IdConnection, PageArgs};
use crate::graphql::ids::{self, NodeKind};
use crate::graphql::loaders::{ConnectionOfTenant, Loaders, WorkspaceId};
use crate::graphql::loaders::{CurrentStateKey, CurrentStateLoader};

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

    /// Policies the inventory syncs listed for this tenant. `policyType`
    /// filters; removed items are left out unless `includeRemoved`.
    #[graphql(complexity = "connection::complexity(first, last, child_complexity)")]
    #[allow(clippy::too_many_arguments)]
    async fn inventory_items(
        &self,
        ctx: &Context<'_>,
        policy_type: Option<String>,
        include_removed: Option<bool>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<IdConnection<InventoryItem>> {
        ctx.viewer()?
            .require_tenant(&self.0, Capability::TenantFindingsView)?;
        let mut select =
            inventory_item::Entity::find().filter(inventory_item::Column::TenantId.eq(self.0.id));
        if let Some(policy_type) = policy_type {
            select = select.filter(inventory_item::Column::PolicyType.eq(policy_type));
        }
        if !include_removed.unwrap_or(false) {
            select = select.filter(inventory_item::Column::RemovedAt.is_null());
        }
        let page = connection::paginate(
            ctx.db(),
            select,
            connection::ById::<inventory_item::Entity> {
                column: inventory_item::Column::Id,
                id: |i| i.id,
            },
            InventoryItem,
            PageArgs::new(first, after, last, before),
        )
        .await?;
        // Resolve the whole page's evidence in one resolver call.
        if ctx
            .look_ahead()
            .field("edges")
            .field("node")
            .field("currentEvidence")
            .exists()
        {
            let keys = page.edges.iter().map(|e| CurrentStateKey {
                tenant_id: e.node.0.tenant_id,
                subject: SubjectRef::new(
                    e.node.0.policy_type.clone(),
                    e.node.0.external_id.clone(),
                ),
            });
            ctx.data_unchecked::<CurrentStateLoader>()
                .load_many(keys)
                .await
                .map_err(Error::from)?;
        }
        Ok(page)
    }

    /// The tenant's connection to Microsoft Graph, when one is set. It never
    /// holds the credential: that is write-only (`setTenantConnection`).
    async fn connection(&self, ctx: &Context<'_>) -> Result<Option<GraphConnection>> {
        Ok(ctx
            .data_unchecked::<Loaders>()
            .load_one(ConnectionOfTenant(self.0.id))
            .await
            .map_err(Error::from)?
            .map(|c| GraphConnection(Arc::unwrap_or_clone(c))))
    }

    /// How aligned the tenant is with a profile, as its latest compare
    /// found it; null before the first compare.
    async fn alignment(
        &self,
        ctx: &Context<'_>,
        baseline_profile_id: ID,
    ) -> Result<Option<super::Alignment>> {
        let profile_id = crate::graphql::ids::decode_as(
            &baseline_profile_id,
            crate::graphql::ids::NodeKind::BaselineProfile,
        )?;
        let point = ctx
            .data_unchecked::<crate::graphql::loaders::Loaders>()
            .load_one(crate::graphql::loaders::LatestAlignment {
                tenant_id: self.0.id,
                baseline_profile_id: profile_id,
            })
            .await
            .map_err(crate::error::Error::from)?;
        Ok(point.map(|p| super::Alignment(Arc::unwrap_or_clone(p))))
    }

    /// Subjects for which the profiles assigned to this tenant expect
    /// different hashes at the same fidelity, as the latest compare of each
    /// profile found them: each with every profile's expectation.
    async fn conflicts(&self, ctx: &Context<'_>) -> Result<Vec<SubjectConflict>> {
        use entity::enums::{RunStatus, RunType};
        use entity::operation_run;
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
        // The latest compares of the tenant, newest first; the first of each
        // profile counts.
        let runs = operation_run::Entity::find()
            .filter(operation_run::Column::TenantId.eq(self.0.id))
            .filter(operation_run::Column::RunType.eq(RunType::BaselineCompare))
            .filter(operation_run::Column::Status.eq(RunStatus::Completed))
            .order_by_desc(operation_run::Column::Id)
            .limit(200)
            .all(ctx.db())
            .await
            .map_err(crate::error::Error::from)?;
        let mut seen_profiles = std::collections::BTreeSet::new();
        let mut by_subject: std::collections::BTreeMap<(String, String), SubjectConflict> =
            Default::default();
        for run in runs {
            let c = &run.context["baseline_compare"];
            let Some(profile) = c["baseline_profile_id"].as_i64() else {
                continue;
            };
            if !seen_profiles.insert(profile) {
                continue;
            }
            for entry in c["conflicts_list"].as_array().into_iter().flatten() {
                let key = (
                    entry["policy_type"].as_str().unwrap_or_default().to_owned(),
                    entry["subject_key"].as_str().unwrap_or_default().to_owned(),
                );
                let conflict = by_subject
                    .entry(key.clone())
                    .or_insert_with(|| SubjectConflict {
                        policy_type: key.0.clone(),
                        subject_key: key.1.clone(),
                        display_name: entry["display_name"].as_str().map(str::to_owned),
                        expected: Vec::new(),
                    });
                for e in super::finding::conflicts_of(&entry["expected"]) {
                    if !conflict
                        .expected
                        .iter()
                        .any(|x| x.profile_id == e.profile_id)
                    {
                        conflict.expected.push(e);
                    }
                }
            }
        }
        Ok(by_subject.into_values().collect())
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
}

/// How the server reaches a tenant's Microsoft Graph: the app registration
/// and the kind of credential. The credential itself is never returned.
pub struct GraphConnection(pub entity::tenant_connection::Model);

/// (`TenantConnection` is the name of the tenants' page type.)
/// A subject two or more profiles disagree about.
#[derive(async_graphql::SimpleObject)]
pub struct SubjectConflict {
    pub policy_type: String,
    pub subject_key: String,
    pub display_name: Option<String>,
    pub expected: Vec<super::finding::BaselineConflict>,
}

#[Object(name = "TenantGraphConnection")]
impl GraphConnection {
    /// The Entra ID (directory) tenant: its GUID or a verified domain.
    async fn directory_tenant_id(&self) -> &str {
        &self.0.directory_tenant_id
    }

    /// The application (client) id of the app registration.
    async fn client_id(&self) -> &str {
        &self.0.client_id
    }

    async fn credential_kind(&self) -> CredentialKind {
        if self.0.credential_kind == "certificate" {
            CredentialKind::Certificate
        } else {
            CredentialKind::ClientSecret
        }
    }

    async fn configured_at(&self) -> DateTime<Utc> {
        self.0.configured_at
    }

    /// When a token was last obtained with it.
    async fn last_token_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_token_at
    }

    /// The last error the identity platform or Graph gave, without secrets.
    async fn last_error(&self) -> Option<&str> {
        self.0.last_error.as_deref()
    }
}

#[derive(async_graphql::Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredentialKind {
    ClientSecret,
    Certificate,
}
