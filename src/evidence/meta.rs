//! The inventory meta contract: an explicit, versioned list of inventory
//! fields, hashed like content. Meta evidence says "the same kind of thing
//! with the same name and shape", not "the same settings".

use serde_json::{Map, Value};

use super::hash::hash_value;
use super::registry;

pub const META_CONTRACT_SOURCE: &str = "inventory_meta_contract.v1";

/// Dotted paths read from an inventory item's meta. None carries a version
/// counter or a timestamp, so an unchanged policy keeps its meta hash.
pub const META_CONTRACT_V1: &[&str] = &[
    "@odata.type",
    "displayName",
    "name",
    "description",
    "platform",
    "platforms",
    "technologies",
    "templateId",
    "templateReference.templateId",
    "templateReference.templateFamily",
    "settingCount",
];

/// The meta hash of an inventory item of `policy_type`, or `None` when its
/// meta has none of the contract's fields (an evidence gap).
pub fn meta_hash(policy_type: &str, meta: &Value) -> Option<String> {
    let fields = contract_fields(policy_type, meta);
    if fields.is_empty() {
        return None;
    }
    Some(hash_value(&Value::Object(Map::from_iter([
        (
            "contract".to_owned(),
            Value::String(META_CONTRACT_SOURCE.to_owned()),
        ),
        ("fields".to_owned(), Value::Object(fields)),
    ]))))
}

/// The contract's fields present in `meta` (strings trimmed, nulls skipped,
/// and an `@odata.type` that names the type's declared type left out, as
/// the normalizer leaves it out of content).
pub fn contract_fields(policy_type: &str, meta: &Value) -> Map<String, Value> {
    let (rule, _) = registry::rule_for(policy_type);
    let mut fields = Map::new();
    for path in META_CONTRACT_V1 {
        let found = match meta.get(*path) {
            Some(v) => Some(v),
            None => path.split('.').try_fold(meta, |v, s| v.get(s)),
        };
        match found {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if *path == "@odata.type" => {
                if let Some(t) = rule.root_odata_type(Some(s)) {
                    fields.insert((*path).to_owned(), Value::String(t));
                }
            }
            Some(Value::String(s)) => {
                fields.insert((*path).to_owned(), Value::String(s.trim().to_owned()));
            }
            Some(other) => {
                fields.insert((*path).to_owned(), other.clone());
            }
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_contract_fields_count() {
        let t = "deviceConfigurations";
        let a = json!({"@odata.type": "#x", "displayName": "P ", "version": 3, "lastModifiedDateTime": "2024"});
        let b = json!({"@odata.type": "#x", "displayName": "P", "version": 9, "id": "other"});
        assert_eq!(meta_hash(t, &a), meta_hash(t, &b));
        assert_ne!(
            meta_hash(t, &a),
            meta_hash(t, &json!({"@odata.type": "#y", "displayName": "P"}))
        );
        assert_eq!(meta_hash(t, &json!({"version": 1, "id": "x"})), None);
        assert_eq!(meta_hash(t, &json!("not an object")), None);
    }

    #[test]
    fn the_declared_root_type_is_the_same_as_none() {
        let t = "configurationPolicies";
        let bare = json!({"name": "P", "platforms": "windows10"});
        let typed = json!({"@odata.type": "#microsoft.graph.deviceManagementConfigurationPolicy", "name": "P", "platforms": "windows10"});
        assert_eq!(meta_hash(t, &bare), meta_hash(t, &typed));
        let derived = json!({"@odata.type": "#microsoft.graph.windows10GeneralConfiguration", "displayName": "P"});
        let other = json!({"@odata.type": "microsoft.graph.iosGeneralDeviceConfiguration", "displayName": "P"});
        assert_ne!(
            meta_hash("deviceConfigurations", &derived),
            meta_hash("deviceConfigurations", &other)
        );
    }
}
