//! Presence and subject keys: which tenant subjects exist now, which types
//! the latest inventory syncs covered, and how subjects match across tenants.

use std::collections::BTreeMap;

use entity::enums::{RunType, SubjectMatch};
use entity::{inventory_item, operation_run};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde_json::Value;

/// How far back to look for the sync that last covered a type.
const COVERAGE_LOOKBACK_RUNS: u64 = 200;

/// A present tenant subject.
#[derive(Clone, Debug)]
pub struct PresentSubject {
    pub policy_type: String,
    pub external_id: String,
    pub display_name: String,
    pub subject_key: String,
}

/// The key that identifies a subject across tenants.
pub fn subject_key(
    mode: SubjectMatch,
    external_id: &str,
    display_name: &str,
    meta: Option<&Value>,
) -> String {
    match mode {
        SubjectMatch::ExternalId => external_id.to_owned(),
        SubjectMatch::DisplayName => {
            let odata_type = meta
                .and_then(|m| m.get("@odata.type"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            format!("{}|{}", odata_type, display_name.trim())
        }
    }
}

/// Subjects of the given types that the latest sync of their type listed
/// (one statement per call, whatever the number of types).
pub async fn present_subjects<C: ConnectionTrait>(
    db: &C,
    tenant_id: i64,
    policy_types: &[String],
    mode: SubjectMatch,
) -> Result<Vec<PresentSubject>, DbErr> {
    if policy_types.is_empty() {
        return Ok(Vec::new());
    }
    let query = inventory_item::Entity::find()
        .select_only()
        .columns([
            inventory_item::Column::PolicyType,
            inventory_item::Column::ExternalId,
            inventory_item::Column::DisplayName,
        ])
        .filter(inventory_item::Column::TenantId.eq(tenant_id))
        .filter(inventory_item::Column::PolicyType.is_in(policy_types.to_vec()))
        .filter(inventory_item::Column::RemovedAt.is_null())
        .order_by_asc(inventory_item::Column::Id);
    let subject = |policy_type: String,
                   external_id: String,
                   display_name: String,
                   meta: Option<&Value>| PresentSubject {
        subject_key: subject_key(mode, &external_id, &display_name, meta),
        policy_type,
        external_id,
        display_name,
    };
    // The meta document is only read when subjects match by display name.
    Ok(match mode {
        SubjectMatch::ExternalId => {
            let rows: Vec<(String, String, String)> = query.into_tuple().all(db).await?;
            rows.into_iter()
                .map(|(t, id, name)| subject(t, id, name, None))
                .collect()
        }
        SubjectMatch::DisplayName => {
            let rows: Vec<(String, String, String, Value)> = query
                .column(inventory_item::Column::MetaJsonb)
                .into_tuple()
                .all(db)
                .await?;
            rows.into_iter()
                .map(|(t, id, name, meta)| subject(t, id, name, Some(&meta)))
                .collect()
        }
    })
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TypeCoverage {
    /// The latest sync that reported the type succeeded (run id).
    Covered(i64),
    /// The latest sync that reported the type failed (run id).
    Failed(i64),
    /// No recent sync reported the type.
    NeverSynced,
}

/// Per type, what the latest inventory sync that reported it says.
pub async fn inventory_coverage<C: ConnectionTrait>(
    db: &C,
    tenant_id: i64,
    policy_types: &[String],
) -> Result<BTreeMap<String, TypeCoverage>, DbErr> {
    let runs: Vec<(i64, Value)> = operation_run::Entity::find()
        .select_only()
        .columns([operation_run::Column::Id, operation_run::Column::Context])
        .filter(operation_run::Column::TenantId.eq(tenant_id))
        .filter(operation_run::Column::RunType.eq(RunType::InventorySync))
        .order_by_desc(operation_run::Column::Id)
        .limit(COVERAGE_LOOKBACK_RUNS)
        .into_tuple()
        .all(db)
        .await?;
    let mut out = BTreeMap::new();
    for policy_type in policy_types {
        let found = runs.iter().find_map(|(id, context)| {
            let status = context
                .get("inventory_coverage")?
                .get("policy_types")?
                .get(policy_type)?
                .get("status")?
                .as_str()?;
            Some(if status == "succeeded" {
                TypeCoverage::Covered(*id)
            } else {
                TypeCoverage::Failed(*id)
            })
        });
        out.insert(
            policy_type.clone(),
            found.unwrap_or(TypeCoverage::NeverSynced),
        );
    }
    Ok(out)
}
