//! Assignment sets, normalized to what two tenants can share: the target
//! kind, the group's display name, the intent, and the filter's display
//! name and mode. Group and filter ids are tenant identifiers, so they are
//! resolved through the tenant's inventory (`groups`, `assignmentFilters`)
//! and never stored in the normalized form; an id the inventory does not
//! know is a warning naming the assignment, and the assignment is kept
//! with a digest of the id in place of a name. Where the tenant has no
//! inventory of that kind at all, the run gets one warning that says so
//! rather than one per assignment.
//!
//! Entra ID object ids are GUIDs. Backup and export tools (the corpus's
//! secured-workstation exports among them) write the group's display name
//! into `groupId` instead, so that the export can be imported elsewhere;
//! a `groupId` that is not a GUID is therefore taken as the name itself.
//!
//! The normalized set is `{"assignments": [...]}`, hashed by the one hash
//! function and stored as an evidence blob like content, so the diff names
//! a change `assignments[group:Sales Devices].intent`.

use std::collections::{BTreeSet, HashMap};

use entity::inventory_item;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect};
use serde_json::{Map, Value, json};

use super::hash::sha256_hex;
use super::normalize::{Normalized, NotNormalizable};
use super::registry::{
    ASSIGNMENT_FILTER_TYPE, ASSIGNMENT_GROUP_TYPE, ASSIGNMENT_SETTINGS, ASSIGNMENT_TARGETS,
    odata_type_name,
};

const GROUP_ID: &str = "groupId";
const FILTER_ID: &str = "deviceAndAppManagementAssignmentFilterId";
const FILTER_TYPE: &str = "deviceAndAppManagementAssignmentFilterType";
/// Ids looked up per statement.
const LOOKUP_CHUNK: usize = 500;

/// Display names of a tenant's groups and assignment filters, by id.
#[derive(Debug, Default)]
pub struct Names {
    groups: HashMap<String, String>,
    filters: HashMap<String, String>,
    /// Whether the tenant's inventory lists any group / filter at all.
    has_groups: bool,
    has_filters: bool,
}

/// `8-4-4-4-12` hex digits, the form of every Entra ID object id.
fn is_guid(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// The group and filter ids `payloads` assign to.
#[derive(Debug, Default)]
pub struct References {
    groups: BTreeSet<String>,
    filters: BTreeSet<String>,
}

impl References {
    pub fn of<'a>(payloads: impl Iterator<Item = &'a Value>) -> Self {
        let mut refs = References::default();
        for payload in payloads {
            let Some(items) = payload.get("assignments").and_then(Value::as_array) else {
                continue;
            };
            for target in items.iter().filter_map(|a| a.get("target")) {
                if let Some(id) = target.get(GROUP_ID).and_then(Value::as_str) {
                    refs.groups.insert(id.to_owned());
                }
                if let Some(id) = target.get(FILTER_ID).and_then(Value::as_str) {
                    refs.filters.insert(id.to_owned());
                }
            }
        }
        refs
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty() && self.filters.is_empty()
    }
}

