use async_graphql::{Context, Enum, ID, InputObject, Json, Object, Result};
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::auth::{self, Capability};
use crate::evidence::ingest;
use crate::graphql::ContextExt;
use crate::graphql::ids::{self, NodeKind};
use crate::graphql::types::OperationRun;

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncStatus {
    Succeeded,
    Failed,
}

#[derive(InputObject)]
pub struct PolicyTypeSyncInput {
    pub policy_type: String,
    pub status: SyncStatus,
    /// How many items the collector listed for the type; when given it must
    /// match the items sent.
    pub item_count: Option<i32>,
    pub error: Option<String>,
    /// Take an empty listing (or one that shrank past the server's
    /// `--listing-drop-share`) as real at once. Without it, such a listing
    /// of a type whose last full listing had items is recorded as
    /// `unconfirmed`, with a warning `empty_listing_unconfirmed` or
    /// `listing_drop_unconfirmed`: its items stay, and compares leave the
    /// type uncovered until a second sync lists it so.
    #[graphql(default)]
    pub confirm_empty: bool,
}

#[derive(InputObject)]
pub struct InventoryItemInput {
    pub policy_type: String,
    pub external_id: String,
    pub display_name: String,
    /// Inventory metadata (e.g. `@odata.type`, `platforms`); hashed by the meta contract.
    pub meta: Option<Json<Value>>,
}

/// A full listing of the types marked SUCCEEDED: items of those types that
/// are not listed are marked removed.
#[derive(InputObject)]
pub struct RecordInventorySyncInput {
    pub tenant_id: ID,
    pub observed_at: Option<DateTime<Utc>>,
    pub policy_types: Vec<PolicyTypeSyncInput>,
    #[graphql(default)]
    pub items: Vec<InventoryItemInput>,
}

#[derive(InputObject)]
pub struct PolicyVersionInput {
    pub policy_type: String,
    pub external_id: String,
    /// The full policy payload as Microsoft Graph returns it.
    pub content: Json<Value>,
}

#[derive(InputObject)]
pub struct RecordPolicyVersionsInput {
    pub tenant_id: ID,
    pub captured_at: Option<DateTime<Utc>>,
    pub versions: Vec<PolicyVersionInput>,
}

#[derive(Default)]
pub struct EvidenceMutation;

#[Object]
impl EvidenceMutation {
    /// Records an inventory sync (needs `tenant.sync`). Returns the completed
    /// `INVENTORY_SYNC` run with its per-type coverage.
    async fn record_inventory_sync(
        &self,
        ctx: &Context<'_>,
        input: RecordInventorySyncInput,
    ) -> Result<OperationRun> {
        let viewer = ctx.viewer()?;
        let tenant_id = ids::decode_as(&input.tenant_id, NodeKind::Tenant)?;
        let tenant =
            auth::authorized_tenant(ctx.db(), viewer, tenant_id, Some(Capability::TenantSync))
                .await?;
        let sync = ingest::InventorySync {
            observed_at: input.observed_at.unwrap_or_else(Utc::now),
            policy_types: input
                .policy_types
                .into_iter()
                .map(|p| ingest::PolicyTypeStatus {
                    policy_type: p.policy_type,
                    succeeded: p.status == SyncStatus::Succeeded,
                    item_count: p.item_count.map(|n| n.max(0) as u64),
                    error: p.error,
                    confirm_empty: p.confirm_empty,
                })
                .collect(),
            items: input
                .items
                .into_iter()
                .map(|i| ingest::InventoryItemInput {
                    policy_type: i.policy_type,
                    external_id: i.external_id,
                    display_name: i.display_name,
                    meta: i.meta.map(|m| m.0).unwrap_or(Value::Null),
                })
                .collect(),
            warnings: Vec::new(),
            guard: *ctx.data::<ingest::ListingGuard>()?,
        };
        let run =
            ingest::record_inventory_sync(ctx.db(), Some(viewer.user.id), &tenant, sync).await?;
        Ok(OperationRun(run.into()))
    }

    /// Records captured policy payloads as content evidence (needs
    /// `tenant.sync`). Returns the completed `POLICY_CAPTURE` run; payloads
    /// that cannot be normalized are listed in its warnings.
    async fn record_policy_versions(
        &self,
        ctx: &Context<'_>,
        input: RecordPolicyVersionsInput,
    ) -> Result<OperationRun> {
        let viewer = ctx.viewer()?;
        let tenant_id = ids::decode_as(&input.tenant_id, NodeKind::Tenant)?;
        let tenant =
            auth::authorized_tenant(ctx.db(), viewer, tenant_id, Some(Capability::TenantSync))
                .await?;
        let versions = ingest::PolicyVersions {
            captured_at: input.captured_at.unwrap_or_else(Utc::now),
            versions: input
                .versions
                .into_iter()
                .map(|v| ingest::PolicyVersionInput {
                    policy_type: v.policy_type,
                    external_id: v.external_id,
                    content: v.content.0,
                })
                .collect(),
        };
        let run = ingest::record_policy_versions(ctx.db(), Some(viewer.user.id), &tenant, versions)
            .await?;
        Ok(OperationRun(run.into()))
    }
}
