//! Setting and clearing a tenant's connection. The credential is sealed
//! before it is stored and is never read back through the API; audit
//! entries name the app registration and the kind of credential only.

use chrono::Utc;
use entity::{tenant, tenant_connection};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, Set,
    TransactionTrait,
};
use serde_json::json;

use super::secrets::SecretKey;
use crate::audit::{self, Action};
use crate::error::{Error, Result};

/// What authenticates the app registration.
#[derive(Clone)]
pub enum Credential {
    ClientSecret(String),
    Certificate {
        private_key_pem: String,
        certificate_pem: String,
    },
}

impl Credential {
    pub fn kind(&self) -> &'static str {
        match self {
            Credential::ClientSecret(_) => "client_secret",
            Credential::Certificate { .. } => "certificate",
        }
    }

    fn sealed_json(&self) -> serde_json::Value {
        match self {
            Credential::ClientSecret(secret) => json!({"client_secret": secret}),
            Credential::Certificate {
                private_key_pem,
                certificate_pem,
            } => json!({"private_key_pem": private_key_pem, "certificate_pem": certificate_pem}),
        }
    }
}

/// Never prints the secret.
impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credential({})", self.kind())
    }
}

pub struct ConnectionInput {
    pub directory_tenant_id: String,
    pub client_id: String,
    pub credential: Credential,
}

/// The associated data a tenant's credential is sealed under.
fn seal_context(tenant_id: i64) -> String {
    format!("drift-engine tenant connection v1|tenant:{tenant_id}")
}

fn check_text(field: &str, value: &str, max: usize) -> Result<()> {
    let value = value.trim();
    if value.is_empty() {
        return Err(Error::bad_input(format!("{field} must not be empty")));
    }
    if value.len() > max
        || value
            .chars()
            .any(|c| c.is_control() || c == '/' || c.is_whitespace())
    {
        return Err(Error::bad_input(format!(
            "{field} must be at most {max} characters without spaces, slashes or control characters"
        )));
    }
    Ok(())
}

fn check_pem(field: &str, value: &str, label: &str) -> Result<()> {
    let trimmed = value.trim();
    if !(trimmed.starts_with("-----BEGIN ")
        && trimmed.contains(label)
        && trimmed.ends_with("-----"))
        || value.contains('\0')
        || value.len() > 64 * 1024
    {
        return Err(Error::bad_input(format!(
            "{field} must be a PEM block ({label}), at most 64 KiB"
        )));
    }
    Ok(())
}

fn validate(input: &ConnectionInput) -> Result<()> {
    // A directory (tenant) id is a GUID or a verified domain; a client id
    // is the application's GUID.
    check_text("directoryTenantId", &input.directory_tenant_id, 200)?;
    check_text("clientId", &input.client_id, 100)?;
    match &input.credential {
        Credential::ClientSecret(secret) => {
            if secret.trim().is_empty() || secret.len() > 1024 || secret.contains('\0') {
                return Err(Error::bad_input(
                    "clientSecret must be a non-empty text of at most 1,024 characters",
                ));
            }
        }
        Credential::Certificate {
            private_key_pem,
            certificate_pem,
        } => {
            check_pem(
                "certificate.privateKeyPem",
                private_key_pem,
                "PRIVATE KEY-----",
            )?;
            check_pem(
                "certificate.certificatePem",
                certificate_pem,
                "CERTIFICATE-----",
            )?;
            super::token::check_certificate(private_key_pem, certificate_pem)
                .map_err(|e| Error::bad_input(format!("certificate: {e}")))?;
        }
    }
    Ok(())
}