/// The names of `refs` that the tenant's current inventory lists: one
/// statement per 500 ids of each kind.
pub async fn names<C: ConnectionTrait>(
    db: &C,
    tenant_id: i64,
    refs: &References,
) -> Result<Names, DbErr> {
    let mut names = Names::default();
    for (policy_type, ids, out, listed) in [
        (
            ASSIGNMENT_GROUP_TYPE,
            &refs.groups,
            &mut names.groups,
            &mut names.has_groups,
        ),
        (
            ASSIGNMENT_FILTER_TYPE,
            &refs.filters,
            &mut names.filters,
            &mut names.has_filters,
        ),
    ] {
        let ids: Vec<&String> = ids.iter().filter(|id| is_guid(id)).collect();
        for chunk in ids.chunks(LOOKUP_CHUNK) {
            let rows: Vec<(String, String)> = inventory_item::Entity::find()
                .select_only()
                .columns([
                    inventory_item::Column::ExternalId,
                    inventory_item::Column::DisplayName,
                ])
                .filter(inventory_item::Column::TenantId.eq(tenant_id))
                .filter(inventory_item::Column::PolicyType.eq(policy_type))
                .filter(inventory_item::Column::ExternalId.is_in(chunk.iter().map(|s| s.as_str())))
                .filter(inventory_item::Column::RemovedAt.is_null())
                .into_tuple()
                .all(db)
                .await?;
            out.extend(rows);
        }
        // Only when some id is not listed: is the inventory there at all?
        *listed = !ids.is_empty()
            && (out.len() == ids.len()
                || inventory_item::Entity::find()
                    .select_only()
                    .column(inventory_item::Column::Id)
                    .filter(inventory_item::Column::TenantId.eq(tenant_id))
                    .filter(inventory_item::Column::PolicyType.eq(policy_type))
                    .into_tuple::<i64>()
                    .one(db)
                    .await?
                    .is_some());
    }
    Ok(names)
}

/// A normalized assignment set and what could not be resolved in it.
#[derive(Debug)]
pub struct NormalizedAssignments {
    pub normalized: Normalized,
    /// One per unresolved id or unknown target, naming the assignment.
    pub warnings: Vec<String>,
    /// Ids left unresolved because the tenant has no inventory of their
    /// kind at all (counted, not warned one by one).
    pub without_inventory: u64,
}

/// A stand-in for a name the inventory did not give: a digest of the id
/// (domain-separated), so that a different unresolved target still
/// changes the hash while the id itself is not stored.
fn unresolved(kind: &str, id: &str) -> String {
    let digest = sha256_hex(format!("drift-engine {kind} id v1\0{id}").as_bytes());
    format!("<unresolved {kind} {}>", &digest[..16])
}

/// The payload's assignment set normalized, or `None` when the payload
/// carries no `assignments` (they were not captured, which is not the
/// same as none).
pub fn normalize(
    payload: &Value,
    names: &Names,
) -> Option<Result<NormalizedAssignments, NotNormalizable>> {
    let items = payload.get("assignments")?;
    let Value::Array(items) = items else {
        return Some(Err(NotNormalizable {
            reason: "`assignments` is not an array".into(),
        }));
    };
    let mut found = Found::default();
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let Some(target) = item.get("target").and_then(Value::as_object) else {
            return Some(Err(NotNormalizable {
                reason: format!("assignments[{i}] has no `target` object"),
            }));
        };
        out.push(one(i, item, target, names, &mut found));
    }
    out.sort_by_cached_key(super::hash::canonical_bytes);
    let normalized = Normalized::of(json!({ "assignments": out }));
    Some(Ok(NormalizedAssignments {
        normalized,
        warnings: found.warnings,
        without_inventory: found.without_inventory,
    }))
}

#[derive(Default)]
struct Found {
    warnings: Vec<String>,
    without_inventory: u64,
}

impl Found {
    /// The name of `id` of `kind`, or a digest and a warning.
    fn name(
        &mut self,
        kind: &str,
        id: &str,
        known: &HashMap<String, String>,
        listed: bool,
        warning: impl FnOnce() -> String,
    ) -> String {
        if kind == "group" && !is_guid(id) {
            return id.trim().to_owned();
        }
        if let Some(name) = known.get(id) {
            return name.trim().to_owned();
        }
        if listed {
            self.warnings.push(warning());
        } else {
            self.without_inventory += 1;
        }
        unresolved(kind, id)
    }
}

