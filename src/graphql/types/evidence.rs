use async_graphql::{Context, Enum, ID, Json, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use entity::inventory_item;
use serde_json::Value;

use crate::error::Error;
use crate::evidence;
use crate::graphql::ids::{self, NodeKind};
use crate::graphql::loaders::{CurrentStateKey, CurrentStateLoader};

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
#[derive(SimpleObject)]
pub struct Provenance {
    pub fidelity: Fidelity,
    pub source: EvidenceSource,
    pub observed_at: DateTime<Utc>,
    pub observed_operation_run_id: Option<ID>,
}

#[derive(SimpleObject)]
pub struct EvidenceSide {
    pub hash: String,
    pub provenance: Provenance,
}

impl From<evidence::Evidence> for EvidenceSide {
    fn from(e: evidence::Evidence) -> Self {
        EvidenceSide {
            hash: e.hash,
            provenance: Provenance {
                fidelity: e.provenance.fidelity.into(),
                source: e.provenance.source.into(),
                observed_at: e.provenance.observed_at,
                observed_operation_run_id: e
                    .provenance
                    .observed_operation_run_id
                    .map(|id| ids::encode(NodeKind::OperationRun, id)),
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
