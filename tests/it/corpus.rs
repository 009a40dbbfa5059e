//! The normalizer against every real export in tests/fixtures/intune (MIT,
//! see tests/fixtures/intune/LICENSES and README.md).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use drift_engine::evidence::diff::{ChangeKind, diff};
use drift_engine::evidence::hash::canonical_bytes;
use drift_engine::evidence::normalize::normalize;
use drift_engine::evidence::registry::{self, TRIMMED_TEXT, VOLATILE_TOP_LEVEL};
use serde_json::Value;

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/intune")
}

/// Every JSON export with the policy type its folder names (`_history`
/// files take the type of their current version).
pub fn corpus_files() -> Vec<(String, PathBuf)> {
    let root = fixtures();
    let mut out = Vec::new();
    for entry in walk(&root) {
        let rel = entry.strip_prefix(&root).expect("inside root");
        let first = rel
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .unwrap_or_default();
        let policy_type = match first {
            "_history" => {
                let name = rel.to_string_lossy();
                if name.contains("PAW-Edge") {
                    "groupPolicyConfigurations"
                } else if name.contains("compliance") {
                    "deviceCompliancePolicies"
                } else {
                    "managedAppPolicies"
                }
            }
            "manifest.json" => continue,
            other => other,
        };
        out.push((policy_type.to_owned(), entry));
    }
    out.sort();
    out
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
    out
}

pub fn parse(bytes: &[u8]) -> Value {
    let text = std::str::from_utf8(bytes).expect("utf-8");
    serde_json::from_str(text.trim_start_matches('\u{feff}')).expect("valid JSON")
}

pub fn load(path: &Path) -> Value {
    parse(&std::fs::read(path).expect("read fixture"))
}

/// Serializes with object keys in reverse order: same document, other bytes.
pub fn reversed_keys(value: &Value, pretty: bool, indent: usize) -> String {
    let pad = |n: usize| {
        if pretty {
            format!("\n{}", "  ".repeat(n))
        } else {
            String::new()
        }
    };
    match value {
        Value::Object(map) => {
            let parts: Vec<String> = map
                .iter()
                .rev()
                .map(|(k, v)| {
                    format!(
                        "{}{}:{}",
                        pad(indent + 1),
                        Value::String(k.clone()),
                        reversed_keys(v, pretty, indent + 1)
                    )
                })
                .collect();
            format!("{{{}{}}}", parts.join(","), pad(indent))
        }
        Value::Array(items) => {
            let parts: Vec<String> = items
                .iter()
                .map(|v| {
                    format!(
                        "{}{}",
                        pad(indent + 1),
                        reversed_keys(v, pretty, indent + 1)
                    )
                })
                .collect();
            format!("[{}{}]", parts.join(","), pad(indent))
        }
        other => other.to_string(),
    }
}

#[test]
fn every_corpus_file_normalizes_or_gives_a_reason() {
    let files = corpus_files();
    assert!(
        files.len() >= 70,
        "the whole corpus is present ({} files)",
        files.len()
    );
    let mut normalized = 0;
    for (policy_type, path) in &files {
        match normalize(policy_type, &load(path)) {
            Ok(n) => {
                normalized += 1;
                assert_eq!(n.hash.len(), 64);
                assert!(registry::is_supported(policy_type));
                assert!(n.warning.is_none(), "{}: {:?}", path.display(), n.warning);
            }
            Err(e) => assert!(
                !e.reason.is_empty(),
                "{}: a refusal names its reason",
                path.display()
            ),
        }
    }
    // Every real export is well formed for its type.
    assert_eq!(normalized, files.len());
}

/// Stored hashes were computed with serde_jcs: the canonical writer must give
/// the same bytes for every real document, raw and normalized.
#[test]
fn canonical_form_of_every_export_is_serde_jcs_byte_for_byte() {
    for (policy_type, path) in corpus_files() {
        let raw = load(&path);
        let normalized = normalize(&policy_type, &raw).expect("normalizes");
        for value in [&raw, &normalized.value] {
            assert_eq!(
                String::from_utf8(canonical_bytes(value)).expect("UTF-8"),
                serde_jcs::to_string(value).expect("serializes"),
                "{}",
                path.display()
            );
        }
        assert_eq!(
            normalized.canonical,
            serde_jcs::to_vec(&normalized.value).expect("serializes")
        );
    }
}