/// Sets (or replaces) the tenant's connection. Without a server key it
/// stores nothing and says how to configure one.
pub async fn set_connection(
    db: &DatabaseConnection,
    key: Option<&SecretKey>,
    actor_user_id: i64,
    tenant: &tenant::Model,
    input: ConnectionInput,
) -> Result<tenant_connection::Model> {
    let key = key.ok_or_else(|| {
        Error::bad_input(
            "this server has no secret key to seal credentials with: set DRIFT_SECRET_KEY (32 bytes, base64) or --secret-key-file, then try again; nothing was stored",
        )
    })?;
    validate(&input)?;
    let plaintext = serde_json::to_vec(&input.credential.sealed_json()).map_err(Error::internal)?;
    let sealed = key.seal(&seal_context(tenant.id), &plaintext);
    let row = tenant_connection::ActiveModel {
        tenant_id: Set(tenant.id),
        workspace_id: Set(tenant.workspace_id),
        directory_tenant_id: Set(input.directory_tenant_id.trim().to_owned()),
        client_id: Set(input.client_id.trim().to_owned()),
        credential_kind: Set(input.credential.kind().to_owned()),
        sealed_credential: Set(sealed),
        configured_at: Set(Utc::now()),
        last_token_at: Set(None),
        last_error: Set(None),
        ..Default::default()
    };
    let txn = db.begin().await?;
    tenant_connection::Entity::insert(row)
        .on_conflict(
            OnConflict::column(tenant_connection::Column::TenantId)
                .update_columns([
                    tenant_connection::Column::DirectoryTenantId,
                    tenant_connection::Column::ClientId,
                    tenant_connection::Column::CredentialKind,
                    tenant_connection::Column::SealedCredential,
                    tenant_connection::Column::ConfiguredAt,
                    tenant_connection::Column::LastTokenAt,
                    tenant_connection::Column::LastError,
                ])
                .to_owned(),
        )
        .exec_without_returning(&txn)
        .await?;
    let stored = connection_of(&txn, tenant.id)
        .await?
        .ok_or_else(|| Error::internal(anyhow::anyhow!("the connection was not stored")))?;
    audit::record(
        &txn,
        audit::Entry {
            action: Action::TenantConnectionSet,
            actor_user_id: Some(actor_user_id),
            workspace_id: Some(tenant.workspace_id),
            tenant_id: Some(tenant.id),
            target: Some(("tenant", tenant.id)),
            metadata: json!({
                "directory_tenant_id": stored.directory_tenant_id,
                "client_id": stored.client_id,
                "credential_kind": stored.credential_kind,
            }),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(stored)
}

/// Removes the tenant's connection; true when there was one.
pub async fn clear_connection(
    db: &DatabaseConnection,
    actor_user_id: i64,
    tenant: &tenant::Model,
) -> Result<bool> {
    let txn = db.begin().await?;
    let removed = tenant_connection::Entity::delete_many()
        .filter(tenant_connection::Column::TenantId.eq(tenant.id))
        .exec(&txn)
        .await?
        .rows_affected
        > 0;
    audit::record(
        &txn,
        audit::Entry {
            action: Action::TenantConnectionClear,
            actor_user_id: Some(actor_user_id),
            workspace_id: Some(tenant.workspace_id),
            tenant_id: Some(tenant.id),
            target: Some(("tenant", tenant.id)),
            metadata: json!({"removed": removed}),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(removed)
}

pub async fn connection_of<C: ConnectionTrait>(
    db: &C,
    tenant_id: i64,
) -> Result<Option<tenant_connection::Model>> {
    Ok(tenant_connection::Entity::find()
        .filter(tenant_connection::Column::TenantId.eq(tenant_id))
        .one(db)
        .await?)
}

/// The credential of a stored connection, opened with the server's key;
/// `None` when the key is not the one it was sealed with.
pub fn open_credential(
    key: &SecretKey,
    connection: &tenant_connection::Model,
) -> Option<Credential> {
    let bytes = key.open(
        &seal_context(connection.tenant_id),
        &connection.sealed_credential,
    )?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    match connection.credential_kind.as_str() {
        "client_secret" => Some(Credential::ClientSecret(
            value.get("client_secret")?.as_str()?.to_owned(),
        )),
        "certificate" => Some(Credential::Certificate {
            private_key_pem: value.get("private_key_pem")?.as_str()?.to_owned(),
            certificate_pem: value.get("certificate_pem")?.as_str()?.to_owned(),
        }),
        _ => None,
    }
}
