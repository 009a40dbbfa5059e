use async_graphql::{Context, ID, InputObject, Object, Result};

use serde_json::json;

use super::baselines::start;
use crate::audit::Action;
use crate::auth::{self, Capability};
use crate::collector::connections::{self, ConnectionInput, Credential};
use crate::collector::runs as collector_runs;
use crate::graphql::ids::{self, NodeKind};
use crate::graphql::types::OperationRun;
use crate::graphql::types::Tenant;
use crate::graphql::{ContextExt, SealingKey};

#[derive(InputObject)]
pub struct CertificateCredentialInput {
    /// The private key, PEM (`-----BEGIN PRIVATE KEY-----`).
    pub private_key_pem: String,
    /// The certificate registered on the app, PEM.
    pub certificate_pem: String,
}

#[derive(InputObject)]
pub struct SetTenantConnectionInput {
    pub tenant_id: ID,
    /// The Entra ID (directory) tenant: its GUID or a verified domain.
    pub directory_tenant_id: String,
    /// The application (client) id of the app registration.
    pub client_id: String,
    /// A client secret; give this or `certificate`. Write-only: sealed with
    /// AES-256-GCM and never returned.
    pub client_secret: Option<String>,
    /// A certificate and its private key; give this or `clientSecret`.
    /// Write-only like the secret.
    pub certificate: Option<CertificateCredentialInput>,
}

#[derive(InputObject)]
pub struct ClearTenantConnectionInput {
    pub tenant_id: ID,
}

#[derive(InputObject)]
pub struct StartInventorySyncInput {
    pub tenant_id: ID,
    /// Graph collection names (`configurationPolicies`, ...); empty means
    /// every type the collector can read.
    #[graphql(default)]
    pub policy_types: Vec<String>,
}

#[derive(InputObject)]
pub struct StartPolicyCaptureInput {
    pub tenant_id: ID,
    /// As for `startInventorySync`; empty means every collectable type.
    #[graphql(default)]
    pub policy_types: Vec<String>,
    /// Only the subjects without content captured at or after this time;
    /// by default every present subject.
    pub only_stale_since: Option<chrono::DateTime<chrono::Utc>>,
}

/// The tenant, when the viewer may manage the workspace's tenants.
async fn managed_tenant(ctx: &Context<'_>, id: &ID) -> Result<entity::tenant::Model> {
    let tenant_id = ids::decode_as(id, NodeKind::Tenant)?;
    Ok(auth::authorized_tenant(
        ctx.db(),
        ctx.viewer()?,
        tenant_id,
        Some(Capability::WorkspaceTenantsManage),
    )
    .await?)
}

#[derive(Default)]
pub struct ConnectionMutation;

#[Object]
impl ConnectionMutation {
    /// Sets or replaces how the server reaches the tenant's Microsoft Graph
    /// (needs `workspace_tenants.manage`). The credential is sealed with
    /// the server's key (`DRIFT_SECRET_KEY` or `--secret-key-file`); without
    /// one this answers BAD_USER_INPUT and stores nothing.
    async fn set_tenant_connection(
        &self,
        ctx: &Context<'_>,
        input: SetTenantConnectionInput,
    ) -> Result<Tenant> {
        let viewer = ctx.viewer()?;
        let tenant = managed_tenant(ctx, &input.tenant_id).await?;
        let credential = match (input.client_secret, input.certificate) {
            (Some(secret), None) => Credential::ClientSecret(secret),
            (None, Some(c)) => Credential::Certificate {
                private_key_pem: c.private_key_pem,
                certificate_pem: c.certificate_pem,
            },
            _ => {
                return Err(crate::error::Error::bad_input(
                    "give exactly one credential: clientSecret or certificate",
                )
                .into());
            }
        };
        let key = ctx.data_unchecked::<SealingKey>().0.as_ref();
        connections::set_connection(
            ctx.db(),
            key,
            viewer.user.id,
            &tenant,
            ConnectionInput {
                directory_tenant_id: input.directory_tenant_id,
                client_id: input.client_id,
                credential,
            },
        )
        .await?;
        Ok(Tenant(tenant))
    }

    /// Removes the tenant's connection (needs `workspace_tenants.manage`).
    async fn clear_tenant_connection(
        &self,
        ctx: &Context<'_>,
        input: ClearTenantConnectionInput,
    ) -> Result<Tenant> {
        let viewer = ctx.viewer()?;
        let tenant = managed_tenant(ctx, &input.tenant_id).await?;
        connections::clear_connection(ctx.db(), viewer.user.id, &tenant).await?;
        Ok(Tenant(tenant))
    }

    /// Queues an `INVENTORY_SYNC` run that lists the tenant's policies from
    /// Graph through its connection, and returns it at once (needs
    /// `tenant.sync`). What it lists is recorded as `recordInventorySync`
    /// records it; a type whose listing fails is FAILED, and its items stay
    /// as they were. An identical sync already queued or running is
    /// returned instead.
    async fn start_inventory_sync(
        &self,
        ctx: &Context<'_>,
        input: StartInventorySyncInput,
    ) -> Result<OperationRun> {
        let viewer = ctx.viewer()?;
        let tenant = synced_tenant(ctx, &input.tenant_id).await?;
        let new = collector_runs::inventory_sync_run(
            ctx.db(),
            &tenant,
            &input.policy_types,
            Some(viewer.user.id),
        )
        .await?;
        let types = new.context["request"]["policy_types"].clone();
        Ok(start(
            ctx,
            new,
            Action::InventorySyncStart,
            json!({"policy_types": types}),
        )
        .await?)
    }

    /// Queues a `POLICY_CAPTURE` run that fetches full content from Graph
    /// (JSON `$batch`, 20 requests each) for the tenant's present subjects,
    /// or only the stale ones, and returns it at once (needs `tenant.sync`).
    /// The run's `context.content_capture` counts requested, captured,
    /// skipped, throttled and failed subjects.
    async fn start_policy_capture(
        &self,
        ctx: &Context<'_>,
        input: StartPolicyCaptureInput,
    ) -> Result<OperationRun> {
        let viewer = ctx.viewer()?;
        let tenant = synced_tenant(ctx, &input.tenant_id).await?;
        let new = collector_runs::policy_capture_run(
            ctx.db(),
            &tenant,
            &input.policy_types,
            input.only_stale_since,
            Some(viewer.user.id),
        )
        .await?;
        let types = new.context["request"]["policy_types"].clone();
        Ok(start(
            ctx,
            new,
            Action::PolicyCaptureStart,
            json!({"policy_types": types}),
        )
        .await?)
    }
}

/// The tenant, when the viewer may sync it.
async fn synced_tenant(ctx: &Context<'_>, id: &ID) -> Result<entity::tenant::Model> {
    let tenant_id = ids::decode_as(id, NodeKind::Tenant)?;
    Ok(auth::authorized_tenant(
        ctx.db(),
        ctx.viewer()?,
        tenant_id,
        Some(Capability::TenantSync),
    )
    .await?)
}
