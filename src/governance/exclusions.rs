//! Exclusions: what operators tell the compares of a profile to ignore. A
//! rule names a policy type, a subject glob (matched against the subject
//! key and the display name), a setting-path glob, or several of these.
//! Without a path glob a rule excludes whole subjects; with one it drops
//! the matching setting changes of subjects that differ at content
//! fidelity (meta-fidelity subjects have no setting paths, so they can
//! only be excluded whole). Rules apply in the order they were made; of
//! those that match, the last decides, so a `!` pattern takes back what an
//! earlier rule excluded.

use chrono::{DateTime, Utc};
use entity::{baseline_profile, exclusion, tenant};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    QueryFilter, QueryOrder, Set, TransactionTrait,
};
use serde_json::json;

use super::patterns::{self, Pattern};
use crate::audit::{self, Action};
use crate::error::{Error, Result};

pub struct NewExclusion {
    pub tenant: Option<tenant::Model>,
    pub policy_type: Option<String>,
    pub subject_pattern: Option<String>,
    pub setting_path_pattern: Option<String>,
    pub reason: String,
    pub expires_at: Option<DateTime<Utc>>,
}

fn parse_field(field: &str, text: &Option<String>) -> Result<Option<Pattern>> {
    text.as_deref()
        .map(|t| Pattern::parse(t).map_err(|e| Error::bad_input(format!("{field} {e}"))))
        .transpose()
}

fn blank_to_none(text: Option<String>) -> Option<String> {
    text.filter(|t| !t.trim().is_empty())
}