#[test]
fn hash_ignores_bom_line_endings_formatting_and_key_order() {
    for (policy_type, path) in corpus_files() {
        let raw = std::fs::read(&path).expect("read");
        let value = parse(&raw);
        let reference = normalize(&policy_type, &value).expect("normalizes").hash;
        let text = String::from_utf8(raw.clone()).expect("utf-8");
        let stripped = text.trim_start_matches('\u{feff}').to_owned();
        let variants = [
            format!("\u{feff}{stripped}"),
            stripped.replace("\r\n", "\n"),
            stripped.replace("\r\n", "\n").replace('\n', "\r\n"),
            serde_json::to_string(&value).expect("minified"),
            serde_json::to_string_pretty(&value).expect("pretty"),
            reversed_keys(&value, false, 0),
            reversed_keys(&value, true, 0),
        ];
        for (i, variant) in variants.iter().enumerate() {
            let hash = normalize(&policy_type, &parse(variant.as_bytes()))
                .expect("variant normalizes")
                .hash;
            assert_eq!(hash, reference, "{} variant {i}", path.display());
        }
    }
}

#[test]
fn byte_different_content_identical_versions_hash_equal() {
    let dir = fixtures().join("_history/securedworkstation/PAW-Edge-Version-85-Computer");
    let a = std::fs::read(dir.join("01_2020-12-16_aa80b0554561.json")).expect("v1");
    let b = std::fs::read(dir.join("02_2021-10-27_251d1d9f6377.json")).expect("v2");
    assert_ne!(a, b, "the files differ byte for byte");
    let ha = normalize("groupPolicyConfigurations", &parse(&a))
        .expect("v1")
        .hash;
    let hb = normalize("groupPolicyConfigurations", &parse(&b))
        .expect("v2")
        .hash;
    assert_eq!(ha, hb);
    // The current export of the same policy is that content too.
    let current = load(&fixtures().join("groupPolicyConfigurations/securedworkstation/PAW/JSON/DeviceConfigurationADMX/PAW-Edge Version 85 - Computer.json"));
    assert_eq!(
        normalize("groupPolicyConfigurations", &current)
            .expect("current")
            .hash,
        ha
    );
}

/// The top-level keys whose values really changed between two raw versions:
/// not volatile, and not a whitespace-only text edit.
fn real_top_level_changes(policy_type: &str, a: &Value, b: &Value) -> BTreeSet<String> {
    let (rule, _) = registry::rule_for(policy_type);
    let (ma, mb) = (
        a.as_object().expect("object"),
        b.as_object().expect("object"),
    );
    ma.keys()
        .chain(mb.keys())
        .filter(|k| {
            !VOLATILE_TOP_LEVEL.contains(&k.as_str())
                && !rule.extra_volatile_top_level.contains(&k.as_str())
        })
        .filter(|k| {
            !registry::TENANT_BOUND_ANYWHERE.contains(&k.as_str())
                && !registry::is_odata_annotation(k)
        })
        .filter(|k| {
            // A null member is an absent one (Graph adds nullable
            // properties in new releases).
            let (va, vb) = (
                ma.get(*k).filter(|v| !v.is_null()),
                mb.get(*k).filter(|v| !v.is_null()),
            );
            if TRIMMED_TEXT.contains(&k.as_str()) {
                va.and_then(Value::as_str).map(str::trim)
                    != vb.and_then(Value::as_str).map(str::trim)
            } else {
                va != vb
            }
        })
        .cloned()
        .collect()
}

#[test]
fn real_edits_in_history_change_the_hash_and_diff_names_them() {
    let dir = fixtures()
        .join("_history/intune-config-frameworks/level-3-enterprise-high-data-protection-Android");
    let mut versions: Vec<PathBuf> = walk(&dir);
    versions.sort();
    assert_eq!(versions.len(), 12);
    let policy_type = "managedAppPolicies";
    for pair in versions.windows(2) {
        let (ra, rb) = (load(&pair[0]), load(&pair[1]));
        let na = normalize(policy_type, &ra).expect("normalizes");
        let nb = normalize(policy_type, &rb).expect("normalizes");
        let expected = real_top_level_changes(policy_type, &ra, &rb);
        let changes = diff(&na.value, &nb.value);
        let touched: BTreeSet<String> = changes
            .iter()
            .map(|c| {
                c.path
                    .split(['.', '['])
                    .next()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect();
        assert_eq!(
            touched,
            expected,
            "{} -> {}",
            pair[0].display(),
            pair[1].display()
        );
        assert_eq!(
            expected.is_empty(),
            na.hash == nb.hash,
            "hash changes exactly when content does"
        );
        for change in &changes {
            match change.change {
                ChangeKind::Added => assert!(change.baseline.is_none() && change.current.is_some()),
                ChangeKind::Removed => {
                    assert!(change.baseline.is_some() && change.current.is_none())
                }
                ChangeKind::Modified => assert_ne!(change.baseline, change.current),
            }
        }
    }
    // A known edit: version 2 raised the minimum OS version.
    let v1 = normalize(policy_type, &load(&versions[0])).expect("v1");
    let v2 = normalize(policy_type, &load(&versions[1])).expect("v2");
    let changes = diff(&v1.value, &v2.value);
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].path, "minimumRequiredOsVersion");
    assert_eq!(changes[0].change, ChangeKind::Modified);
    assert_eq!(
        changes[0].baseline,
        load(&versions[0]).get("minimumRequiredOsVersion").cloned()
    );
}

