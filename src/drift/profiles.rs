//! Baseline profiles: what a baseline covers and how it is captured.

use std::collections::BTreeMap;

use chrono::Utc;
use entity::enums::{CaptureMode, FindingType, Severity, SubjectMatch};
use entity::{baseline_profile, baseline_tenant_assignment, tenant};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set,
    TransactionTrait,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::{self, Action};
use crate::directory::validate_name;
use crate::error::{Error, Result};
use crate::evidence::registry;

/// The stored scope: `{policy_types: [], foundation_types: []}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    #[serde(default)]
    pub policy_types: Vec<String>,
    #[serde(default)]
    pub foundation_types: Vec<String>,
}

impl Scope {
    pub fn of(profile: &baseline_profile::Model) -> Scope {
        serde_json::from_value(profile.scope.clone()).unwrap_or_default()
    }

    /// The types a capture or compare covers. Empty `policy_types` means
    /// every supported type that is not a foundation type; empty
    /// `foundation_types` means none.
    pub fn effective_types(&self) -> Vec<String> {
        let mut types: Vec<String> = if self.policy_types.is_empty() {
            registry::default_policy_types()
                .into_iter()
                .map(str::to_owned)
                .collect()
        } else {
            self.policy_types.clone()
        };
        types.extend(self.foundation_types.iter().cloned());
        types.sort();
        types.dedup();
        types
    }

    fn validated(self) -> Result<Scope> {
        let clean = |list: Vec<String>, what: &str| -> Result<Vec<String>> {
            let mut out = Vec::new();
            for t in list {
                let t = t.trim().to_owned();
                if t.is_empty() || t.len() > 100 {
                    return Err(Error::bad_input(format!(
                        "{what} entries must be 1 to 100 characters"
                    )));
                }
                out.push(t);
            }
            out.sort();
            out.dedup();
            Ok(out)
        };
        Ok(Scope {
            policy_types: clean(self.policy_types, "scope.policyTypes")?,
            foundation_types: clean(self.foundation_types, "scope.foundationTypes")?,
        })
    }
}

/// Severity by finding type unless the profile overrides it.
pub fn default_severity(finding_type: FindingType) -> Severity {
    match finding_type {
        FindingType::MissingPolicy => Severity::High,
        FindingType::DifferentVersion => Severity::Medium,
        FindingType::UnexpectedPolicy => Severity::Low,
    }
}

pub fn severity_for(profile: &baseline_profile::Model, finding_type: FindingType) -> Severity {
    profile
        .severity_overrides
        .as_ref()
        .and_then(|o| o.get(finding_type.as_str()))
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_else(|| default_severity(finding_type))
}

#[derive(Clone, Debug, Default)]
pub struct ProfileChanges {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub scope: Option<Scope>,
    pub capture_mode: Option<CaptureMode>,
    pub subject_match: Option<SubjectMatch>,
    pub severity_overrides: Option<BTreeMap<FindingType, Severity>>,
    pub compare_assignments: Option<bool>,
}

fn overrides_json(map: &BTreeMap<FindingType, Severity>) -> serde_json::Value {
    json!(
        map.iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect::<BTreeMap<_, _>>()
    )
}

