//! Property tests of the hash: reordering keys or set elements never changes
//! it; changing any non-volatile value always does; the canonical form is
//! serde_jcs's, byte for byte, and the text sent to PostgreSQL is serde_json's
//! with keys in jsonb's order.

use drift_engine::db::{jsonb_key_order, jsonb_text};
use drift_engine::evidence::hash::canonical_bytes;
use drift_engine::evidence::normalize::normalize;
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{Map, Value, json};

use crate::corpus::reversed_keys;

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<bool>().prop_map(Value::Bool),
        (-1000i64..1000).prop_map(|n| json!(n)),
        "[a-z]{0,8}".prop_map(Value::String),
    ]
}

/// Arbitrary nested content under keys that no rule treats specially.
fn content() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(3, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("k[a-z]{1,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A settings-catalog-like policy: settings keyed by definition id, OMA
/// settings keyed by URI, and free content.
fn policy() -> impl Strategy<Value = Value> {
    (
        prop::collection::btree_map("d[a-z]{1,8}", content(), 0..6),
        prop::collection::btree_map("./[a-z]{1,8}", leaf(), 0..4),
        prop::collection::btree_map("k[a-z]{1,6}", content(), 0..5),
    )
        .prop_map(|(settings, oma, rest)| {
            let mut doc: Map<String, Value> = rest.into_iter().collect();
            doc.insert("@odata.type".into(), json!("#microsoft.graph.example"));
            doc.insert(
                "settings".into(),
                Value::Array(
                    settings
                        .into_iter()
                        .map(|(id, v)| json!({"settingInstance": {"settingDefinitionId": id, "value": v}}))
                        .collect(),
                ),
            );
            doc.insert(
                "omaSettings".into(),
                Value::Array(oma.into_iter().map(|(uri, v)| json!({"omaUri": uri, "value": v})).collect()),
            );
            Value::Object(doc)
        })
}

/// Reverses every array of objects (sets and records); scalar lists keep
/// their order because their order is content.
fn shuffle_sets(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), shuffle_sets(v)))
                .collect(),
        ),
        Value::Array(items) => {
            let mut items: Vec<Value> = items.iter().map(shuffle_sets).collect();
            if items.iter().all(Value::is_object) {
                items.reverse();
                if items.len() > 2 {
                    items.rotate_left(1);
                }
            }
            Value::Array(items)
        }
        other => other.clone(),
    }
}

fn leaf_count(value: &Value) -> usize {
    match value {
        Value::Object(m) => m.values().map(leaf_count).sum(),
        Value::Array(a) => a.iter().map(leaf_count).sum(),
        _ => 1,
    }
}

/// Changes the n-th leaf (depth-first) to a different value.
fn mutate_leaf(value: &mut Value, n: &mut usize) -> bool {
    match value {
        Value::Object(m) => m.values_mut().any(|v| mutate_leaf(v, n)),
        Value::Array(a) => a.iter_mut().any(|v| mutate_leaf(v, n)),
        leaf => {
            if *n > 0 {
                *n -= 1;
                return false;
            }
            *leaf = match leaf {
                Value::Bool(b) => Value::Bool(!*b),
                Value::Number(x) => json!(x.as_i64().unwrap_or_default() + 1),
                Value::String(s) => Value::String(format!("{s}x")),
                Value::Null => json!(0),
                _ => unreachable!("containers are handled above"),
            };
            true
        }
    }
}

/// The oracle for `jsonb_text`: every key and scalar written by serde_json
/// itself, members sorted with the full comparator.
fn jsonb_ordered_by_serde_json(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            members.sort_by(|a, b| jsonb_key_order(a.0, b.0));
            let members: Vec<String> = members
                .into_iter()
                .map(|(k, v)| {
                    format!(
                        "{}:{}",
                        serde_json::to_string(k).expect("a key"),
                        jsonb_ordered_by_serde_json(v)
                    )
                })
                .collect();
            format!("{{{}}}", members.join(","))
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(jsonb_ordered_by_serde_json).collect();
            format!("[{}]", items.join(","))
        }
        scalar => serde_json::to_string(scalar).expect("a scalar"),
    }
}

/// Any JSON: keys and strings over the whole of Unicode (surrogate pairs,
/// the private use area, controls, quotes), integers of every size and
/// floats of every magnitude.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("JSON numbers are finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((any::<String>(), inner), 0..6)
                .prop_map(|members| Value::Object(members.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn canonical_form_is_serde_jcs_byte_for_byte(doc in any_json()) {
        prop_assert_eq!(canonical_bytes(&doc), serde_jcs::to_vec(&doc).expect("serializes"));
    }

    #[test]
    fn jsonb_text_is_serde_json_with_keys_in_jsonb_order(doc in any_json()) {
        prop_assert_eq!(jsonb_text(&doc), jsonb_ordered_by_serde_json(&doc));
    }

    #[test]
    fn reordering_keys_and_sets_keeps_the_hash(doc in policy()) {
        let reference = normalize("configurationPolicies", &doc).expect("normalizes").hash;
        let reordered: Value = serde_json::from_str(&reversed_keys(&shuffle_sets(&doc), false, 0)).expect("json");
        prop_assert_eq!(normalize("configurationPolicies", &reordered).expect("normalizes").hash, reference);
    }

    #[test]
    fn changing_any_value_changes_the_hash(doc in policy(), pick in any::<Index>()) {
        let leaves = leaf_count(&doc);
        prop_assume!(leaves > 1);
        let reference = normalize("configurationPolicies", &doc).expect("normalizes").hash;
        let mut changed = doc.clone();
        let mut n = pick.index(leaves);
        prop_assert!(mutate_leaf(&mut changed, &mut n));
        prop_assert_ne!(normalize("configurationPolicies", &changed).expect("normalizes").hash, reference);
    }
}