fn one(
    i: usize,
    item: &Value,
    target: &Map<String, Value>,
    names: &Names,
    found: &mut Found,
) -> Value {
    let odata_type = target
        .get("@odata.type")
        .and_then(Value::as_str)
        .map(odata_type_name)
        .unwrap_or("");
    let (kind, is_group) = match ASSIGNMENT_TARGETS.iter().find(|t| t.0 == odata_type) {
        Some((_, kind, is_group)) => ((*kind).to_owned(), *is_group),
        None => {
            let kind = odata_type
                .strip_prefix("microsoft.graph.")
                .unwrap_or(odata_type)
                .trim_end_matches("AssignmentTarget");
            let kind = if kind.is_empty() { "unknown" } else { kind }.to_owned();
            found.warnings.push(format!(
                "assignments[{i}] targets `{odata_type}`, which the registry does not know; it is compared as `{kind}`"
            ));
            (kind, target.contains_key(GROUP_ID))
        }
    };
    let mut out = Map::new();
    let mut label = kind.clone();
    if is_group {
        let group = match target.get(GROUP_ID).and_then(Value::as_str) {
            Some(id) => found.name("group", id, &names.groups, names.has_groups, || {
                format!(
                    "assignments[{i}] ({kind}) names group `{id}`, which the tenant's `{ASSIGNMENT_GROUP_TYPE}` inventory does not list; it is compared by a digest of the id"
                )
            }),
            None => {
                found
                    .warnings
                    .push(format!("assignments[{i}] ({kind}) names no group"));
                unresolved("group", "")
            }
        };
        label = format!("{kind}:{group}");
        out.insert("group".into(), Value::String(group));
    }
    out.insert("kind".into(), Value::String(kind.clone()));
    for key in ASSIGNMENT_SETTINGS {
        if let Some(v) = item.get(*key).filter(|v| !v.is_null()) {
            out.insert((*key).to_owned(), v.clone());
        }
    }
    let mode = target
        .get(FILTER_TYPE)
        .and_then(Value::as_str)
        .filter(|m| !m.eq_ignore_ascii_case("none"));
    if let (Some(mode), Some(id)) = (mode, target.get(FILTER_ID).and_then(Value::as_str)) {
        let filter = found.name("filter", id, &names.filters, names.has_filters, || {
            format!(
                "assignments[{i}] ({label}) uses filter `{id}`, which the tenant's `{ASSIGNMENT_FILTER_TYPE}` inventory does not list; it is compared by a digest of the id"
            )
        });
        out.insert("filter".into(), Value::String(filter));
        out.insert("filterMode".into(), Value::String(mode.to_owned()));
    }
    out.insert("target".into(), Value::String(label));
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const G1: &str = "0b9f6c1e-52a4-4c8e-9d3f-7a1e2b3c4d5e";
    const G2: &str = "5d4c3b2a-1e7a-4f3d-8e9c-4a25e1c6f9b0";
    const F1: &str = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d";

    fn names() -> Names {
        Names {
            groups: [(G1.to_owned(), "Sales Devices ".to_owned())].into(),
            filters: [(F1.to_owned(), "Corporate".to_owned())].into(),
            has_groups: true,
            has_filters: true,
        }
    }

    fn target(odata: &str, group: Option<&str>) -> Value {
        json!({"@odata.type": odata, "groupId": group,
               "deviceAndAppManagementAssignmentFilterId": null,
               "deviceAndAppManagementAssignmentFilterType": "none"})
    }

    #[test]
    fn ids_become_names_and_order_does_not_matter() {
        let a = json!({"assignments": [
            {"id": "x_1", "source": "direct", "sourceId": "x", "intent": "apply",
             "target": {"@odata.type": "#microsoft.graph.groupAssignmentTarget", "groupId": G1,
                        "deviceAndAppManagementAssignmentFilterId": F1,
                        "deviceAndAppManagementAssignmentFilterType": "include"}},
            {"id": "x_2", "target": target("#microsoft.graph.allDevicesAssignmentTarget", None)},
        ]});
        let mut b = a.clone();
        b["assignments"].as_array_mut().expect("array").reverse();
        b["assignments"][0]["id"] = json!("other-tenant-id");
        let na = normalize(&a, &names())
            .expect("present")
            .expect("normalizes");
        let nb = normalize(&b, &names())
            .expect("present")
            .expect("normalizes");
        assert_eq!(na.normalized.hash, nb.normalized.hash);
        assert!(na.warnings.is_empty(), "{:?}", na.warnings);
        let text = String::from_utf8(na.normalized.canonical.clone()).expect("utf-8");
        assert!(!text.contains(G1) && !text.contains(F1) && !text.contains("x_1"));
        let group = na.normalized.value["assignments"]
            .as_array()
            .expect("array")
            .iter()
            .find(|a| a["kind"] == "group")
            .expect("group")
            .clone();
        assert_eq!(
            group,
            json!({"target": "group:Sales Devices", "kind": "group", "group": "Sales Devices",
                   "intent": "apply", "filter": "Corporate", "filterMode": "include"})
        );
    }

    #[test]
    fn an_unknown_group_is_a_warning_and_a_digest_not_the_id() {
        let unknown = "9e8d7c6b-5a49-4382-a1b0-c9d8e7f6a5b4";
        let payload = json!({"assignments": [{"target": target(
            "#microsoft.graph.exclusionGroupAssignmentTarget", Some(unknown))}]});
        let n = normalize(&payload, &names())
            .expect("present")
            .expect("normalizes");
        assert_eq!(n.warnings.len(), 1);
        assert!(
            n.warnings[0].contains("exclusionGroup"),
            "{}",
            n.warnings[0]
        );
        let text = String::from_utf8(n.normalized.canonical).expect("utf-8");
        assert!(!text.contains(unknown) && text.contains("<unresolved group "));
        // Another unresolved group hashes differently.
        let other = json!({"assignments": [{"target": target(
            "#microsoft.graph.exclusionGroupAssignmentTarget", Some(G2))}]});
        let o = normalize(&other, &names())
            .expect("present")
            .expect("normalizes");
        assert_ne!(o.normalized.hash, n.normalized.hash);
        // Without any groups inventory, it is counted rather than warned.
        let bare = Names::default();
        let n = normalize(&payload, &bare)
            .expect("present")
            .expect("normalizes");
        assert!(n.warnings.is_empty());
        assert_eq!(n.without_inventory, 1);
    }

    #[test]
    fn a_group_name_written_by_an_export_tool_is_the_name() {
        // As in the corpus's secured-workstation exports.
        let payload = json!({"assignments": [{"target": target(
            "#microsoft.graph.exclusionGroupAssignmentTarget", Some("Emergency Breakglass"))}]});
        let n = normalize(&payload, &Names::default())
            .expect("present")
            .expect("normalizes");
        assert!(n.warnings.is_empty() && n.without_inventory == 0);
        assert_eq!(
            n.normalized.value["assignments"][0]["target"],
            "exclusionGroup:Emergency Breakglass"
        );
        assert!(is_guid(G1) && !is_guid("Emergency Breakglass") && !is_guid(&G1[1..]));
    }

    #[test]
    fn absent_is_not_empty_and_malformed_is_refused() {
        assert!(normalize(&json!({"displayName": "x"}), &names()).is_none());
        let empty = normalize(&json!({"assignments": []}), &names())
            .expect("present")
            .expect("normalizes");
        assert_eq!(empty.normalized.value, json!({"assignments": []}));
        assert!(
            normalize(&json!({"assignments": {}}), &names())
                .expect("present")
                .is_err()
        );
        assert!(
            normalize(&json!({"assignments": [{"id": "x"}]}), &names())
                .expect("present")
                .is_err()
        );
    }

    #[test]
    fn references_collect_group_and_filter_ids() {
        let payloads = [
            json!({"assignments": [{"target": {"groupId": G1,
            "deviceAndAppManagementAssignmentFilterId": F1}}]}),
            json!([{"x": 1}]),
        ];
        let refs = References::of(payloads.iter());
        assert_eq!(refs.groups.iter().collect::<Vec<_>>(), [G1]);
        assert_eq!(refs.filters.iter().collect::<Vec<_>>(), [F1]);
    }
}