pub async fn create_profile(
    db: &DatabaseConnection,
    actor_user_id: i64,
    workspace_id: i64,
    changes: ProfileChanges,
) -> Result<baseline_profile::Model> {
    let name = validate_name(
        "baseline profile",
        changes.name.as_deref().unwrap_or_default(),
    )?;
    let scope = changes.scope.unwrap_or_default().validated()?;
    let now = Utc::now();
    let txn = db.begin().await?;
    let profile = baseline_profile::ActiveModel {
        workspace_id: Set(workspace_id),
        name: Set(name.clone()),
        description: Set(changes.description.flatten()),
        scope: Set(json!(scope)),
        capture_mode: Set(changes.capture_mode.unwrap_or(CaptureMode::Opportunistic)),
        subject_match: Set(changes.subject_match.unwrap_or(SubjectMatch::ExternalId)),
        severity_overrides: Set(changes.severity_overrides.as_ref().map(overrides_json)),
        compare_assignments: Set(changes.compare_assignments.unwrap_or(false)),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        audit::Entry {
            action: Action::BaselineProfileCreate,
            actor_user_id: Some(actor_user_id),
            workspace_id: Some(workspace_id),
            tenant_id: None,
            target: Some(("baseline_profile", profile.id)),
            metadata: json!({"name": name, "capture_mode": profile.capture_mode.as_str(),
                             "compare_assignments": profile.compare_assignments}),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(profile)
}

pub async fn update_profile(
    db: &DatabaseConnection,
    actor_user_id: i64,
    profile: baseline_profile::Model,
    changes: ProfileChanges,
) -> Result<baseline_profile::Model> {
    let mut active: baseline_profile::ActiveModel = profile.clone().into();
    let mut changed = Vec::new();
    if let Some(name) = changes.name {
        active.name = Set(validate_name("baseline profile", &name)?);
        changed.push("name");
    }
    if let Some(description) = changes.description {
        active.description = Set(description);
        changed.push("description");
    }
    if let Some(scope) = changes.scope {
        active.scope = Set(json!(scope.validated()?));
        changed.push("scope");
    }
    if let Some(mode) = changes.capture_mode {
        active.capture_mode = Set(mode);
        changed.push("capture_mode");
    }
    if let Some(matching) = changes.subject_match {
        active.subject_match = Set(matching);
        changed.push("subject_match");
    }
    if let Some(overrides) = changes.severity_overrides {
        active.severity_overrides = Set(Some(overrides_json(&overrides)));
        changed.push("severity_overrides");
    }
    if let Some(compare) = changes.compare_assignments {
        active.compare_assignments = Set(compare);
        changed.push("compare_assignments");
    }
    active.updated_at = Set(Utc::now());
    let txn = db.begin().await?;
    let updated = active.update(&txn).await?;
    audit::record(
        &txn,
        audit::Entry {
            action: Action::BaselineProfileUpdate,
            actor_user_id: Some(actor_user_id),
            workspace_id: Some(profile.workspace_id),
            tenant_id: None,
            target: Some(("baseline_profile", profile.id)),
            metadata: json!({"changed": changed}),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(updated)
}

/// Assigns a profile to a tenant of the same workspace. Assigning twice is a no-op.
pub async fn assign(
    db: &DatabaseConnection,
    actor_user_id: i64,
    profile: &baseline_profile::Model,
    tenant: &tenant::Model,
) -> Result<baseline_tenant_assignment::Model> {
    if tenant.workspace_id != profile.workspace_id {
        return Err(Error::bad_input(
            "the tenant belongs to another workspace than the profile",
        ));
    }
    if let Some(existing) = assignment(db, profile.id, tenant.id).await? {
        return Ok(existing);
    }
    let txn = db.begin().await?;
    let inserted = baseline_tenant_assignment::ActiveModel {
        workspace_id: Set(profile.workspace_id),
        baseline_profile_id: Set(profile.id),
        tenant_id: Set(tenant.id),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(&txn)
    .await;
    let row = match inserted {
        Ok(row) => row,
        // The same assignment made by a request at the same moment: the
        // answer is the one a sequential repeat gets, that assignment.
        Err(err) if crate::error::is_unique_violation(&err) => {
            txn.rollback().await?;
            return assignment(db, profile.id, tenant.id)
                .await?
                .ok_or_else(|| Error::internal(err));
        }
        Err(err) => return Err(err.into()),
    };
    audit::record(
        &txn,
        audit::Entry {
            action: Action::BaselineProfileAssign,
            actor_user_id: Some(actor_user_id),
            workspace_id: Some(profile.workspace_id),
            tenant_id: Some(tenant.id),
            target: Some(("baseline_profile", profile.id)),
            metadata: json!({"tenant_id": tenant.id}),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(row)
}

pub async fn assignment(
    db: &DatabaseConnection,
    profile_id: i64,
    tenant_id: i64,
) -> Result<Option<baseline_tenant_assignment::Model>> {
    Ok(baseline_tenant_assignment::Entity::find()
        .filter(baseline_tenant_assignment::Column::BaselineProfileId.eq(profile_id))
        .filter(baseline_tenant_assignment::Column::TenantId.eq(tenant_id))
        .one(db)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_scope_means_every_non_foundation_type() {
        let scope = Scope::default();
        let types = scope.effective_types();
        assert!(types.contains(&"deviceConfigurations".to_owned()));
        assert!(!types.contains(&"roleScopeTags".to_owned()));
        let scope = Scope {
            policy_types: vec!["deviceConfigurations".into()],
            foundation_types: vec!["roleScopeTags".into()],
        };
        assert_eq!(
            scope.effective_types(),
            vec!["deviceConfigurations", "roleScopeTags"]
        );
    }
}
