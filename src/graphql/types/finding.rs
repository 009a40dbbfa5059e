use std::sync::Arc;

use async_graphql::{Context, Enum, ID, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use entity::finding;
use serde_json::Value;

use super::{BaselineProfile, BaselineSnapshot, EvidenceSide, Fidelity};
use crate::error::Error;
use crate::evidence::Evidence;
use crate::graphql::ids::{self, NodeKind};
use crate::graphql::loaders::{BaselineProfileId, BaselineSnapshotId, BlobHash, Loaders, TenantId};

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "entity::enums::FindingType")]
pub enum FindingType {
    /// In the baseline, gone from the tenant.
    MissingPolicy,
    /// In both, with different hashes at equal fidelity.
    DifferentVersion,
    /// In the tenant, not in the baseline.
    UnexpectedPolicy,
}

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "entity::enums::ChangeType")]
pub enum ChangeType {
    Created,
    Updated,
    Deleted,
}

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "entity::enums::FindingStatus")]
pub enum FindingStatus {
    Open,
    Acknowledged,
    /// Accepted drift: still compared; reopened when the drift changes or
    /// the acceptance expires.
    Accepted,
    Resolved,
}

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "entity::enums::Severity")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

/// What differs in a DIFFERENT_VERSION finding.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangedAspect {
    /// The normalized content (compared at content fidelity).
    Settings,
    /// The assignment set (profiles with `compareAssignments` only).
    Assignments,
    /// The inventory metadata (compared at meta fidelity).
    Metadata,
}

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SettingChangeKind {
    Added,
    Removed,
    Modified,
}

/// One setting that differs, addressed by set keys, e.g.
/// `settings[device_vendor_msft_..._allowarchivescanning].settingInstance.choiceSettingValue.value`.
#[derive(SimpleObject)]
pub struct SettingChange {
    pub path: String,
    pub change: SettingChangeKind,
    pub baseline: Option<async_graphql::Json<Value>>,
    pub current: Option<async_graphql::Json<Value>>,
}

#[derive(SimpleObject)]
pub struct SettingChanges {
    /// False when the finding has no content on both sides.
    pub available: bool,
    /// Why there are no setting changes, when unavailable.
    pub reason: Option<String>,
    pub changes: Vec<SettingChange>,
    /// Changes left out because an exclusion's setting-path pattern
    /// matched them when the finding was compared.
    pub excluded: i64,
}

/// What one profile expects of a subject.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct BaselineConflict {
    pub baseline_profile_id: ID,
    pub expected_hash: String,
    #[graphql(skip)]
    pub profile_id: i64,
}

#[async_graphql::ComplexObject]
impl BaselineConflict {
    async fn baseline_profile(&self, ctx: &Context<'_>) -> Result<Option<super::BaselineProfile>> {
        let profile = ctx
            .data_unchecked::<Loaders>()
            .load_one(crate::graphql::loaders::BaselineProfileId(self.profile_id))
            .await
            .map_err(Error::from)?;
        Ok(profile.map(|p| super::BaselineProfile(Arc::unwrap_or_clone(p))))
    }
}

