//! Turns a policy payload into canonical, tenant-free JSON and its hash.
//!
//! Rules come from the registry: volatile keys dropped by explicit lists,
//! OData plumbing dropped, tenant identifiers dropped, secrets replaced by a
//! marker, set-like arrays sorted by their declared key and other arrays of
//! records by their canonical form. Scalar arrays keep their order.

use serde_json::{Map, Value};

use super::hash::{canonical_bytes, sha256_hex};
use super::registry::{
    self, PolicyTypeRule, RootShape, TENANT_BOUND_ANYWHERE, TRIMMED_TEXT, VOLATILE_TOP_LEVEL,
};

/// Deeper payloads are refused rather than recursed into.
pub const MAX_DEPTH: usize = 64;
/// Larger canonical documents are refused (the corpus maximum is ~0.5 MB).
pub const MAX_CANONICAL_BYTES: usize = 8 * 1024 * 1024;

#[derive(Clone, Debug, PartialEq)]
pub struct Normalized {
    pub value: Value,
    pub canonical: Vec<u8>,
    pub hash: String,
    /// Set when the type is not in the registry and default rules applied.
    pub warning: Option<String>,
}

impl Normalized {
    /// An already normalized value with its canonical form and hash.
    pub fn of(value: Value) -> Self {
        let canonical = canonical_bytes(&value);
        let hash = sha256_hex(&canonical);
        Normalized {
            value,
            canonical,
            hash,
            warning: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not normalizable: {reason}")]
pub struct NotNormalizable {
    pub reason: String,
}

fn refuse(reason: impl Into<String>) -> NotNormalizable {
    NotNormalizable {
        reason: reason.into(),
    }
}

pub fn normalize(policy_type: &str, payload: &Value) -> Result<Normalized, NotNormalizable> {
    let (rule, known) = registry::rule_for(policy_type);
    if !registry::root_matches(policy_type, payload) {
        return Err(refuse(match rule.root {
            RootShape::Object => {
                format!("the payload is not a JSON object (got {})", kind(payload))
            }
            RootShape::RecordArray => format!(
                "a {policy_type} payload must be a JSON array of objects (got {})",
                kind(payload)
            ),
            RootShape::ObjectOrRecordArray => format!(
                "a {policy_type} payload must be a JSON object or an array of objects (got {})",
                kind(payload)
            ),
        }));
    }
    let walker = Walker { rule };
    let value = walker.value(payload, Context::root(rule), 0)?;
    let canonical = canonical_bytes(&value);
    if canonical.len() > MAX_CANONICAL_BYTES {
        return Err(refuse(format!(
            "the normalized content is {} bytes, over the limit of {MAX_CANONICAL_BYTES}",
            canonical.len()
        )));
    }
    let hash = sha256_hex(&canonical);
    let warning = (!known).then(|| {
        format!("policy type `{policy_type}` is not in the registry; default normalization rules were applied")
    });
    Ok(Normalized {
        value,
        canonical,
        hash,
        warning,
    })
}

/// Replaces secret values in place, leaving everything else as it was. Used
/// on raw payloads before they are stored. It walks with a stack of its
/// own and has no depth limit, so a payload too deep to normalize still has
/// its secrets redacted before it is kept.
pub fn redact_secrets(policy_type: &str, payload: &mut Value) {
    let (rule, _) = registry::rule_for(policy_type);
    let mut stack = vec![payload];
    while let Some(value) = stack.pop() {
        match value {
            Value::Object(map) => {
                let holder = SecretHolder::of(map);
                for (key, v) in map.iter_mut() {
                    if holder.is_secret(rule, key) && !v.is_null() {
                        *v = secret_marker(v);
                    } else {
                        stack.push(v);
                    }
                }
            }
            Value::Array(items) => stack.extend(items.iter_mut()),
            _ => {}
        }
    }
}

/// What an object says about the secrets it holds in `value`.
#[derive(Clone, Copy)]
struct SecretHolder {
    /// OMA settings: `isEncrypted: true`.
    encrypted: bool,
    /// Settings catalog: its OData type is a secret value type.
    secret_type: bool,
}

impl SecretHolder {
    fn of(map: &Map<String, Value>) -> Self {
        SecretHolder {
            encrypted: map.get("isEncrypted") == Some(&Value::Bool(true)),
            secret_type: map
                .get("@odata.type")
                .and_then(Value::as_str)
                .is_some_and(|t| {
                    registry::SECRET_VALUE_TYPES
                        .iter()
                        .any(|s| registry::odata_type_name(s) == registry::odata_type_name(t))
                }),
        }
    }

    fn is_secret(self, rule: &PolicyTypeRule, key: &str) -> bool {
        rule.secret_fields.contains(&key)
            || ((self.encrypted || self.secret_type) && key == "value")
    }
}

/// The stored form of a secret: a marker with a SHA-256 digest of the
/// value's canonical form (domain-separated), so that a changed secret
/// changes the document's hash and shows as modified, and equal secrets
/// compare equal, without the text being kept. Shown as
/// [`registry::SECRET_MARKER`].
pub fn secret_marker(secret: &Value) -> Value {
    // A stored payload is redacted already; normalizing it again keeps its
    // markers, so its hash is the hash of the payload as it arrived.
    if let Value::String(s) = secret
        && s.starts_with(registry::SECRET_STORED_PREFIX)
    {
        return secret.clone();
    }
    let mut input = b"drift-engine secret v1\0".to_vec();
    input.extend(canonical_bytes(secret));
    Value::String(format!(
        "{}sha256:{}>",
        registry::SECRET_STORED_PREFIX,
        sha256_hex(&input)
    ))
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

const NESTED_ARRAY: &str = "[]";

/// Where in the payload a value sits, as far as the rules care.
#[derive(Clone, Copy)]
struct Context<'a> {
    top_level: bool,
    /// The name of the array this object is an element of.
    element_of: Option<&'a str>,
    /// The type the value is declared with where it stands, when the
    /// registry knows it.
    declared: Option<&'static str>,
}

impl Context<'_> {
    fn root(rule: &PolicyTypeRule) -> Self {
        Context {
            top_level: true,
            element_of: None,
            declared: Some(rule.root_type),
        }
    }
}

struct Walker {
    rule: &'static PolicyTypeRule,
}

impl Walker {
    fn value(
        &self,
        value: &Value,
        ctx: Context<'_>,
        depth: usize,
    ) -> Result<Value, NotNormalizable> {
        if depth > MAX_DEPTH {
            return Err(refuse(format!(
                "the payload is nested deeper than {MAX_DEPTH} levels"
            )));
        }
        match value {
            Value::Object(map) => self.object(map, ctx, depth),
            Value::Array(items) => {
                // The root record array is a set keyed like any other; an
                // array nested directly in an array has no name of its own.
                let name = if ctx.top_level { "" } else { NESTED_ARRAY };
                self.array(name, items, depth)
            }
            other => Ok(other.clone()),
        }
    }

    fn object(
        &self,
        map: &Map<String, Value>,
        ctx: Context<'_>,
        depth: usize,
    ) -> Result<Value, NotNormalizable> {
        let holder = SecretHolder::of(map);
        let dropped_in_element = ctx
            .element_of
            .map(registry::volatile_in_elements)
            .unwrap_or(&[]);
        let top_level = ctx.top_level;
        // Members come out in the input's order, which is the map's own, so
        // collecting them builds the map in one pass instead of inserting.
        let mut out = Vec::with_capacity(map.len());
        for (key, v) in map {
            let key_str = key.as_str();
            // A null member is an absent one: Graph adds nullable
            // properties in new releases, and older exports lack them.
            if v.is_null() {
                continue;
            }
            if key_str == "@odata.type"
                && let Value::String(annotation) = v
            {
                // The declared type is what an absent annotation means; a
                // derived type is written one way, with its `#`.
                if !PolicyTypeRule::is_declared(annotation, ctx.declared) {
                    out.push((
                        key.clone(),
                        Value::String(format!("#{}", registry::odata_type_name(annotation))),
                    ));
                }
                continue;
            }
            if registry::is_odata_annotation(key_str)
                || TENANT_BOUND_ANYWHERE.contains(&key_str)
                || dropped_in_element.contains(&key_str)
                || (top_level
                    && (VOLATILE_TOP_LEVEL.contains(&key_str)
                        || self.rule.extra_volatile_top_level.contains(&key_str)))
            {
                continue;
            }
            let normalized = if holder.is_secret(self.rule, key_str) && !v.is_null() {
                secret_marker(v)
            } else if let (true, Value::String(s)) = (TRIMMED_TEXT.contains(&key_str), v) {
                Value::String(s.trim().to_owned())
            } else if let (true, Value::String(s)) =
                (self.rule.boolean_strings.contains(&key_str), v)
            {
                match s.trim().to_ascii_lowercase().as_str() {
                    "true" => Value::Bool(true),
                    "false" => Value::Bool(false),
                    _ => v.clone(),
                }
            } else if let Value::Array(items) = v {
                self.array(key_str, items, depth + 1)?
            } else {
                self.value(
                    v,
                    Context {
                        top_level: false,
                        element_of: None,
                        // Only objects carry a type annotation.
                        declared: if v.is_object() {
                            self.rule.declared_type(key_str)
                        } else {
                            None
                        },
                    },
                    depth + 1,
                )?
            };
            out.push((key.clone(), normalized));
        }
        Ok(Value::Object(Map::from_iter(out)))
    }

    fn array(&self, name: &str, items: &[Value], depth: usize) -> Result<Value, NotNormalizable> {
        if depth > MAX_DEPTH {
            return Err(refuse(format!(
                "the payload is nested deeper than {MAX_DEPTH} levels"
            )));
        }
        let ctx = Context {
            top_level: false,
            element_of: Some(name),
            declared: self.rule.declared_type(name),
        };
        let normalized = items
            .iter()
            .map(|item| self.value(item, ctx, depth + 1))
            .collect::<Result<Vec<_>, _>>()?;
        let all_records = !normalized.is_empty() && normalized.iter().all(Value::is_object);
        let key = registry::set_key(name);
        if key.is_some() && !normalized.is_empty() && !all_records {
            return Err(refuse(format!(
                "`{}` must be a list of objects identified by `{}`",
                if name.is_empty() { "the payload" } else { name },
                key.unwrap_or_default()
            )));
        }
        if !all_records {
            return Ok(Value::Array(normalized));
        }
        // Sort sets by their key, then by canonical form, so that neither
        // element order nor ties change the hash. When every element has a
        // key of its own, the canonical form cannot decide anything, and is
        // not computed: serializing every element of every nested set was
        // most of the cost of normalizing a settings catalog.
        let keys: Vec<Option<String>> = normalized
            .iter()
            .map(|item| key.and_then(|path| element_key(item, path)))
            .collect();
        let mut distinct: Vec<&String> = keys.iter().flatten().collect();
        distinct.sort_unstable();
        distinct.dedup();
        if distinct.len() == normalized.len() {
            let mut keyed: Vec<(Option<String>, Value)> =
                keys.into_iter().zip(normalized).collect();
            keyed.sort_by(|a, b| a.0.cmp(&b.0));
            return Ok(Value::Array(keyed.into_iter().map(|(_, v)| v).collect()));
        }
        let mut keyed: Vec<(Option<String>, Vec<u8>, Value)> = keys
            .into_iter()
            .zip(normalized)
            .map(|(k, item)| {
                let canonical = canonical_bytes(&item);
                (k, canonical, item)
            })
            .collect();
        keyed.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        Ok(Value::Array(keyed.into_iter().map(|(_, _, v)| v).collect()))
    }
}

/// The identity of a set element: the value at a dotted path, as text.
pub fn element_key(item: &Value, path: &str) -> Option<String> {
    // Keys such as `presentation@odata.bind` contain dots themselves.
    let found = match item.get(path) {
        Some(v) => v,
        None => path
            .split('.')
            .try_fold(item, |v, segment| v.get(segment))?,
    };
    match found {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(String::from_utf8_lossy(&canonical_bytes(other)).into_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn drops_volatile_annotations_and_tenant_ids_but_keeps_settings() {
        let payload = json!({
            "@odata.context": "https://graph.microsoft.com/beta/$metadata#x",
            "@odata.type": "#microsoft.graph.windows10CompliancePolicy",
            "#microsoft.graph.assign": {"target": "x"},
            "id": "a8994b69",
            "version": 7,
            "createdDateTime": "2020-01-01T00:00:00Z",
            "roleScopeTagIds": ["0"],
            "assignments": [{"id": "x", "target": {"groupId": "g-123"}}],
            "assignments@odata.context": "https://…",
            "displayName": "  Policy  ",
            "passwordMinimumLength": 12,
            "qualityUpdatesPauseExpiryDateTime": "0001-01-01T00:00:00Z",
            "templateId": "t-1",
            "scheduledActionsForRule": [{"id": "r1", "ruleName": null, "scheduledActionConfigurations": [{"id": "c1", "actionType": "block", "gracePeriodHours": 24}]}]
        });
        let n = normalize("deviceCompliancePolicies", &payload).unwrap();
        assert_eq!(
            n.value,
            json!({
                "@odata.type": "#microsoft.graph.windows10CompliancePolicy",
                "displayName": "Policy",
                "passwordMinimumLength": 12,
                "qualityUpdatesPauseExpiryDateTime": "0001-01-01T00:00:00Z",
                "templateId": "t-1",
                // A null member is an absent one.
                "scheduledActionsForRule": [{"scheduledActionConfigurations": [{"actionType": "block", "gracePeriodHours": 24}]}]
            })
        );
        assert!(n.warning.is_none());
    }

    #[test]
    fn sets_sort_by_key_and_records_by_form() {
        let a = json!({"omaSettings": [{"omaUri": "./b", "value": 1}, {"omaUri": "./a", "value": 2}], "rules": [{"x": 2}, {"x": 1}], "list": [3, 1, 2]});
        let b = json!({"omaSettings": [{"omaUri": "./a", "value": 2}, {"omaUri": "./b", "value": 1}], "rules": [{"x": 1}, {"x": 2}], "list": [3, 1, 2]});
        let na = normalize("deviceConfigurations", &a).unwrap();
        assert_eq!(na.hash, normalize("deviceConfigurations", &b).unwrap().hash);
        assert_eq!(na.value["omaSettings"][0]["omaUri"], "./a");
        assert_eq!(
            na.value["list"],
            json!([3, 1, 2]),
            "scalar lists keep their order"
        );
        let c = json!({"omaSettings": [], "rules": [], "list": [1, 2, 3]});
        assert_ne!(na.hash, normalize("deviceConfigurations", &c).unwrap().hash);
    }

    #[test]
    fn secrets_become_a_marker() {
        let payload = json!({"omaSettings": [
            {"omaUri": "./secret", "isEncrypted": true, "value": "s3cr3t", "secretReferenceValueId": "ref-1"},
            {"omaUri": "./plain", "isEncrypted": false, "value": "visible"}
        ], "preSharedKey": "wifi-key"});
        let n = normalize("deviceConfigurations", &payload).unwrap();
        let text = String::from_utf8(n.canonical.clone()).unwrap();
        assert!(!text.contains("s3cr3t") && !text.contains("wifi-key") && !text.contains("ref-1"));
        assert!(text.contains("visible"));
        let stored = n.value["preSharedKey"].as_str().unwrap();
        assert!(
            stored.starts_with(registry::SECRET_STORED_PREFIX),
            "{stored}"
        );
        let mut raw = payload.clone();
        redact_secrets("deviceConfigurations", &mut raw);
        assert!(!raw.to_string().contains("s3cr3t"));
        // The stored (redacted) payload normalizes to the same document.
        assert_eq!(
            normalize("deviceConfigurations", &raw).unwrap().hash,
            n.hash
        );
        assert_eq!(raw["omaSettings"][1]["value"], "visible");
        assert_eq!(raw["preSharedKey"], n.value["preSharedKey"]);
        // Another secret is another digest; the same secret the same one.
        let mut other = payload.clone();
        other["preSharedKey"] = json!("another-key");
        let no = normalize("deviceConfigurations", &other).unwrap();
        assert_ne!(no.value["preSharedKey"], n.value["preSharedKey"]);
        assert_ne!(no.hash, n.hash);
        assert_eq!(
            normalize("deviceConfigurations", &payload).unwrap().hash,
            n.hash
        );
    }

    #[test]
    fn settings_catalog_secret_values_are_redacted_by_their_type() {
        let secret = |value: &str, state: &str| {
            json!({"settings": [{"settingInstance": {
                "@odata.type": "#microsoft.graph.deviceManagementConfigurationSimpleSettingInstance",
                "settingDefinitionId": "vendor_msft_wifi_key",
                "simpleSettingValue": {
                    "@odata.type": "#microsoft.graph.deviceManagementConfigurationSecretSettingValue",
                    "value": value, "valueState": state,
                },
            }}]})
        };
        for policy_type in [
            "configurationPolicies",
            "deviceConfigurations",
            "notInTheRegistry",
        ] {
            let a = normalize(policy_type, &secret("hunter2", "notEncrypted")).unwrap();
            let b = normalize(policy_type, &secret("hunter3", "notEncrypted")).unwrap();
            for n in [&a, &b] {
                let text = String::from_utf8(n.canonical.clone()).unwrap();
                assert!(!text.contains("hunter"), "{text}");
                assert!(text.contains(registry::SECRET_STORED_PREFIX));
            }
            assert_ne!(a.hash, b.hash, "a changed secret is a changed document");
            let mut raw = secret("hunter2", "encryptedValueToken");
            redact_secrets(policy_type, &mut raw);
            assert!(!raw.to_string().contains("hunter"));
        }
    }

    #[test]
    fn secrets_deeper_than_normalization_goes_are_redacted_in_the_raw_payload() {
        let mut deep = json!({"preSharedKey": "deep-secret"});
        for _ in 0..(MAX_DEPTH + 10) {
            deep = json!({"nested": deep});
        }
        assert!(normalize("deviceConfigurations", &deep).is_err());
        redact_secrets("deviceConfigurations", &mut deep);
        assert!(!deep.to_string().contains("deep-secret"));
    }

    #[test]
    fn refuses_what_it_cannot_normalize() {
        assert!(
            normalize("deviceConfigurations", &json!([1, 2]))
                .unwrap_err()
                .reason
                .contains("not a JSON object")
        );
        assert!(normalize("deviceConfigurations", &json!("x")).is_err());
        assert!(normalize("groupPolicyConfigurations", &json!([1, 2])).is_err());
        assert!(normalize("groupPolicyConfigurations", &json!("x")).is_err());
        // ADMX exports are the policy object or its definition values.
        assert!(normalize("groupPolicyConfigurations", &json!({"displayName": "P"})).is_ok());
        let bad_set = json!({"settings": ["not", "objects"]});
        assert!(
            normalize("configurationPolicies", &bad_set)
                .unwrap_err()
                .reason
                .contains("settings")
        );
        let mut deep = json!(1);
        for _ in 0..100 {
            deep = json!({"n": deep});
        }
        assert!(
            normalize("configurationPolicies", &deep)
                .unwrap_err()
                .reason
                .contains("deeper")
        );
    }

    #[test]
    fn unknown_types_get_default_rules_and_a_warning() {
        let n = normalize("brandNewThings", &json!({"id": "x", "a": 1})).unwrap();
        assert_eq!(n.value, json!({"a": 1}));
        assert!(n.warning.unwrap().contains("brandNewThings"));
    }

    #[test]
    fn an_annotation_naming_the_declared_type_is_the_same_as_none() {
        let graph_get = json!({
            "@odata.type": "#microsoft.graph.deviceManagementConfigurationPolicy",
            "name": "P",
            "templateReference": {"@odata.type": "#microsoft.graph.deviceManagementConfigurationPolicyTemplateReference", "templateId": ""},
            "settings": [{
                "@odata.type": "#microsoft.graph.deviceManagementConfigurationSetting",
                "settingInstance": {
                    "@odata.type": "#microsoft.graph.deviceManagementConfigurationGroupSettingCollectionInstance",
                    "settingDefinitionId": "g",
                    "groupSettingCollectionValue": [{
                        "@odata.type": "#microsoft.graph.deviceManagementConfigurationGroupSettingValue",
                        "children": [{
                            "@odata.type": "#microsoft.graph.deviceManagementConfigurationChoiceSettingInstance",
                            "settingDefinitionId": "g_c",
                            "choiceSettingValue": {"@odata.type": "#microsoft.graph.deviceManagementConfigurationChoiceSettingValue", "value": "g_c_1", "children": []}
                        }]
                    }]
                }
            }]
        });
        // The portal's export: declared types left out, and Graph's docs
        // write annotations without the `#`.
        let portal = json!({
            "name": "P",
            "templateReference": {"templateId": ""},
            "settings": [{
                "settingInstance": {
                    "@odata.type": "microsoft.graph.deviceManagementConfigurationGroupSettingCollectionInstance",
                    "settingDefinitionId": "g",
                    "groupSettingCollectionValue": [{
                        "children": [{
                            "@odata.type": "#microsoft.graph.deviceManagementConfigurationChoiceSettingInstance",
                            "settingDefinitionId": "g_c",
                            "choiceSettingValue": {"value": "g_c_1", "children": []}
                        }]
                    }]
                }
            }]
        });
        let a = normalize("configurationPolicies", &graph_get).unwrap();
        let b = normalize("configurationPolicies", &portal).unwrap();
        assert_eq!(a.value, b.value);
        assert_eq!(a.hash, b.hash);
        // A derived type is a real difference.
        let mut simple = portal.clone();
        simple["settings"][0]["settingInstance"]["groupSettingCollectionValue"][0]["children"][0]
            ["@odata.type"] =
            json!("#microsoft.graph.deviceManagementConfigurationSimpleSettingInstance");
        assert_ne!(
            normalize("configurationPolicies", &simple).unwrap().hash,
            b.hash
        );
        // The declared type of one place is a derived type in another.
        let misplaced = json!({"name": "P", "templateReference": {"@odata.type": "#microsoft.graph.deviceManagementConfigurationSetting", "templateId": ""}});
        assert_ne!(
            normalize("configurationPolicies", &misplaced).unwrap().hash,
            normalize(
                "configurationPolicies",
                &json!({"name": "P", "templateReference": {"templateId": ""}})
            )
            .unwrap()
            .hash
        );
        let windows = json!({"@odata.type": "#microsoft.graph.windows10GeneralConfiguration", "displayName": "P"});
        let ios = json!({"@odata.type": "#microsoft.graph.iosGeneralDeviceConfiguration", "displayName": "P"});
        assert_ne!(
            normalize("deviceConfigurations", &windows).unwrap().hash,
            normalize("deviceConfigurations", &ios).unwrap().hash
        );
    }

    #[test]
    fn null_members_are_absent_but_null_elements_keep_their_place() {
        let old = json!({"displayName": "P", "settings": [{"settingInstance": {"settingDefinitionId": "a", "choiceSettingValue": {"value": "a_1"}}}], "list": [1, null, 2]});
        let new = json!({"displayName": "P", "description": null, "settings": [{"settingInstance": {"settingDefinitionId": "a", "auditRuleInformation": null, "choiceSettingValue": {"value": "a_1", "settingValueTemplateReference": null}}}], "list": [1, null, 2]});
        let a = normalize("configurationPolicies", &old).unwrap();
        assert_eq!(
            a.hash,
            normalize("configurationPolicies", &new).unwrap().hash
        );
        let moved =
            json!({"displayName": "P", "settings": old["settings"].clone(), "list": [1, 2, null]});
        assert_ne!(
            a.hash,
            normalize("configurationPolicies", &moved).unwrap().hash
        );
        let mut valued = new.clone();
        valued["description"] = json!("now set");
        assert_ne!(
            a.hash,
            normalize("configurationPolicies", &valued).unwrap().hash
        );
    }

    #[test]
    fn admx_boolean_strings_are_booleans() {
        let a = json!([{"definition@odata.bind": "d1", "enabled": "true"}]);
        let b = json!([{"definition@odata.bind": "d1", "enabled": true}]);
        assert_eq!(
            normalize("groupPolicyConfigurations", &a).unwrap().hash,
            normalize("groupPolicyConfigurations", &b).unwrap().hash
        );
    }
}
