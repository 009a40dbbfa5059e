//! Setting-level differences between two normalized documents. Set elements
//! are addressed by their key, never by position:
//! `settings[device_vendor_msft_policy_config_defender_allowarchivescanning].settingInstance...`.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::hash::{canonical_bytes, sha256_hex};
use super::normalize::element_key;
use super::registry;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Added,
    Removed,
    Modified,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SettingChange {
    pub path: String,
    pub change: ChangeKind,
    pub baseline: Option<Value>,
    pub current: Option<Value>,
}

/// The changes that turn `baseline` into `current`, in path order.
pub fn diff(baseline: &Value, current: &Value) -> Vec<SettingChange> {
    let mut out = Vec::new();
    walk("", "", baseline, current, &mut out);
    out
}

/// The blobs a finding's changes are diffed from, as its evidence names
/// them: each side's content where both sides are content and their
/// hashes differ, and each side's assignment set where both have one and
/// they differ (the compare records assignment hashes only when it
/// compared them).
pub fn finding_blob_pairs(evidence: &Value) -> Vec<(String, String)> {
    let side = |key: &str| &evidence[key];
    let (base, cur) = (side("baseline"), side("current"));
    let mut pairs = Vec::new();
    fn content(s: &Value) -> Option<&str> {
        (s["provenance"]["fidelity"] == "content")
            .then(|| s["hash"].as_str())
            .flatten()
    }
    if let (Some(a), Some(b)) = (content(base), content(cur))
        && a != b
    {
        pairs.push((a.to_owned(), b.to_owned()));
    }
    if let (Some(a), Some(b)) = (
        base["assignments_hash"].as_str(),
        cur["assignments_hash"].as_str(),
    ) && a != b
    {
        pairs.push((a.to_owned(), b.to_owned()));
    }
    pairs
}

/// Why a finding's changes cannot be listed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unlisted {
    /// No pair of sides to diff: a meta-fidelity comparison.
    NoContent,
    /// A side's blob is not stored.
    NotStored,
    /// A side's blob is stored but could not be read.
    Unreadable,
}

