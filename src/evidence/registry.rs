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
    /// Either: the policy object, or the array of its records that some
    /// exporters write instead (ADMX: the policy with `definitionValues`,
    /// or the definition values alone).
    ObjectOrRecordArray,
}

/// Declared types: the type each property is declared with in Microsoft
/// Graph's metadata (`$metadata`, beta), by property name within a policy
/// type. OData writes `@odata.type` only where a value's type is derived
/// from its declared type, so the Intune portal's export and several backup
/// tools leave it out where it would name the declared type, while a Graph
/// GET writes it everywhere. The normalizer therefore drops an
/// `@odata.type` that names the declared type of where it stands; a derived
/// type is a real difference and stays. Names are without the leading `#`.
pub type DeclaredTypes = &'static [(&'static str, &'static str)];

/// The settings catalog (deviceManagementConfiguration* in Graph beta):
/// setting, instance and value types, and template references.
pub const SETTINGS_CATALOG_DECLARED: DeclaredTypes = &[
    (
        "settings",
        "microsoft.graph.deviceManagementConfigurationSetting",
    ),
    (
        "settingInstance",
        "microsoft.graph.deviceManagementConfigurationSettingInstance",
    ),
    (
        "children",
        "microsoft.graph.deviceManagementConfigurationSettingInstance",
    ),
    (
        "choiceSettingValue",
        "microsoft.graph.deviceManagementConfigurationChoiceSettingValue",
    ),
    (
        "choiceSettingCollectionValue",
        "microsoft.graph.deviceManagementConfigurationChoiceSettingValue",
    ),
    (
        "groupSettingValue",
        "microsoft.graph.deviceManagementConfigurationGroupSettingValue",
    ),
    (
        "groupSettingCollectionValue",
        "microsoft.graph.deviceManagementConfigurationGroupSettingValue",
    ),
    (
        "simpleSettingValue",
        "microsoft.graph.deviceManagementConfigurationSimpleSettingValue",
    ),
    (
        "simpleSettingCollectionValue",
        "microsoft.graph.deviceManagementConfigurationSimpleSettingValue",
    ),
    (
        "settingInstanceTemplateReference",
        "microsoft.graph.deviceManagementConfigurationSettingInstanceTemplateReference",
    ),
    (
        "settingValueTemplateReference",
        "microsoft.graph.deviceManagementConfigurationSettingValueTemplateReference",
    ),
    (
        "templateReference",
        "microsoft.graph.deviceManagementConfigurationPolicyTemplateReference",
    ),
];

/// Compliance policies (deviceCompliancePolicy and its scheduled actions).
pub const DEVICE_COMPLIANCE_DECLARED: DeclaredTypes = &[
    (
        "scheduledActionsForRule",
        "microsoft.graph.deviceComplianceScheduledActionForRule",
    ),
    (
        "scheduledActionConfigurations",
        "microsoft.graph.deviceComplianceActionItem",
    ),
    (
        "validOperatingSystemBuildRanges",
        "microsoft.graph.operatingSystemVersionRange",
    ),
    (
        "deviceCompliancePolicyScript",
        "microsoft.graph.deviceCompliancePolicyScript",
    ),
];

/// Settings-catalog compliance (deviceManagementCompliancePolicy): the
/// settings catalog's types, and scheduled actions of its own types.
pub const SETTINGS_COMPLIANCE_DECLARED: DeclaredTypes = &[
    (
        "scheduledActionsForRule",
        "microsoft.graph.deviceManagementComplianceScheduledActionForRule",
    ),
    (
        "scheduledActionConfigurations",
        "microsoft.graph.deviceManagementComplianceActionItem",
    ),
];

