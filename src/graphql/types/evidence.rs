use async_graphql::{Context, Enum, ID, Json, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use entity::inventory_item;
use serde_json::Value;

use crate::error::Error;
use crate::evidence;
use crate::graphql::ContextExt;
use crate::graphql::ids::{self, NodeKind};
use crate::graphql::loaders::{
    CurrentStateKey, CurrentStateLoader, Loaders, OperationRunId, TenantId,
};
use crate::graphql::types::OperationRun;

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "entity::enums::Fidelity")]
pub enum Fidelity {
    /// Both sides hashed from full policy content.
    Content,
    /// Hashed from inventory metadata (the meta contract).
    Meta,
}

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::evidence::EvidenceSource")]
pub enum EvidenceSource {
    PolicyVersion,
    Inventory,
}

/// Where a hash came from.
pub struct Provenance {
    pub fidelity: Fidelity,
    pub source: EvidenceSource,
    pub observed_at: DateTime<Utc>,
    pub run_id: Option<i64>,
}

#[Object]
impl Provenance {
    async fn fidelity(&self) -> Fidelity {
        self.fidelity
    }

    async fn source(&self) -> EvidenceSource {
        self.source
    }

    async fn observed_at(&self) -> DateTime<Utc> {
        self.observed_at
    }

    async fn observed_operation_run_id(&self) -> Option<ID> {
        self.run_id
            .map(|id| ids::encode(NodeKind::OperationRun, id))
    }

    /// The run that observed the evidence; null when it is gone or belongs to
    /// a tenant the caller cannot see (e.g. a baseline's source tenant).
    async fn observed_operation_run(&self, ctx: &Context<'_>) -> Result<Option<OperationRun>> {
        let Some(run_id) = self.run_id else {
            return Ok(None);
        };
        let loaders = ctx.data_unchecked::<Loaders>();
        let Some(run) = loaders
            .load_one(OperationRunId(run_id))
            .await
            .map_err(Error::from)?
        else {
            return Ok(None);
        };
        let tenant = loaders
            .load_one(TenantId(run.tenant_id))
            .await
            .map_err(Error::from)?;
        let visible = tenant.is_some_and(|t| ctx.viewer().is_ok_and(|v| v.can_see_tenant(&t)));
        Ok(visible.then_some(OperationRun(run)))
    }
}

#[derive(SimpleObject)]
pub struct EvidenceSide {
    pub hash: String,
    pub provenance: Provenance,
    /// The hash of the side's assignment set, normalized to group and
    /// filter names. Content evidence only, and on findings only where the
    /// profile compares assignments.
    pub assignments_hash: Option<String>,
}

impl From<evidence::Evidence> for EvidenceSide {
    fn from(e: evidence::Evidence) -> Self {
        EvidenceSide {
            hash: e.hash,
            assignments_hash: e.assignments_hash,
            provenance: Provenance {
                fidelity: e.provenance.fidelity.into(),
                source: e.provenance.source.into(),
                observed_at: e.provenance.observed_at,
                run_id: e.provenance.observed_operation_run_id,
            },
        }
    }
}

/// One tenant policy as the latest inventory sync listed it.
pub struct InventoryItem(pub inventory_item::Model);

#[Object]
impl InventoryItem {
    pub async fn id(&self) -> ID {
        ids::encode(NodeKind::InventoryItem, self.0.id)
    }

    async fn policy_type(&self) -> &str {
        &self.0.policy_type
    }

    async fn external_id(&self) -> &str {
        &self.0.external_id
    }

    async fn display_name(&self) -> &str {
        &self.0.display_name
    }

    /// The inventory metadata as the collector sent it.
    async fn meta(&self) -> Json<Value> {
        Json(self.0.meta_jsonb.clone())
    }

    /// The `inventory_meta_contract.v1` hash; null when the meta has none of its fields.
    async fn meta_hash(&self) -> Option<&str> {
        self.0.meta_hash.as_deref()
    }

    async fn first_seen_at(&self) -> DateTime<Utc> {
        self.0.first_seen_at
    }

    async fn last_seen_at(&self) -> DateTime<Utc> {
        self.0.last_seen_at
    }

    /// When a full sync stopped listing it; null while present.
    async fn removed_at(&self) -> Option<DateTime<Utc>> {
        self.0.removed_at
    }

    /// The current evidence from the provider chain (content first, then
    /// meta), resolved in batches with every other item on the page.
    async fn current_evidence(&self, ctx: &Context<'_>) -> Result<Option<EvidenceSide>> {
        let state = ctx
            .data_unchecked::<CurrentStateLoader>()
            .load_one(CurrentStateKey {
                tenant_id: self.0.tenant_id,
                subject: evidence::SubjectRef::new(
                    self.0.policy_type.clone(),
                    self.0.external_id.clone(),
                ),
            })
            .await
            .map_err(Error::from)?;
        Ok(state.map(|s| s.evidence.into()))
    }
}