/// Creates an exclusion on the profile, audited with its reason.
pub async fn create(
    db: &DatabaseConnection,
    actor_user_id: i64,
    profile: &baseline_profile::Model,
    new: NewExclusion,
) -> Result<exclusion::Model> {
    let policy_type = blank_to_none(new.policy_type).map(|t| t.trim().to_owned());
    let subject_pattern = blank_to_none(new.subject_pattern);
    let setting_path_pattern = blank_to_none(new.setting_path_pattern);
    parse_field("subjectPattern", &subject_pattern)?;
    parse_field("settingPathPattern", &setting_path_pattern)?;
    if policy_type.is_none() && subject_pattern.is_none() && setting_path_pattern.is_none() {
        return Err(Error::bad_input(
            "an exclusion names a policyType, a subjectPattern or a settingPathPattern; one that names none would exclude everything",
        ));
    }
    if let Some(t) = &policy_type
        && (t.chars().count() > 100 || t.contains('\0'))
    {
        return Err(Error::bad_input("policyType is longer than 100 characters"));
    }
    let reason = new.reason.trim().to_owned();
    if reason.is_empty() {
        return Err(Error::bad_input(
            "reason is required: say why this drift does not matter",
        ));
    }
    if reason.chars().count() > 2000 || reason.contains('\0') {
        return Err(Error::bad_input("reason is longer than 2,000 characters"));
    }
    if new.expires_at.is_some_and(|at| at <= Utc::now()) {
        return Err(Error::bad_input("expiresAt is in the past"));
    }
    if let Some(t) = &new.tenant
        && t.workspace_id != profile.workspace_id
    {
        return Err(Error::bad_input(
            "the tenant belongs to another workspace than the profile",
        ));
    }
    let txn = db.begin().await?;
    let row = exclusion::ActiveModel {
        workspace_id: Set(profile.workspace_id),
        baseline_profile_id: Set(profile.id),
        tenant_id: Set(new.tenant.as_ref().map(|t| t.id)),
        policy_type: Set(policy_type),
        subject_pattern: Set(subject_pattern),
        setting_path_pattern: Set(setting_path_pattern),
        reason: Set(reason),
        expires_at: Set(new.expires_at),
        created_by_user_id: Set(Some(actor_user_id)),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        audit::Entry {
            action: Action::ExclusionCreate,
            actor_user_id: Some(actor_user_id),
            workspace_id: Some(profile.workspace_id),
            tenant_id: row.tenant_id,
            target: Some(("exclusion", row.id)),
            metadata: json!({
                "baseline_profile_id": profile.id,
                "policy_type": row.policy_type,
                "subject_pattern": row.subject_pattern,
                "setting_path_pattern": row.setting_path_pattern,
                "reason": row.reason,
                "expires_at": row.expires_at,
            }),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(row)
}

/// Deletes an exclusion, audited; the next compare finds what it hid.
pub async fn delete(
    db: &DatabaseConnection,
    actor_user_id: i64,
    row: &exclusion::Model,
) -> Result<()> {
    let txn = db.begin().await?;
    exclusion::Entity::delete_by_id(row.id).exec(&txn).await?;
    audit::record(
        &txn,
        audit::Entry {
            action: Action::ExclusionDelete,
            actor_user_id: Some(actor_user_id),
            workspace_id: Some(row.workspace_id),
            tenant_id: row.tenant_id,
            target: Some(("exclusion", row.id)),
            metadata: json!({"baseline_profile_id": row.baseline_profile_id}),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

struct Rule {
    policy_type: Option<String>,
    subject: Option<Pattern>,
    path: Option<Pattern>,
}

impl Rule {
    fn type_matches(&self, policy_type: &str) -> bool {
        self.policy_type.as_deref().is_none_or(|t| t == policy_type)
    }

    /// The subject pattern, matched against the key or the name; `None`
    /// for a rule without one.
    fn subject_match(&self, key: &str, name: &str) -> Option<bool> {
        self.subject
            .as_ref()
            .map(|p| p.matches(key) || p.matches(name))
    }
}

/// The exclusions in force for one compare of a profile on a tenant.
#[derive(Default)]
pub struct Rules {
    rules: Vec<Rule>,
}

impl Rules {
    /// The profile's unexpired exclusions for `tenant_id` (or every
    /// tenant), in the order they were made: one query.
    pub async fn active<C: ConnectionTrait>(
        db: &C,
        profile_id: i64,
        tenant_id: i64,
        now: DateTime<Utc>,
    ) -> std::result::Result<Self, sea_orm::DbErr> {
        let rows = exclusion::Entity::find()
            .filter(exclusion::Column::BaselineProfileId.eq(profile_id))
            .filter(
                Condition::any()
                    .add(exclusion::Column::TenantId.is_null())
                    .add(exclusion::Column::TenantId.eq(tenant_id)),
            )
            .filter(
                Condition::any()
                    .add(exclusion::Column::ExpiresAt.is_null())
                    .add(exclusion::Column::ExpiresAt.gt(now)),
            )
            .order_by_asc(exclusion::Column::Id)
            .all(db)
            .await?;
        let rules = rows
            .into_iter()
            .filter_map(|r| {
                // Stored patterns parsed when they were made; one that no
                // longer parses (a changed grammar) is skipped, not fatal.
                let parse = |t: &Option<String>| match t.as_deref().map(Pattern::parse) {
                    None => Ok(None),
                    Some(Ok(p)) => Ok(Some(p)),
                    Some(Err(e)) => Err(e),
                };
                match (parse(&r.subject_pattern), parse(&r.setting_path_pattern)) {
                    (Ok(subject), Ok(path)) => Some(Rule {
                        policy_type: r.policy_type,
                        subject,
                        path,
                    }),
                    _ => {
                        tracing::warn!(
                            exclusion_id = r.id,
                            "a stored exclusion pattern does not parse; skipped"
                        );
                        None
                    }
                }
            })
            .collect();
        Ok(Self { rules })
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Whether the subject is excluded whole.
    pub fn subject_excluded(&self, policy_type: &str, key: &str, name: &str) -> bool {
        let mut decision = false;
        for rule in self
            .rules
            .iter()
            .filter(|r| r.path.is_none() && r.type_matches(policy_type))
        {
            match (&rule.subject, rule.subject_match(key, name)) {
                (None, _) => decision = true,
                (Some(p), Some(true)) => decision = !p.negated,
                _ => {}
            }
        }
        decision
    }

    /// The setting-path patterns that apply to the subject, in order.
    pub fn path_patterns(&self, policy_type: &str, key: &str, name: &str) -> Vec<&Pattern> {
        self.rules
            .iter()
            .filter(|r| r.type_matches(policy_type))
            .filter(|r| match (&r.subject, r.subject_match(key, name)) {
                (None, _) => true,
                (Some(p), Some(m)) => m != p.negated,
                (Some(_), None) => false,
            })
            .filter_map(|r| r.path.as_ref())
            .collect()
    }
}

/// The setting-path patterns a compare stored with a finding
/// (`evidence.excluded_paths`).
pub fn stored_patterns(evidence: &serde_json::Value) -> Vec<Pattern> {
    evidence["excluded_paths"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(serde_json::Value::as_str)
                .filter_map(|p| Pattern::parse(p).ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Whether `path` is excluded by `patterns` (the last that matches decides).
pub fn path_excluded<'a>(patterns: impl IntoIterator<Item = &'a Pattern>, path: &str) -> bool {
    patterns::decide(patterns, path) == Some(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(t: Option<&str>, s: Option<&str>, p: Option<&str>) -> Rule {
        Rule {
            policy_type: t.map(str::to_owned),
            subject: s.map(|s| Pattern::parse(s).expect("pattern")),
            path: p.map(|p| Pattern::parse(p).expect("pattern")),
        }
    }

    #[test]
    fn subject_rules_by_type_key_or_name_and_negation() {
        let rules = Rules {
            rules: vec![
                rule(Some("deviceConfigurations"), Some("Legacy*"), None),
                rule(None, Some("!Legacy keep"), None),
                rule(Some("roleScopeTags"), None, None),
            ],
        };
        assert!(rules.subject_excluded("deviceConfigurations", "id-1", "Legacy Wi-Fi"));
        assert!(!rules.subject_excluded("deviceConfigurations", "id-2", "Legacy keep"));
        assert!(!rules.subject_excluded("configurationPolicies", "id-1", "Legacy Wi-Fi"));
        assert!(rules.subject_excluded("roleScopeTags", "x", "Default"));
        assert!(
            rules
                .path_patterns("deviceConfigurations", "id-1", "Legacy Wi-Fi")
                .is_empty()
        );
    }

    #[test]
    fn path_rules_apply_to_the_subjects_they_name() {
        let rules = Rules {
            rules: vec![
                rule(None, None, Some("description")),
                rule(
                    Some("deviceConfigurations"),
                    Some("Kiosk*"),
                    Some("**.wallpaper*"),
                ),
            ],
        };
        let kiosk = rules.path_patterns("deviceConfigurations", "k", "Kiosk 1");
        assert_eq!(kiosk.len(), 2);
        assert!(path_excluded(
            kiosk.iter().copied(),
            "lockScreen.wallpaperUrl"
        ));
        assert!(!path_excluded(kiosk.iter().copied(), "passwordRequired"));
        assert_eq!(
            rules
                .path_patterns("deviceConfigurations", "o", "Office")
                .len(),
            1
        );
        assert!(!rules.subject_excluded("deviceConfigurations", "k", "Kiosk 1"));
    }
}