/// Device configurations: OMA settings and the complex properties of the
/// Windows profiles whose declared type is abstract or a base type.
pub const DEVICE_CONFIGURATION_DECLARED: DeclaredTypes = &[
    ("omaSettings", "microsoft.graph.omaSetting"),
    ("edgeSearchEngine", "microsoft.graph.edgeSearchEngineBase"),
    (
        "edgeHomeButtonConfiguration",
        "microsoft.graph.edgeHomeButtonConfiguration",
    ),
    ("firewallRules", "microsoft.graph.windowsFirewallRule"),
    (
        "firewallProfileDomain",
        "microsoft.graph.windowsFirewallNetworkProfile",
    ),
    (
        "firewallProfilePrivate",
        "microsoft.graph.windowsFirewallNetworkProfile",
    ),
    (
        "firewallProfilePublic",
        "microsoft.graph.windowsFirewallNetworkProfile",
    ),
    (
        "defenderDetectedMalwareActions",
        "microsoft.graph.defenderDetectedMalwareActions",
    ),
    (
        "bitLockerSystemDrivePolicy",
        "microsoft.graph.bitLockerSystemDrivePolicy",
    ),
    (
        "bitLockerFixedDrivePolicy",
        "microsoft.graph.bitLockerFixedDrivePolicy",
    ),
    (
        "bitLockerRemovableDrivePolicy",
        "microsoft.graph.bitLockerRemovableDrivePolicy",
    ),
    (
        "recoveryOptions",
        "microsoft.graph.bitLockerRecoveryOptions",
    ),
    (
        "networkProxyServer",
        "microsoft.graph.windows10NetworkProxyServer",
    ),
    // Endpoint protection's user rights, each a user-rights setting.
    (
        "userRightsAccessCredentialManagerAsTrustedCaller",
        "microsoft.graph.deviceManagementUserRightsSetting",
    ),
    (
        "userRightsActAsPartOfTheOperatingSystem",
        "microsoft.graph.deviceManagementUserRightsSetting",
    ),
    (
        "userRightsAllowAccessFromNetwork",
        "microsoft.graph.deviceManagementUserRightsSetting",
    ),
    (
        "userRightsBackupData",
        "microsoft.graph.deviceManagementUserRightsSetting",
    ),
    (
        "userRightsBlockAccessFromNetwork",
        "microsoft.graph.deviceManagementUserRightsSetting",
    ),
    (
        "userRightsChangeSystemTime",
        "microsoft.graph.deviceManagementUserRightsSetting",
    ),
    (
        "userRightsCreateGlobalObjects",
        "microsoft.graph.deviceManagementUserRightsSetting",
    ),
    (
        "userRightsCreatePageFile",
        "microsoft.graph.deviceManagementUserRightsSetting",
    ),
    (
        "userRightsCreatePermanentSharedObjects",
        "microsoft.graph.deviceManagementUserRightsSetting",
    ),
    (
        "userRightsCreateSymbolicLinks",
        "microsoft.graph.deviceManagementUserRightsSetting",
    ),
    (
        "userRightsCreateToken",
        "microsoft.graph.deviceManagementUserRightsSetting",
    ),
    (
        "userRightsDebugPrograms",
        "microsoft.graph.deviceManagementUserRightsSetting",
    ),
    (
        "userRightsDelegation",
        "microsoft.graph.deviceManagementUserRightsSetting",
    ),
    (
        "userRightsDenyLocalLogOn",
        "microsoft.graph.deviceManagementUserRightsSetting",
    ),
    (
        "userRightsGenerateSecurityAudits",
        "microsoft.graph.deviceManagementUserRightsSetting",
    ),
    (
        "userRightsImpersonateClient",
        "microsoft.graph.deviceManagementUserRightsSetting",
    ),
    (
        "userRightsIncreaseSchedulingPriority",
        "microsoft.graph.deviceManagementUserRightsSetting",
    ),
    (
        "userRightsLoadUnloadDrivers",
        "microsoft.graph.deviceManagementUserRightsSetting",
    ),
    (
        "userRightsLocalLogOn",
        "microsoft.graph.deviceManagementUserRightsSetting",
    ),
    (
        "userRightsLockMemory",
        "microsoft.graph.deviceManagementUserRightsSetting",
    ),
    (
        "userRightsManageAuditingAndSecurityLogs",
        "microsoft.graph.deviceManagementUserRightsSetting",
    ),
    (
        "userRightsManageVolumes",
        "microsoft.graph.deviceManagementUserRightsSetting",
    ),
    (
        "userRightsModifyFirmwareEnvironment",
        "microsoft.graph.deviceManagementUserRightsSetting",
    ),
    (
        "userRightsModifyObjectLabels",
        "microsoft.graph.deviceManagementUserRightsSetting",
    ),
    (
        "userRightsProfileSingleProcess",
        "microsoft.graph.deviceManagementUserRightsSetting",
    ),
    (
        "userRightsRemoteDesktopServicesLogOn",
        "microsoft.graph.deviceManagementUserRightsSetting",
    ),
    (
        "userRightsRemoteShutdown",
        "microsoft.graph.deviceManagementUserRightsSetting",
    ),
    (
        "userRightsRestoreData",
        "microsoft.graph.deviceManagementUserRightsSetting",
    ),
    (
        "userRightsTakeOwnership",
        "microsoft.graph.deviceManagementUserRightsSetting",
    ),
    (
        "localUsersOrGroups",
        "microsoft.graph.deviceManagementUserRightsLocalUserOrGroup",
    ),
    // iOS: network usage rules and app lists.
    ("networkUsageRules", "microsoft.graph.iosNetworkUsageRule"),
    ("managedApps", "microsoft.graph.appListItem"),
    ("appsSingleAppModeList", "microsoft.graph.appListItem"),
    ("appsVisibilityList", "microsoft.graph.appListItem"),
    ("compliantAppsList", "microsoft.graph.appListItem"),
];

