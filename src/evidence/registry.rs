//! The policy-type registry: what each supported type is and the data rules
//! the normalizer applies to it. Adding a type is adding a row here.

/// What a secret is shown as, wherever it is shown (setting changes).
pub const SECRET_MARKER: &str = "<redacted:secret>";

/// What a secret is stored as: this prefix, then `sha256:<digest>>` of the
/// value, so that a changed secret still changes the hash while its text
/// is never kept (see `normalize::secret_marker`).
pub const SECRET_STORED_PREFIX: &str = "<redacted:secret ";

/// Objects whose `value` is a secret wherever they occur, in any policy
/// type, by their OData type. The settings catalog's secret setting value
/// holds the secret in `value` whatever its `valueState` says (encrypted
/// token or `notEncrypted` text); Microsoft Graph beta reference,
/// deviceManagementConfigurationSecretSettingValue.
pub const SECRET_VALUE_TYPES: &[&str] =
    &["#microsoft.graph.deviceManagementConfigurationSecretSettingValue"];

/// What the top of a payload must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RootShape {
    Object,
    /// A JSON array of objects (e.g. ADMX definition values).
    RecordArray,
}

#[derive(Debug)]
pub struct PolicyTypeRule {
    pub name: &'static str,
    /// Foundation types (scope tags, filters, templates) are only in a
    /// baseline's scope when a profile names them.
    pub foundation: bool,
    pub root: RootShape,
    /// Top-level keys that are not policy content for this type, on top of
    /// [`VOLATILE_TOP_LEVEL`].
    pub extra_volatile_top_level: &'static [&'static str],
    /// Keys holding secrets for this type, replaced by [`SECRET_MARKER`].
    pub secret_fields: &'static [&'static str],
    /// Keys whose string values arrive as "true"/"false" and mean booleans.
    pub boolean_strings: &'static [&'static str],
}

/// Volatile at the top of every payload: identity, timestamps, counters and
/// server-side bookkeeping (see the corpus README).
pub const VOLATILE_TOP_LEVEL: &[&str] = &[
    "id",
    "createdDateTime",
    "lastModifiedDateTime",
    "version",
    "settingCount",
    "creationSource",
    "priorityMetaData",
    "isAssigned",
    "supportsScopeTags",
];

/// Tenant identifiers and tenant-bound references, dropped wherever they
/// appear so that normalized content (and every blob) is tenant-free.
pub const TENANT_BOUND_ANYWHERE: &[&str] =
    &["assignments", "roleScopeTagIds", "secretReferenceValueId"];

/// Keys dropped from the elements of the named arrays: positions and
/// per-tenant ids that say nothing about the setting.
pub const VOLATILE_IN_ELEMENTS: &[(&str, &[&str])] = &[
    ("settings", &["id"]),
    ("settingsDelta", &["id"]),
    ("scheduledActionsForRule", &["id"]),
    ("scheduledActionConfigurations", &["id"]),
    ("apps", &["id", "version"]),
];

/// Arrays that are sets, and the key (a dotted path inside each element)
/// that identifies an element. Sorted by it and diffed by it.
pub const SET_KEYS: &[(&str, &str)] = &[
    ("settings", "settingInstance.settingDefinitionId"),
    ("children", "settingDefinitionId"),
    ("settingsDelta", "definitionId"),
    ("omaSettings", "omaUri"),
    ("scheduledActionsForRule", "ruleName"),
    ("scheduledActionConfigurations", "actionType"),
    ("apps", "mobileAppIdentifier"),
    ("presentationValues", "presentation@odata.bind"),
    ("approvedKeyboards", "name"),
    ("exemptedAppProtocols", "name"),
    ("values", "name"),
    ("firewallRules", "displayName"),
    // The root of a record-array payload (ADMX definition values).
    ("", "definition@odata.bind"),
];

/// Text whose surrounding whitespace is not meaningful (real exports carry
/// trailing-space-only display-name edits).
pub const TRIMMED_TEXT: &[&str] = &["displayName", "name", "description"];

const fn object(name: &'static str) -> PolicyTypeRule {
    PolicyTypeRule {
        name,
        foundation: false,
        root: RootShape::Object,
        extra_volatile_top_level: &[],
        secret_fields: &[],
        boolean_strings: &[],
    }
}

const fn foundation(name: &'static str) -> PolicyTypeRule {
    PolicyTypeRule {
        foundation: true,
        ..object(name)
    }
}

