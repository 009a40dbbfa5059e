use async_graphql::{Context, ID, InputObject, Object, Result};

use crate::auth::{self, Capability};
use crate::collector::connections::{self, ConnectionInput, Credential};
use crate::graphql::ids::{self, NodeKind};
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
}