/// App protection and app configuration: targeted apps and key-value pairs.
pub const MANAGED_APP_DECLARED: DeclaredTypes = &[
    ("apps", "microsoft.graph.managedMobileApp"),
    ("mobileAppIdentifier", "microsoft.graph.mobileAppIdentifier"),
    ("approvedKeyboards", "microsoft.graph.keyValuePair"),
    ("exemptedAppProtocols", "microsoft.graph.keyValuePair"),
    ("exemptedAppPackages", "microsoft.graph.keyValuePair"),
    ("customSettings", "microsoft.graph.keyValuePair"),
];

/// Endpoint-security intents: setting instances (an abstract base).
pub const INTENT_DECLARED: DeclaredTypes = &[
    (
        "settingsDelta",
        "microsoft.graph.deviceManagementSettingInstance",
    ),
    (
        "settings",
        "microsoft.graph.deviceManagementSettingInstance",
    ),
];

/// ADMX: definition values (also the root records of a record-array
/// export) and their presentation values (an abstract base).
pub const GROUP_POLICY_DECLARED: DeclaredTypes = &[
    ("", "microsoft.graph.groupPolicyDefinitionValue"),
    (
        "definitionValues",
        "microsoft.graph.groupPolicyDefinitionValue",
    ),
    (
        "presentationValues",
        "microsoft.graph.groupPolicyPresentationValue",
    ),
    // A list presentation's entries.
    ("values", "microsoft.graph.keyValuePair"),
    ("definition", "microsoft.graph.groupPolicyDefinition"),
    ("presentation", "microsoft.graph.groupPolicyPresentation"),
];

pub const ENROLLMENT_DECLARED: DeclaredTypes = &[
    (
        "platformRestriction",
        "microsoft.graph.deviceEnrollmentPlatformRestriction",
    ),
    (
        "windowsRestriction",
        "microsoft.graph.deviceEnrollmentPlatformRestriction",
    ),
    (
        "windowsMobileRestriction",
        "microsoft.graph.deviceEnrollmentPlatformRestriction",
    ),
    (
        "iosRestriction",
        "microsoft.graph.deviceEnrollmentPlatformRestriction",
    ),
    (
        "androidRestriction",
        "microsoft.graph.deviceEnrollmentPlatformRestriction",
    ),
    (
        "androidForWorkRestriction",
        "microsoft.graph.deviceEnrollmentPlatformRestriction",
    ),
    (
        "macOSRestriction",
        "microsoft.graph.deviceEnrollmentPlatformRestriction",
    ),
];

pub const AUTOPILOT_DECLARED: DeclaredTypes = &[
    (
        "outOfBoxExperienceSettings",
        "microsoft.graph.outOfBoxExperienceSettings",
    ),
    (
        "outOfBoxExperienceSetting",
        "microsoft.graph.outOfBoxExperienceSetting",
    ),
    (
        "enrollmentStatusScreenSettings",
        "microsoft.graph.windowsEnrollmentStatusScreenSettings",
    ),
];

pub const UPDATE_PROFILE_DECLARED: DeclaredTypes = &[
    (
        "rolloutSettings",
        "microsoft.graph.windowsUpdateRolloutSettings",
    ),
    (
        "expeditedUpdateSettings",
        "microsoft.graph.expeditedWindowsQualityUpdateSettings",
    ),
];