/// Every supported type. Names are Microsoft Graph collection names.
pub static SUPPORTED: &[PolicyTypeRule] = &[
    object("configurationPolicies"),
    object("deviceCompliancePolicies"),
    PolicyTypeRule {
        // Wi-Fi, VPN and e-mail profiles carry shared keys and passwords.
        secret_fields: &[
            "preSharedKey",
            "wiFiPreSharedKey",
            "password",
            "sharedSecret",
        ],
        ..object("deviceConfigurations")
    },
    object("deviceManagementIntents"),
    PolicyTypeRule {
        root: RootShape::RecordArray,
        boolean_strings: &["enabled"],
        ..object("groupPolicyConfigurations")
    },
    PolicyTypeRule {
        // Derived from `apps`; also an ETag-like `version` string.
        extra_volatile_top_level: &["deployedAppCount"],
        ..object("managedAppPolicies")
    },
    object("deviceEnrollmentConfigurations"),
    object("windowsAutopilotDeploymentProfiles"),
    object("windowsFeatureUpdateProfiles"),
    object("windowsQualityUpdateProfiles"),
    foundation("roleScopeTags"),
    foundation("assignmentFilters"),
    foundation("notificationMessageTemplates"),
];

/// The rule for a type nobody registered: plain object rules, not foundation.
pub static DEFAULT_RULE: PolicyTypeRule = object("*");

/// The rule for `policy_type`, and whether it is a known type.
/// Whether `document` has the shape an export of `policy_type` has: an
/// object, or for record-array types an array of objects.
pub fn root_matches(policy_type: &str, document: &serde_json::Value) -> bool {
    match (rule_for(policy_type).0.root, document) {
        (RootShape::Object, serde_json::Value::Object(_)) => true,
        (RootShape::RecordArray, serde_json::Value::Array(items)) => {
            items.iter().all(serde_json::Value::is_object)
        }
        _ => false,
    }
}

pub fn rule_for(policy_type: &str) -> (&'static PolicyTypeRule, bool) {
    match SUPPORTED.iter().find(|r| r.name == policy_type) {
        Some(rule) => (rule, true),
        None => (&DEFAULT_RULE, false),
    }
}

pub fn is_supported(policy_type: &str) -> bool {
    rule_for(policy_type).1
}

/// Default scope of a profile: every supported type that is not foundation.
pub fn default_policy_types() -> Vec<&'static str> {
    SUPPORTED
        .iter()
        .filter(|r| !r.foundation)
        .map(|r| r.name)
        .collect()
}

pub fn foundation_types() -> Vec<&'static str> {
    SUPPORTED
        .iter()
        .filter(|r| r.foundation)
        .map(|r| r.name)
        .collect()
}

pub fn set_key(array_name: &str) -> Option<&'static str> {
    SET_KEYS
        .iter()
        .find(|(a, _)| *a == array_name)
        .map(|(_, k)| *k)
}

pub fn volatile_in_elements(array_name: &str) -> &'static [&'static str] {
    VOLATILE_IN_ELEMENTS
        .iter()
        .find(|(a, _)| *a == array_name)
        .map(|(_, keys)| *keys)
        .unwrap_or(&[])
}

/// OData plumbing that is not policy content. The object-level `@odata.type`
/// names the kind of policy or setting and `@odata.bind` names what a value
/// is bound to, so both stay.
pub fn is_odata_annotation(key: &str) -> bool {
    if key == "@odata.type" || key.ends_with("@odata.bind") {
        return false;
    }
    key.starts_with("#microsoft.graph.") || key.starts_with('#') || key.contains("@odata.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotations_are_recognised_by_explicit_patterns() {
        for key in [
            "@odata.context",
            "@odata.id",
            "@odata.editLink",
            "assignments@odata.context",
            "scheduledActionConfigurations@odata.context",
            "value@odata.type",
            "apps@odata.navigationLink",
            "x@odata.associationLink",
            "#microsoft.graph.assign",
        ] {
            assert!(is_odata_annotation(key), "{key}");
        }
        for key in [
            "@odata.type",
            "definition@odata.bind",
            "presentation@odata.bind",
            "templateId",
            "passwordMinimumLength",
        ] {
            assert!(!is_odata_annotation(key), "{key}");
        }
    }

    #[test]
    fn scope_defaults_split_foundation_types() {
        let defaults = default_policy_types();
        assert!(defaults.contains(&"deviceConfigurations"));
        assert!(!defaults.contains(&"roleScopeTags"));
        assert!(foundation_types().contains(&"roleScopeTags"));
        assert!(!is_supported("somethingElse"));
    }
}