#[test]
fn settings_catalog_diffs_are_keyed_by_setting_definition() {
    let path = fixtures()
        .join("configurationPolicies/acsc/policies/ACSC Windows Hardening Guidelines.json");
    let raw = load(&path);
    let base = normalize("configurationPolicies", &raw).expect("base");
    // Edit one setting and drop the first, then shuffle what is left: the
    // positions all shift, the diff still names settings by definition id.
    let mut edited = raw.clone();
    let settings = edited["settings"].as_array_mut().expect("settings");
    let removed = settings.remove(0);
    let target = settings
        .iter_mut()
        .find(|s| s["settingInstance"]["choiceSettingValue"]["value"].is_string())
        .expect("a choice setting");
    let target_id = target["settingInstance"]["settingDefinitionId"]
        .as_str()
        .expect("id")
        .to_owned();
    target["settingInstance"]["choiceSettingValue"]["value"] =
        Value::String(format!("{target_id}_changed"));
    settings.reverse();
    let current = normalize("configurationPolicies", &edited).expect("edited");
    assert_ne!(base.hash, current.hash);
    let changes = diff(&base.value, &current.value);
    let removed_id = removed["settingInstance"]["settingDefinitionId"]
        .as_str()
        .expect("id");
    let paths: Vec<(&str, ChangeKind)> = changes
        .iter()
        .map(|c| (c.path.as_str(), c.change))
        .collect();
    assert_eq!(paths.len(), 2, "{paths:?}");
    assert!(paths.contains(&(
        format!("settings[{removed_id}]").as_str(),
        ChangeKind::Removed
    )));
    let modified = format!("settings[{target_id}].settingInstance.choiceSettingValue.value");
    assert!(
        paths.contains(&(modified.as_str(), ChangeKind::Modified)),
        "{paths:?}"
    );
}

#[test]
fn normalized_content_holds_no_tenant_identifiers() {
    let mut checked = 0;
    for (policy_type, path) in corpus_files() {
        let raw = load(&path);
        let Some(assignments) = raw.get("assignments").and_then(Value::as_array) else {
            continue;
        };
        if assignments.is_empty() {
            continue;
        }
        let n = normalize(&policy_type, &raw).expect("normalizes");
        let text = String::from_utf8(n.canonical.clone()).expect("utf-8");
        for key in [
            "assignments",
            "groupId",
            "sourceId",
            "roleScopeTagIds",
            "deviceAndAppManagementAssignmentFilterId",
        ] {
            assert!(
                !text.contains(&format!("\"{key}\"")),
                "{}: `{key}` left in normalized content",
                path.display()
            );
        }
        for assignment in assignments {
            let group = assignment["target"]["groupId"].as_str().expect("group id");
            assert!(
                !text.contains(group),
                "{}: group `{group}` leaked",
                path.display()
            );
            let id = assignment["id"].as_str().expect("assignment id");
            assert!(
                !text.contains(id),
                "{}: assignment id leaked",
                path.display()
            );
        }
        checked += 1;
    }
    assert!(
        checked >= 9,
        "the corpus has payloads with assignments ({checked})"
    );
}

/// Removes every `@odata.type` that names the declared type of where it
/// stands, as the Intune portal's export and several backup tools write
/// them; returns how many it removed.
fn strip_declared(
    rule: &registry::PolicyTypeRule,
    value: &mut Value,
    declared: Option<&str>,
) -> usize {
    let mut removed = 0;
    match value {
        Value::Object(map) => {
            if map
                .get("@odata.type")
                .and_then(Value::as_str)
                .is_some_and(|t| registry::PolicyTypeRule::is_declared(t, declared))
            {
                map.remove("@odata.type");
                removed += 1;
            }
            for (key, v) in map.iter_mut() {
                removed += strip_declared(rule, v, rule.declared_type(key));
            }
        }
        Value::Array(items) => {
            for item in items {
                removed += strip_declared(rule, item, declared);
            }
        }
        _ => {}
    }
    removed
}