pub const NOTIFICATION_TEMPLATE_DECLARED: DeclaredTypes = &[(
    "localizedNotificationMessages",
    "microsoft.graph.localizedNotificationMessage",
)];

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
    /// The declared type of the collection's members (the entity type of
    /// the entity set), without the leading `#`: an `@odata.type` at the
    /// root that names it is the same as none.
    pub root_type: &'static str,
    /// Declared types of properties, by name; the first table that names a
    /// property wins.
    pub declared_types: &'static [DeclaredTypes],
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
    // Normalized assignment sets (see `evidence::assignments`): one
    // element per target, `group:Sales Devices`.
    ("assignments", "target"),
    // The root of a record-array payload (ADMX definition values).
    ("", "definition@odata.bind"),
];

/// The inventory types that name what assignments point at: a group id
/// (`target.groupId`) is looked up among the tenant's `groups`, a filter
/// id (`target.deviceAndAppManagementAssignmentFilterId`) among its
/// `assignmentFilters`, each by external id.
pub const ASSIGNMENT_GROUP_TYPE: &str = "groups";
pub const ASSIGNMENT_FILTER_TYPE: &str = "assignmentFilters";

/// Assignment targets by OData type (Graph beta's
/// `deviceAndAppManagementAssignmentTarget` family): the kind a
/// normalized assignment names, and whether the target is a group.
pub const ASSIGNMENT_TARGETS: &[(&str, &str, bool)] = &[
    (
        "microsoft.graph.allDevicesAssignmentTarget",
        "allDevices",
        false,
    ),
    (
        "microsoft.graph.allLicensedUsersAssignmentTarget",
        "allLicensedUsers",
        false,
    ),
    ("microsoft.graph.groupAssignmentTarget", "group", true),
    (
        "microsoft.graph.exclusionGroupAssignmentTarget",
        "exclusionGroup",
        true,
    ),
];

/// Assignment members that are settings of the assignment rather than
/// identifiers (`intent` on device configurations and apps: apply,
/// remove, required, available, uninstall).
pub const ASSIGNMENT_SETTINGS: &[&str] = &["intent"];

/// Arrays of keyless records that hold one logical setting each, in the
/// settings catalog: a group collection's group values and a choice
/// collection's values. Their elements have no key of their own, so a diff
/// pairs the elements that are not equal on both sides in order and walks
/// into each pair, naming a changed sub-setting by its own
/// `settingDefinitionId` chain (`groupSettingCollectionValue[0].children[x]`)
/// instead of reporting the whole group removed and added.
pub const PAIRED_RECORDS: &[&str] = &[
    "groupSettingCollectionValue",
    "choiceSettingCollectionValue",
];

/// Text whose surrounding whitespace is not meaningful (real exports carry
/// trailing-space-only display-name edits).
pub const TRIMMED_TEXT: &[&str] = &["displayName", "name", "description"];

const fn object(name: &'static str, root_type: &'static str) -> PolicyTypeRule {
    PolicyTypeRule {
        name,
        foundation: false,
        root: RootShape::Object,
        extra_volatile_top_level: &[],
        secret_fields: &[],
        boolean_strings: &[],
        root_type,
        declared_types: &[],
    }
}

const fn foundation(name: &'static str, root_type: &'static str) -> PolicyTypeRule {
    PolicyTypeRule {
        foundation: true,
        ..object(name, root_type)
    }
}