/// The expectations a compare stored (`[{baseline_profile_id, expected_hash}]`).
pub fn conflicts_of(value: &Value) -> Vec<BaselineConflict> {
    value
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| {
                    let id = c["baseline_profile_id"].as_i64()?;
                    Some(BaselineConflict {
                        baseline_profile_id: ids::encode(NodeKind::BaselineProfile, id),
                        expected_hash: c["expected_hash"].as_str()?.to_owned(),
                        profile_id: id,
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// One status change of a finding.
#[derive(SimpleObject)]
pub struct FindingEvent {
    /// `open`, `acknowledged`, `accepted` or `resolved`.
    pub from: String,
    pub to: String,
    /// `drift_changed`, `acceptance_expired`, `drift_gone`, or the
    /// person's reason.
    pub reason: Option<String>,
    /// The user who made it; null when a compare or the sweep did.
    pub actor_user_id: Option<ID>,
    /// The compare that made it, if one did.
    pub operation_run_id: Option<ID>,
    pub at: DateTime<Utc>,
}

/// The policy a finding is about.
#[derive(SimpleObject)]
pub struct Subject {
    pub policy_type: String,
    /// The policy's id: in this tenant, or for a missing policy its id in
    /// the baseline when subjects match by external id. Null for a missing
    /// policy matched by display name (its key still names it).
    pub external_id: Option<String>,
    pub display_name: String,
    /// The key matching it to the baseline (external id or type|name).
    pub subject_key: String,
}

/// One difference between a tenant and its baseline.
pub struct Finding(pub finding::Model);

impl Finding {
    fn side(&self, key: &str) -> Option<EvidenceSide> {
        let side = self.0.evidence_jsonb.get(key).filter(|v| !v.is_null())?;
        let evidence = Evidence {
            hash: side.get("hash")?.as_str()?.to_owned(),
            provenance: serde_json::from_value(side.get("provenance")?.clone()).ok()?,
            assignments_hash: side["assignments_hash"].as_str().map(str::to_owned),
        };
        Some(evidence.into())
    }
}

#[Object]
impl Finding {
    pub async fn id(&self) -> ID {
        ids::encode(NodeKind::Finding, self.0.id)
    }

    async fn finding_type(&self) -> FindingType {
        self.0.finding_type.into()
    }

    async fn change_type(&self) -> ChangeType {
        self.0.change_type.into()
    }

    async fn status(&self) -> FindingStatus {
        self.0.status.into()
    }

    async fn severity(&self) -> Severity {
        self.0.severity.into()
    }

    /// The weaker fidelity of the two sides.
    async fn fidelity(&self) -> Fidelity {
        self.0.evidence_fidelity.into()
    }

    async fn subject(&self) -> Subject {
        Subject {
            policy_type: self.0.policy_type.clone(),
            external_id: self.0.evidence_jsonb["subject"]["external_id"]
                .as_str()
                .map(str::to_owned),
            display_name: self.0.display_name.clone(),
            subject_key: self.0.subject_key.clone(),
        }
    }

    async fn scope_key(&self) -> &str {
        &self.0.scope_key
    }

    async fn fingerprint(&self) -> &str {
        &self.0.fingerprint
    }

    async fn recurrence_key(&self) -> &str {
        &self.0.recurrence_key
    }

    /// The baseline side; null for an unexpected policy.
    async fn baseline(&self) -> Option<EvidenceSide> {
        self.side("baseline")
    }

    /// The tenant's side; null for a missing policy.
    async fn current(&self) -> Option<EvidenceSide> {
        self.side("current")
    }

    async fn first_seen_at(&self) -> DateTime<Utc> {
        self.0.first_seen_at
    }

    async fn last_seen_at(&self) -> DateTime<Utc> {
        self.0.last_seen_at
    }

    async fn times_seen(&self) -> i32 {
        self.0.times_seen
    }

    async fn resolved_at(&self) -> Option<DateTime<Utc>> {
        self.0.resolved_at
    }

    async fn resolved_reason(&self) -> Option<&str> {
        self.0.resolved_reason.as_deref()
    }

    async fn baseline_profile(&self, ctx: &Context<'_>) -> Result<Option<BaselineProfile>> {
        let profile = ctx
            .data_unchecked::<Loaders>()
            .load_one(BaselineProfileId(self.0.baseline_profile_id))
            .await
            .map_err(Error::from)?;
        Ok(profile.map(|p| BaselineProfile(Arc::unwrap_or_clone(p))))
    }

    async fn baseline_snapshot(&self, ctx: &Context<'_>) -> Result<Option<BaselineSnapshot>> {
        let snapshot = ctx
            .data_unchecked::<Loaders>()
            .load_one(BaselineSnapshotId(self.0.baseline_snapshot_id))
            .await
            .map_err(Error::from)?;
        Ok(snapshot.map(|s| BaselineSnapshot(Arc::unwrap_or_clone(s))))
    }

    /// Setting-level differences, from the stored normalized content of both
    /// sides. Only content findings with both sides have them. Where the
    /// profile compares assignments, changed assignments are listed too,
    /// under paths such as `assignments[group:Sales Devices].intent`.
    async fn setting_changes(&self, ctx: &Context<'_>) -> Result<SettingChanges> {
        use crate::drift::findings::{self, ListedChanges};
        let wanted = findings::change_blob_hashes([&self.0])
            .into_iter()
            .map(BlobHash);
        let loaders = ctx.data_unchecked::<Loaders>();
        let blobs: std::collections::HashMap<String, Option<serde_json::Value>> = loaders
            .load_many(wanted)
            .await
            .map_err(Error::from)?
            .into_iter()
            .map(|(hash, blob)| (hash.0, blob.0.clone()))
            .collect();
        Ok(match findings::listed_changes(&self.0, &blobs)? {
            ListedChanges::Unavailable(reason) => SettingChanges {
                available: false,
                reason: Some(reason.to_owned()),
                changes: Vec::new(),
                excluded: 0,
            },
            ListedChanges::Listed { changes, excluded } => SettingChanges {
                available: true,
                reason: None,
                changes: changes
                    .into_iter()
                    .map(|c| SettingChange {
                        path: c.path,
                        change: match c.change {
                            crate::evidence::diff::ChangeKind::Added => SettingChangeKind::Added,
                            crate::evidence::diff::ChangeKind::Removed => {
                                SettingChangeKind::Removed
                            }
                            crate::evidence::diff::ChangeKind::Modified => {
                                SettingChangeKind::Modified
                            }
                        },
                        baseline: c.baseline.map(async_graphql::Json),
                        current: c.current.map(async_graphql::Json),
                    })
                    .collect(),
                excluded,
            },
        })
    }

    async fn acknowledged_at(&self) -> Option<DateTime<Utc>> {
        self.0.acknowledged_at
    }

    /// What differs, for a DIFFERENT_VERSION finding: SETTINGS and, where
    /// the profile compares them, ASSIGNMENTS at content fidelity, or
    /// METADATA at meta fidelity. Empty for missing and unexpected
    /// policies, which differ whole.
    async fn changed_aspects(&self) -> Vec<ChangedAspect> {
        crate::drift::findings::changed_aspects(&self.0)
            .into_iter()
            .map(|aspect| match aspect {
                "assignments" => ChangedAspect::Assignments,
                "metadata" => ChangedAspect::Metadata,
                _ => ChangedAspect::Settings,
            })
            .collect()
    }

    /// Other profiles assigned to the tenant that expect another hash (at
    /// the same fidelity) for this subject: two standards disagree here.
    async fn conflicts(&self) -> Vec<BaselineConflict> {
        conflicts_of(&self.0.evidence_jsonb["conflicts"])
    }

    /// For ACCEPTED findings: when, why and until when.
    async fn accepted_at(&self) -> Option<DateTime<Utc>> {
        self.0.accepted_at
    }

    async fn accepted_reason(&self) -> Option<&str> {
        self.0.accepted_reason.as_deref()
    }

    async fn accepted_until(&self) -> Option<DateTime<Utc>> {
        self.0.accepted_until
    }

    /// Status changes, oldest first: every triage decision, and what
    /// compares and the expiry sweep did to the finding once accepted.
    async fn history(&self, ctx: &Context<'_>) -> Result<Vec<FindingEvent>> {
        let events = ctx
            .data_unchecked::<Loaders>()
            .load_one(crate::graphql::loaders::HistoryOfFinding(self.0.id))
            .await
            .map_err(Error::from)?;
        Ok(events
            .map(|e| {
                e.iter()
                    .map(|e| FindingEvent {
                        from: e.from_status.clone(),
                        to: e.to_status.clone(),
                        reason: e.reason.clone(),
                        actor_user_id: e.actor_user_id.map(|id| ids::encode(NodeKind::User, id)),
                        operation_run_id: e
                            .operation_run_id
                            .map(|id| ids::encode(NodeKind::OperationRun, id)),
                        at: e.at,
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn tenant(&self, ctx: &Context<'_>) -> Result<Option<super::Tenant>> {
        let tenant = ctx
            .data_unchecked::<Loaders>()
            .load_one(TenantId(self.0.tenant_id))
            .await
            .map_err(Error::from)?;
        Ok(tenant.map(|t| super::Tenant(Arc::unwrap_or_clone(t))))
    }

    /// The raw evidence document (`change_type`, `baseline`, `current`).
    async fn evidence(&self) -> async_graphql::Json<Value> {
        async_graphql::Json(self.0.evidence_jsonb.clone())
    }
}
