//! The evidence layer: one normalizer, one hash, one provider chain and one
//! batched resolver, shared by capture and compare. Policy types differ only
//! in the rules of the registry, never in code paths.

pub mod assignments;
pub mod blobs;
pub mod declared;
pub mod diff;
pub mod hash;
pub mod ingest;
pub mod meta;
pub mod normalize;
pub mod registry;
pub mod rehash;
pub mod resolver;

use chrono::{DateTime, Utc};
use entity::enums::Fidelity;
use serde::{Deserialize, Serialize};

/// A tenant's policy, as a tenant-free pair: its type and its id in the tenant.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SubjectRef {
    pub policy_type: String,
    pub external_id: String,
}

impl SubjectRef {
    pub fn new(policy_type: impl Into<String>, external_id: impl Into<String>) -> Self {
        Self {
            policy_type: policy_type.into(),
            external_id: external_id.into(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvidenceSource {
    /// A captured full policy payload (content fidelity).
    PolicyVersion,
    /// The inventory item's meta contract hash (meta fidelity).
    Inventory,
}

impl EvidenceSource {
    pub fn as_str(self) -> &'static str {
        match self {
            EvidenceSource::PolicyVersion => "policy_version",
            EvidenceSource::Inventory => "inventory",
        }
    }
}

/// Where a hash came from: the provenance every finding carries on both sides.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    pub fidelity: Fidelity,
    pub source: EvidenceSource,
    pub observed_at: DateTime<Utc>,
    pub observed_operation_run_id: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    pub hash: String,
    pub provenance: Provenance,
    /// Content evidence only: the hash of the subject's assignment set,
    /// when its payload carried one (see `assignments`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignments_hash: Option<String>,
}

/// A problem with one subject's evidence that did not stop the work.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceWarning {
    pub policy_type: String,
    pub external_id: Option<String>,
    /// A stable code for warnings that scripts act on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    pub reason: String,
}