/// Every supported type. Names are Microsoft Graph collection names; root
/// types are the entity types of those collections in Graph's metadata.
pub static SUPPORTED: &[PolicyTypeRule] = &[
    PolicyTypeRule {
        declared_types: &[SETTINGS_CATALOG_DECLARED],
        ..object(
            "configurationPolicies",
            "microsoft.graph.deviceManagementConfigurationPolicy",
        )
    },
    PolicyTypeRule {
        // Settings-catalog compliance (IntuneManagement's
        // `CompliancePoliciesV2`).
        declared_types: &[SETTINGS_COMPLIANCE_DECLARED, SETTINGS_CATALOG_DECLARED],
        ..object(
            "compliancePolicies",
            "microsoft.graph.deviceManagementCompliancePolicy",
        )
    },
    PolicyTypeRule {
        declared_types: &[DEVICE_COMPLIANCE_DECLARED],
        ..object(
            "deviceCompliancePolicies",
            "microsoft.graph.deviceCompliancePolicy",
        )
    },
    PolicyTypeRule {
        // Wi-Fi, VPN and e-mail profiles carry shared keys and passwords.
        secret_fields: &[
            "preSharedKey",
            "wiFiPreSharedKey",
            "password",
            "sharedSecret",
        ],
        declared_types: &[DEVICE_CONFIGURATION_DECLARED],
        ..object(
            "deviceConfigurations",
            "microsoft.graph.deviceConfiguration",
        )
    },
    PolicyTypeRule {
        declared_types: &[INTENT_DECLARED],
        ..object(
            "deviceManagementIntents",
            "microsoft.graph.deviceManagementIntent",
        )
    },
    PolicyTypeRule {
        root: RootShape::ObjectOrRecordArray,
        boolean_strings: &["enabled"],
        declared_types: &[GROUP_POLICY_DECLARED],
        ..object(
            "groupPolicyConfigurations",
            "microsoft.graph.groupPolicyConfiguration",
        )
    },
    PolicyTypeRule {
        // Derived from `apps`; also an ETag-like `version` string.
        extra_volatile_top_level: &["deployedAppCount"],
        declared_types: &[MANAGED_APP_DECLARED],
        ..object("managedAppPolicies", "microsoft.graph.managedAppPolicy")
    },
    PolicyTypeRule {
        declared_types: &[MANAGED_APP_DECLARED],
        ..object(
            "mobileAppConfigurations",
            "microsoft.graph.managedDeviceMobileAppConfiguration",
        )
    },
    PolicyTypeRule {
        extra_volatile_top_level: &["deployedAppCount"],
        declared_types: &[MANAGED_APP_DECLARED],
        ..object(
            "targetedManagedAppConfigurations",
            "microsoft.graph.targetedManagedAppConfiguration",
        )
    },
    PolicyTypeRule {
        declared_types: &[ENROLLMENT_DECLARED],
        ..object(
            "deviceEnrollmentConfigurations",
            "microsoft.graph.deviceEnrollmentConfiguration",
        )
    },
    PolicyTypeRule {
        declared_types: &[AUTOPILOT_DECLARED],
        ..object(
            "windowsAutopilotDeploymentProfiles",
            "microsoft.graph.windowsAutopilotDeploymentProfile",
        )
    },
    // Apple automated device enrollment profiles (depOnboardingSettings).
    object("enrollmentProfiles", "microsoft.graph.enrollmentProfile"),
    PolicyTypeRule {
        declared_types: &[UPDATE_PROFILE_DECLARED],
        ..object(
            "windowsFeatureUpdateProfiles",
            "microsoft.graph.windowsFeatureUpdateProfile",
        )
    },
    PolicyTypeRule {
        declared_types: &[UPDATE_PROFILE_DECLARED],
        ..object(
            "windowsQualityUpdateProfiles",
            "microsoft.graph.windowsQualityUpdateProfile",
        )
    },
    object(
        "windowsDriverUpdateProfiles",
        "microsoft.graph.windowsDriverUpdateProfile",
    ),
    object(
        "deviceManagementScripts",
        "microsoft.graph.deviceManagementScript",
    ),
    object("deviceShellScripts", "microsoft.graph.deviceShellScript"),
    object(
        "deviceCustomAttributeShellScripts",
        "microsoft.graph.deviceCustomAttributeShellScript",
    ),
    object("deviceHealthScripts", "microsoft.graph.deviceHealthScript"),
    foundation("roleScopeTags", "microsoft.graph.roleScopeTag"),
    foundation(
        "assignmentFilters",
        "microsoft.graph.deviceAndAppManagementAssignmentFilter",
    ),
    // Entra ID groups: listed so that assignments can name their targets.
    foundation("groups", "microsoft.graph.group"),
    PolicyTypeRule {
        declared_types: &[NOTIFICATION_TEMPLATE_DECLARED],
        ..foundation(
            "notificationMessageTemplates",
            "microsoft.graph.notificationMessageTemplate",
        )
    },
];