/// The changes of a finding from the blobs of `finding_blob_pairs`,
/// content first, then assignments (whose paths all start with
/// `assignments[`), each in path order.
pub fn finding_changes(
    evidence: &Value,
    blobs: &std::collections::HashMap<String, Option<Value>>,
) -> Result<Vec<SettingChange>, Unlisted> {
    let pairs = finding_blob_pairs(evidence);
    if pairs.is_empty() {
        return Err(Unlisted::NoContent);
    }
    let mut out = Vec::new();
    for (a, b) in pairs {
        let (Some(a), Some(b)) = (blobs.get(&a), blobs.get(&b)) else {
            return Err(Unlisted::NotStored);
        };
        let (Some(a), Some(b)) = (a, b) else {
            return Err(Unlisted::Unreadable);
        };
        out.extend(diff(a, b));
    }
    Ok(out)
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn walk(path: &str, array_name: &str, a: &Value, b: &Value, out: &mut Vec<SettingChange>) {
    match (a, b) {
        (Value::Object(ma), Value::Object(mb)) => {
            let keys: std::collections::BTreeSet<&String> = ma.keys().chain(mb.keys()).collect();
            for key in keys {
                let child = join(path, key);
                match (ma.get(key), mb.get(key)) {
                    (Some(va), Some(vb)) => walk(&child, key, va, vb, out),
                    (Some(va), None) => {
                        out.push(change(child, ChangeKind::Removed, Some(va), None))
                    }
                    (None, Some(vb)) => out.push(change(child, ChangeKind::Added, None, Some(vb))),
                    (None, None) => {}
                }
            }
        }
        (Value::Array(xa), Value::Array(xb)) if is_records(xa) && is_records(xb) => {
            let (la, lb) = if registry::PAIRED_RECORDS.contains(&array_name) {
                paired(xa, xb)
            } else {
                (labelled(array_name, xa), labelled(array_name, xb))
            };
            let labels: std::collections::BTreeSet<&String> = la.keys().chain(lb.keys()).collect();
            for label in labels {
                let child = format!("{path}[{label}]");
                match (la.get(label), lb.get(label)) {
                    (Some(va), Some(vb)) => walk(&child, "", va, vb, out),
                    (Some(va), None) => {
                        out.push(change(child, ChangeKind::Removed, Some(va), None))
                    }
                    (None, Some(vb)) => out.push(change(child, ChangeKind::Added, None, Some(vb))),
                    (None, None) => {}
                }
            }
        }
        _ if a != b => out.push(change(
            path.to_owned(),
            ChangeKind::Modified,
            Some(a),
            Some(b),
        )),
        _ => {}
    }
}

/// Keyless records paired across the two sides: elements equal on both
/// sides are left out (they hold no change), the rest are paired in order
/// and labelled by their ordinal among them; the longer side's extras are
/// added or removed. Labels are zero-padded so that they sort as numbers.
fn paired<'a>(
    xa: &'a [Value],
    xb: &'a [Value],
) -> (BTreeMap<String, &'a Value>, BTreeMap<String, &'a Value>) {
    let mut unmatched_b: Vec<Option<&Value>> = xb.iter().map(Some).collect();
    let mut rest_a = Vec::new();
    for a in xa {
        match unmatched_b.iter_mut().find(|b| b.is_some_and(|b| b == a)) {
            Some(slot) => *slot = None,
            None => rest_a.push(a),
        }
    }
    let rest_b: Vec<&Value> = unmatched_b.into_iter().flatten().collect();
    let width = rest_a.len().max(rest_b.len()).to_string().len();
    let label = |i: usize| format!("{i:0width$}");
    (
        rest_a
            .into_iter()
            .enumerate()
            .map(|(i, v)| (label(i), v))
            .collect(),
        rest_b
            .into_iter()
            .enumerate()
            .map(|(i, v)| (label(i), v))
            .collect(),
    )
}

fn is_records(items: &[Value]) -> bool {
    items.iter().all(Value::is_object)
}

/// Elements by label: their set key where the array has one, otherwise a
/// short content hash (so an edited keyless record shows as removed + added).
fn labelled<'a>(array_name: &str, items: &'a [Value]) -> BTreeMap<String, &'a Value> {
    let key = registry::set_key(array_name);
    let mut out = BTreeMap::new();
    for item in items {
        let base = key
            .and_then(|k| element_key(item, k))
            .unwrap_or_else(|| format!("#{}", &sha256_hex(&canonical_bytes(item))[..12]));
        let mut label = base.clone();
        let mut n = 2;
        while out.contains_key(&label) {
            label = format!("{base}~{n}");
            n += 1;
        }
        out.insert(label, item);
    }
    out
}

fn change(path: String, kind: ChangeKind, a: Option<&Value>, b: Option<&Value>) -> SettingChange {
    SettingChange {
        path,
        change: kind,
        baseline: a.map(shown),
        current: b.map(shown),
    }
}