/// Adds a null member to every object, as a later Graph release does with
/// a new nullable property.
fn add_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for v in map.values_mut() {
                add_nulls(v);
            }
            map.insert("auditRuleInformation".into(), Value::Null);
            map.insert("zzAddedInALaterRelease".into(), Value::Null);
        }
        Value::Array(items) => items.iter_mut().for_each(add_nulls),
        _ => {}
    }
}

fn utf16le_with_bom(text: &str) -> Vec<u8> {
    [0xFF, 0xFE]
        .into_iter()
        .chain(text.encode_utf16().flat_map(u16::to_le_bytes))
        .collect()
}

/// Replaces the first `@odata.type` that is not a declared type (a
/// derived type) with another derived type; false when there is none.
fn change_first_derived(
    rule: &registry::PolicyTypeRule,
    value: &mut Value,
    declared: Option<&str>,
) -> bool {
    match value {
        Value::Object(map) => {
            if let Some(t) = map.get_mut("@odata.type")
                && t.as_str()
                    .is_some_and(|t| !registry::PolicyTypeRule::is_declared(t, declared))
            {
                *t = Value::String("#microsoft.graph.someOtherDerivedType".into());
                return true;
            }
            map.iter_mut()
                .any(|(key, v)| change_first_derived(rule, v, rule.declared_type(key)))
        }
        Value::Array(items) => items
            .iter_mut()
            .any(|i| change_first_derived(rule, i, declared)),
        _ => false,
    }
}

/// Every export, written as another exporter writes it: declared types left
/// out, null members added (a later Graph release), re-encoded as UTF-16 LE
/// with a BOM, and every combination of these, hashes the same. A derived
/// type changed, or a null set to a value, changes the hash.
#[test]
fn other_exporters_forms_of_every_export_hash_the_same() {
    let mut stripped_total = 0;
    let mut stripped_settings_catalog = 0;
    for (policy_type, path) in corpus_files() {
        let (rule, _) = registry::rule_for(&policy_type);
        let raw = std::fs::read(&path).expect("read");
        let original = parse(&raw);
        let reference = normalize(&policy_type, &original).expect("normalizes").hash;
        let root_declared = match &original {
            Value::Array(_) => rule.declared_type(""),
            _ => Some(rule.root_type),
        };
        for variant in 1..8u8 {
            let mut value = original.clone();
            if variant & 1 != 0 {
                let n = strip_declared(rule, &mut value, root_declared);
                stripped_total += n;
                if policy_type == "configurationPolicies" {
                    stripped_settings_catalog += n;
                }
            }
            if variant & 2 != 0 {
                add_nulls(&mut value);
            }
            if variant & 4 != 0 {
                let bytes = utf16le_with_bom(&serde_json::to_string_pretty(&value).expect("json"));
                let text =
                    drift_engine::import::decode_text(&bytes).expect("UTF-16 LE with a BOM reads");
                value = serde_json::from_str(&text).expect("valid JSON");
            }
            let hash = normalize(&policy_type, &value)
                .expect("variant normalizes")
                .hash;
            assert_eq!(hash, reference, "{} variant {variant:03b}", path.display());
        }

        let mut derived = original.clone();
        assert!(
            change_first_derived(rule, &mut derived, root_declared),
            "{}: every export has a derived type",
            path.display()
        );
        assert_ne!(
            normalize(&policy_type, &derived).expect("normalizes").hash,
            reference,
            "{}: a derived type is content",
            path.display()
        );

        let mut valued = original.clone();
        add_nulls(&mut valued);
        match &mut valued {
            Value::Object(map) => map.insert("zzAddedInALaterRelease".into(), Value::Bool(true)),
            Value::Array(items) => items[0]
                .as_object_mut()
                .expect("records")
                .insert("zzAddedInALaterRelease".into(), Value::Bool(true)),
            _ => unreachable!("exports are objects or arrays"),
        };
        assert_ne!(
            normalize(&policy_type, &valued).expect("normalizes").hash,
            reference,
            "{}: a null that became a value is a change",
            path.display()
        );
    }
    // The corpus really writes declared types (on every `settings[]`
    // element of the Graph-exported settings catalogs, for one).
    assert!(
        stripped_settings_catalog > 100,
        "{stripped_settings_catalog}"
    );
    assert!(stripped_total >= stripped_settings_catalog);
}