/// Where Microsoft Graph serves a policy type, for the collector. Paths
/// are relative to the version root (`{graph}/beta`), as `$batch` wants
/// them. Listing reads each collection in full, following
/// `@odata.nextLink`; content is one GET per subject with the type's
/// expansion, sent in `$batch`es. From the Graph beta reference of each
/// resource type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GraphEndpoint {
    pub policy_type: &'static str,
    /// The collection (entity set), e.g. `/deviceManagement/intents`.
    pub collection: &'static str,
    /// Query options of a listing (without the `?`), or `""`.
    pub list_query: &'static str,
    /// Query options of a subject's full content: the navigation
    /// properties a list does not return (`$expand=settings`), or `""`.
    pub content_query: &'static str,
}

/// The Graph API version the endpoints are in: Intune's configuration
/// surface is served in full only by beta.
pub const GRAPH_VERSION: &str = "beta";

const fn endpoint(
    policy_type: &'static str,
    collection: &'static str,
    content_query: &'static str,
) -> GraphEndpoint {
    GraphEndpoint {
        policy_type,
        collection,
        list_query: "",
        content_query,
    }
}

/// Compliance actions are a navigation property of each rule.
const COMPLIANCE_ACTIONS: &str =
    "$expand=assignments,scheduledActionsForRule($expand=scheduledActionConfigurations)";

/// The navigation property every assignable type but app protection
/// policies has: `managedAppPolicy`, the entity type of that collection,
/// has none (only some derived types do), so Graph refuses the expansion
/// there.
const ASSIGNMENTS: &str = "$expand=assignments";

/// Every type the collector can read. Apple enrollment profiles
/// (`enrollmentProfiles`) are nested under each DEP token, so they have
/// no collection of their own and are imported or pushed only.
pub static GRAPH_ENDPOINTS: &[GraphEndpoint] = &[
    endpoint(
        "configurationPolicies",
        "/deviceManagement/configurationPolicies",
        "$expand=settings,assignments",
    ),
    endpoint(
        "compliancePolicies",
        "/deviceManagement/compliancePolicies",
        "$expand=settings,assignments,scheduledActionsForRule($expand=scheduledActionConfigurations)",
    ),
    endpoint(
        "deviceCompliancePolicies",
        "/deviceManagement/deviceCompliancePolicies",
        COMPLIANCE_ACTIONS,
    ),
    endpoint(
        "deviceConfigurations",
        "/deviceManagement/deviceConfigurations",
        ASSIGNMENTS,
    ),
    endpoint(
        "deviceManagementIntents",
        "/deviceManagement/intents",
        "$expand=settings,assignments",
    ),
    endpoint(
        "groupPolicyConfigurations",
        "/deviceManagement/groupPolicyConfigurations",
        "$expand=assignments,definitionValues($expand=presentationValues)",
    ),
    endpoint(
        "managedAppPolicies",
        "/deviceAppManagement/managedAppPolicies",
        "$expand=apps",
    ),
    endpoint(
        "mobileAppConfigurations",
        "/deviceAppManagement/mobileAppConfigurations",
        ASSIGNMENTS,
    ),
    endpoint(
        "targetedManagedAppConfigurations",
        "/deviceAppManagement/targetedManagedAppConfigurations",
        "$expand=apps,assignments",
    ),
    endpoint(
        "deviceEnrollmentConfigurations",
        "/deviceManagement/deviceEnrollmentConfigurations",
        ASSIGNMENTS,
    ),
    endpoint(
        "windowsAutopilotDeploymentProfiles",
        "/deviceManagement/windowsAutopilotDeploymentProfiles",
        ASSIGNMENTS,
    ),
    endpoint(
        "windowsFeatureUpdateProfiles",
        "/deviceManagement/windowsFeatureUpdateProfiles",
        ASSIGNMENTS,
    ),
    endpoint(
        "windowsQualityUpdateProfiles",
        "/deviceManagement/windowsQualityUpdateProfiles",
        ASSIGNMENTS,
    ),
    endpoint(
        "windowsDriverUpdateProfiles",
        "/deviceManagement/windowsDriverUpdateProfiles",
        ASSIGNMENTS,
    ),
    // Scripts: a listing leaves out `scriptContent`; a GET returns it.
    endpoint(
        "deviceManagementScripts",
        "/deviceManagement/deviceManagementScripts",
        ASSIGNMENTS,
    ),
    endpoint(
        "deviceShellScripts",
        "/deviceManagement/deviceShellScripts",
        ASSIGNMENTS,
    ),
    endpoint(
        "deviceCustomAttributeShellScripts",
        "/deviceManagement/deviceCustomAttributeShellScripts",
        ASSIGNMENTS,
    ),
    endpoint(
        "deviceHealthScripts",
        "/deviceManagement/deviceHealthScripts",
        ASSIGNMENTS,
    ),
    endpoint("roleScopeTags", "/deviceManagement/roleScopeTags", ""),
    endpoint(
        "assignmentFilters",
        "/deviceManagement/assignmentFilters",
        "",
    ),
    GraphEndpoint {
        policy_type: "groups",
        collection: "/groups",
        // Names are all assignments need of a group.
        list_query: "$select=id,displayName",
        content_query: "",
    },
    endpoint(
        "notificationMessageTemplates",
        "/deviceManagement/notificationMessageTemplates",
        "$expand=localizedNotificationMessages",
    ),
];