/// A value as a change shows it: a stored secret's digest stays in the
/// database (it would let a reader test guesses), so a changed secret is
/// shown as modified with both sides the plain marker.
fn shown(value: &Value) -> Value {
    match value {
        Value::String(s) if s.starts_with(registry::SECRET_STORED_PREFIX) => {
            Value::String(registry::SECRET_MARKER.to_owned())
        }
        Value::Array(items) => Value::Array(items.iter().map(shown).collect()),
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), shown(v))).collect())
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_changed_secret_is_modified_with_both_sides_redacted() {
        let doc = |secret: &str| {
            crate::evidence::normalize::normalize(
                "configurationPolicies",
                &json!({"settings": [{"settingInstance": {
                    "settingDefinitionId": "s_key",
                    "simpleSettingValue": {
                        "@odata.type": "#microsoft.graph.deviceManagementConfigurationSecretSettingValue",
                        "value": secret, "valueState": "notEncrypted"}}}],
                    "added": {"preSharedKey": "x", "wiFi": {"@odata.type": "#microsoft.graph.deviceManagementConfigurationSecretSettingValue", "value": "y"}}}),
            )
            .expect("normalizes")
            .value
        };
        let mut without = doc("old");
        without.as_object_mut().expect("object").remove("added");
        let changes = diff(&without, &doc("new"));
        let text = serde_json::to_string(&changes).expect("json");
        assert!(
            !text.contains("sha256:") && !text.contains("old") && !text.contains("\"y\""),
            "{text}"
        );
        let modified = changes
            .iter()
            .find(|c| c.path.ends_with("simpleSettingValue.value"))
            .expect("the secret changed");
        assert_eq!(modified.change, ChangeKind::Modified);
        assert_eq!(modified.baseline, Some(json!(registry::SECRET_MARKER)));
        assert_eq!(modified.current, Some(json!(registry::SECRET_MARKER)));
    }

    #[test]
    fn a_sub_setting_of_a_group_collection_is_named_by_its_definition_chain() {
        let policy = |child_value: &str, extra_group: bool| {
            let group = |v: &str| {
                json!({"children": [
                    {"settingDefinitionId": "g_name", "simpleSettingValue": {"value": "rule"}},
                    {"settingDefinitionId": "g_action", "choiceSettingValue": {"value": v, "children": []}}
                ]})
            };
            let mut groups = vec![group(child_value)];
            if extra_group {
                groups.push(group("g_action_9"));
            }
            crate::evidence::normalize::normalize(
                "configurationPolicies",
                &json!({"settings": [{"settingInstance": {
                    "@odata.type": "#microsoft.graph.deviceManagementConfigurationGroupSettingCollectionInstance",
                    "settingDefinitionId": "g",
                    "groupSettingCollectionValue": groups}}]}),
            )
            .expect("normalizes")
            .value
        };
        let changes = diff(&policy("g_action_0", false), &policy("g_action_1", false));
        let paths: Vec<&str> = changes.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "settings[g].settingInstance.groupSettingCollectionValue[0].children[g_action].choiceSettingValue.value"
            ]
        );
        assert_eq!(changes[0].baseline, Some(json!("g_action_0")));
        // An unchanged group value beside it holds no change; a new one is added.
        let changes = diff(&policy("g_action_0", false), &policy("g_action_0", true));
        let summary: Vec<(&str, ChangeKind)> = changes
            .iter()
            .map(|c| (c.path.as_str(), c.change))
            .collect();
        assert_eq!(
            summary,
            [(
                "settings[g].settingInstance.groupSettingCollectionValue[0]",
                ChangeKind::Added
            )]
        );
    }

    #[test]
    fn paths_use_set_keys() {
        let a = json!({"settings": [
            {"settingInstance": {"settingDefinitionId": "s_a", "choiceSettingValue": {"value": "s_a_1"}}},
            {"settingInstance": {"settingDefinitionId": "s_b", "choiceSettingValue": {"value": "s_b_0"}}}
        ], "name": "P"});
        let b = json!({"settings": [
            {"settingInstance": {"settingDefinitionId": "s_a", "choiceSettingValue": {"value": "s_a_0"}}},
            {"settingInstance": {"settingDefinitionId": "s_c", "choiceSettingValue": {"value": "s_c_1"}}}
        ], "name": "P"});
        let changes = diff(&a, &b);
        let summary: Vec<(String, ChangeKind)> =
            changes.iter().map(|c| (c.path.clone(), c.change)).collect();
        assert_eq!(
            summary,
            vec![
                (
                    "settings[s_a].settingInstance.choiceSettingValue.value".to_owned(),
                    ChangeKind::Modified
                ),
                ("settings[s_b]".to_owned(), ChangeKind::Removed),
                ("settings[s_c]".to_owned(), ChangeKind::Added),
            ]
        );
        assert_eq!(changes[0].baseline, Some(json!("s_a_1")));
        assert_eq!(changes[0].current, Some(json!("s_a_0")));
        assert!(diff(&a, &a).is_empty());
    }
}
