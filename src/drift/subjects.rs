//! Presence and subject keys: which tenant subjects exist now, which types
//! the latest inventory syncs covered, and how subjects match across tenants.

use std::collections::BTreeMap;

use entity::enums::SubjectMatch;
use sea_orm::{ConnectionTrait, DbErr};
use serde_json::Value;

use crate::evidence::registry;
use crate::evidence::resolver::PresentSubject;

/// The key that identifies a subject of `policy_type` across tenants. Under
/// display-name matching it is the kind of policy and its name; a type
/// annotation that names the collection's declared type counts as none, as
/// it does in content.
pub fn subject_key(
    mode: SubjectMatch,
    policy_type: &str,
    external_id: &str,
    display_name: &str,
    meta: Option<&Value>,
) -> String {
    match mode {
        SubjectMatch::ExternalId => external_id.to_owned(),
        SubjectMatch::DisplayName => {
            let odata_type = registry::rule_for(policy_type)
                .0
                .root_odata_type(
                    meta.and_then(|m| m.get("@odata.type"))
                        .and_then(Value::as_str),
                )
                .unwrap_or_default();
            format!("{}|{}", odata_type, display_name.trim())
        }
    }
}

/// The key of a present subject; the meta document is parsed only when
/// subjects match by display name (and was only read then).
pub fn key_of(mode: SubjectMatch, subject: &PresentSubject) -> String {
    let meta = match mode {
        SubjectMatch::ExternalId => None,
        SubjectMatch::DisplayName => subject
            .meta_text
            .as_deref()
            .and_then(|text| serde_json::from_str::<Value>(text).ok()),
    };
    subject_key(
        mode,
        &subject.policy_type,
        &subject.external_id,
        &subject.display_name,
        meta.as_ref(),
    )
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TypeCoverage {
    /// The latest sync that reported the type succeeded (run id).
    Covered(i64),
    /// The latest sync that reported the type failed (run id).
    Failed(i64),
    /// The latest sync listed the type empty, or much shorter than its
    /// last full listing, and no second sync has confirmed it yet (run id,
    /// warning code).
    Unconfirmed(i64, String),
    /// No recent sync reported the type.
    NeverSynced,
}

/// Per type, what the latest inventory sync that reported it says.
pub async fn inventory_coverage<C: ConnectionTrait>(
    db: &C,
    tenant_id: i64,
    policy_types: &[String],
) -> Result<BTreeMap<String, TypeCoverage>, DbErr> {
    let runs = crate::evidence::ingest::recent_inventory_syncs(db, tenant_id).await?;
    let mut out = BTreeMap::new();
    for policy_type in policy_types {
        let found = runs.iter().find_map(|(id, context)| {
            let entry = context
                .get("inventory_coverage")?
                .get("policy_types")?
                .get(policy_type)?;
            Some(match entry.get("status")?.as_str()? {
                "succeeded" => TypeCoverage::Covered(*id),
                "unconfirmed" => TypeCoverage::Unconfirmed(
                    *id,
                    entry
                        .get("reason_code")
                        .and_then(Value::as_str)
                        .unwrap_or(crate::evidence::ingest::EMPTY_LISTING_UNCONFIRMED)
                        .to_owned(),
                ),
                _ => TypeCoverage::Failed(*id),
            })
        });
        out.insert(
            policy_type.clone(),
            found.unwrap_or(TypeCoverage::NeverSynced),
        );
    }
    Ok(out)
}