/// Where Graph serves `policy_type`, if the collector can read it.
pub fn graph_endpoint(policy_type: &str) -> Option<&'static GraphEndpoint> {
    GRAPH_ENDPOINTS
        .iter()
        .find(|e| e.policy_type == policy_type)
}

/// Every type the collector reads when it is asked for all.
pub fn collectable_types() -> Vec<&'static str> {
    GRAPH_ENDPOINTS.iter().map(|e| e.policy_type).collect()
}

/// The rule for a type nobody registered: plain object rules, not foundation.
pub static DEFAULT_RULE: PolicyTypeRule = object("*", "");

/// The rule for `policy_type`, and whether it is a known type.
/// Whether `document` has the shape an export of `policy_type` has: an
/// object, or for record-array types an array of objects.
pub fn root_matches(policy_type: &str, document: &serde_json::Value) -> bool {
    match (rule_for(policy_type).0.root, document) {
        (RootShape::Object | RootShape::ObjectOrRecordArray, serde_json::Value::Object(_)) => true,
        (
            RootShape::RecordArray | RootShape::ObjectOrRecordArray,
            serde_json::Value::Array(items),
        ) => items.iter().all(serde_json::Value::is_object),
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

/// An OData type name without its leading `#` (`#microsoft.graph.x` and
/// `microsoft.graph.x` name the same type; Graph's own examples write both).
pub fn odata_type_name(annotation: &str) -> &str {
    annotation.strip_prefix('#').unwrap_or(annotation)
}

impl PolicyTypeRule {
    /// The declared type of the value of `property` (`""` for the root
    /// records of a record-array payload), when the registry knows it.
    pub fn declared_type(&self, property: &str) -> Option<&'static str> {
        self.declared_types
            .iter()
            .find_map(|table| table.iter().find(|(p, _)| *p == property))
            .map(|(_, t)| *t)
    }

    /// Whether an `@odata.type` annotation says no more than the declared
    /// type, `declared`, of where it stands.
    pub fn is_declared(annotation: &str, declared: Option<&str>) -> bool {
        declared.is_some_and(|d| !d.is_empty() && odata_type_name(annotation) == d)
    }

    /// The root object's `@odata.type` as it counts: `None` when it is
    /// absent or names the collection's declared type, otherwise the type
    /// written with its `#`.
    pub fn root_odata_type(&self, annotation: Option<&str>) -> Option<String> {
        let annotation = annotation?.trim();
        if annotation.is_empty() || Self::is_declared(annotation, Some(self.root_type)) {
            return None;
        }
        Some(format!("#{}", odata_type_name(annotation)))
    }
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
    fn every_graph_endpoint_is_a_supported_type_listed_once() {
        let mut seen = std::collections::HashSet::new();
        for e in GRAPH_ENDPOINTS {
            assert!(is_supported(e.policy_type), "{}", e.policy_type);
            assert!(seen.insert(e.policy_type), "{} twice", e.policy_type);
            assert!(
                e.collection.starts_with("/device") || e.collection == "/groups",
                "{}",
                e.collection
            );
            assert!(!e.content_query.starts_with('?') && !e.list_query.starts_with('?'));
        }
        // Every supported type is collectable but Apple enrollment
        // profiles, which live under each DEP token.
        let missing: Vec<&str> = SUPPORTED
            .iter()
            .map(|r| r.name)
            .filter(|t| graph_endpoint(t).is_none())
            .collect();
        assert_eq!(missing, ["enrollmentProfiles"]);
    }

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
