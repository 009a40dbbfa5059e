//! The folder layouts of the backup tools people already have, as data:
//! which folder names hold which Microsoft Graph collection (the policy
//! type names of the registry and DESIGN.md).

use crate::evidence::registry;

/// A backup layout. `--layout` names one; otherwise the import detects it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Layout {
    /// Folders named by their Graph collection (`deviceConfigurations/`),
    /// as drift-engine's own corpus and Graph-API scripts write them.
    Native,
    /// IntuneCD (`Settings Catalog/`, `Compliance Policies/Policies/`, ...).
    /// IntuneCD strips ids, so subjects are keyed by their path inside the
    /// type folder.
    Intunecd,
    /// IntuneManagement (`SettingsCatalog/`, `DeviceConfiguration/`, ...):
    /// files keep their Graph id; `MigrationTable.json` and
    /// `*_Settings.json` companions are not exports.
    IntuneManagement,
}

/// A folder path (one name or more, outermost first) and the collection it
/// holds.
pub struct FolderRule {
    pub folders: &'static [&'static str],
    pub collection: &'static str,
}

const fn rule(folders: &'static [&'static str], collection: &'static str) -> FolderRule {
    FolderRule {
        folders,
        collection,
    }
}

/// IntuneCD's backup folders.
pub const INTUNECD: &[FolderRule] = &[
    rule(&["Settings Catalog"], "configurationPolicies"),
    rule(&["Device Configurations"], "deviceConfigurations"),
    rule(
        &["Compliance Policies", "Policies"],
        "deviceCompliancePolicies",
    ),
    rule(
        &["Compliance Policies", "Message Templates"],
        "notificationMessageTemplates",
    ),
    rule(&["Management Intents"], "deviceManagementIntents"),
    rule(&["App Protection"], "managedAppPolicies"),
    rule(&["App Configuration"], "mobileAppConfigurations"),
    rule(
        &["Group Policy Configurations"],
        "groupPolicyConfigurations",
    ),
    rule(
        &["Enrollment Configurations"],
        "deviceEnrollmentConfigurations",
    ),
    rule(
        &["Enrollment Profiles", "Windows"],
        "windowsAutopilotDeploymentProfiles",
    ),
    rule(&["Enrollment Profiles", "Apple"], "enrollmentProfiles"),
    rule(&["Filters"], "assignmentFilters"),
    rule(&["Scripts", "Powershell"], "deviceManagementScripts"),
    rule(&["Scripts", "Shell"], "deviceShellScripts"),
    rule(&["Custom Attributes"], "deviceCustomAttributeShellScripts"),
    rule(&["Proactive Remediations"], "deviceHealthScripts"),
    rule(&["Feature Updates"], "windowsFeatureUpdateProfiles"),
];

/// IntuneManagement's export folders.
pub const INTUNE_MANAGEMENT: &[FolderRule] = &[
    rule(&["SettingsCatalog"], "configurationPolicies"),
    rule(&["CompliancePolicies"], "deviceCompliancePolicies"),
    // Settings-catalog compliance.
    rule(&["CompliancePoliciesV2"], "compliancePolicies"),
    rule(&["DeviceConfiguration"], "deviceConfigurations"),
    // Windows Update rings are device configurations of a derived type.
    rule(&["UpdatePolicies"], "deviceConfigurations"),
    rule(&["EndpointSecurity"], "deviceManagementIntents"),
    rule(&["AdministrativeTemplates"], "groupPolicyConfigurations"),
    rule(&["AppProtection"], "managedAppPolicies"),
    rule(
        &["AppConfigurationManagedDevice"],
        "mobileAppConfigurations",
    ),
    rule(
        &["AppConfigurationManagedApp"],
        "targetedManagedAppConfigurations",
    ),
    rule(&["AssignmentFilters"], "assignmentFilters"),
    rule(&["FeatureUpdates"], "windowsFeatureUpdateProfiles"),
    rule(&["QualityUpdates"], "windowsQualityUpdateProfiles"),
    rule(&["DriverUpdateProfiles"], "windowsDriverUpdateProfiles"),
    rule(
        &["EnrollmentRestrictions"],
        "deviceEnrollmentConfigurations",
    ),
    rule(&["EnrollmentStatusPage"], "deviceEnrollmentConfigurations"),
    rule(&["AutoPilot"], "windowsAutopilotDeploymentProfiles"),
];

/// Where a file sits in a layout: its collection, and how many of its
/// folders (from the import root down) lead to and include the type
/// folder; the rest, with the file's name, is its path inside it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    pub collection: &'static str,
    pub type_folder_end: usize,
}

impl Layout {
    pub const ALL: [Layout; 3] = [Layout::Native, Layout::Intunecd, Layout::IntuneManagement];

    pub fn name(self) -> &'static str {
        match self {
            Layout::Native => "native",
            Layout::Intunecd => "IntuneCD",
            Layout::IntuneManagement => "IntuneManagement",
        }
    }

    fn rules(self) -> &'static [FolderRule] {
        match self {
            Layout::Native => &[],
            Layout::Intunecd => INTUNECD,
            Layout::IntuneManagement => INTUNE_MANAGEMENT,
        }
    }

    /// Why a file of this layout is not an export, when it is a companion
    /// the tool writes beside its exports.
    pub fn companion(self, file_name: &str) -> Option<&'static str> {
        let lower = file_name.to_ascii_lowercase();
        match self {
            Layout::IntuneManagement if lower == "migrationtable.json" => Some(
                "IntuneManagement's migration table (ids for importing elsewhere), not an export",
            ),
            Layout::IntuneManagement if lower.ends_with("_settings.json") => Some(
                "an IntuneManagement companion of an export (its settings as a list), not an export",
            ),
            _ => None,
        }
    }

    /// The leftmost type folder among `dirs` (folder names from the import
    /// root, included, down to the file's folder). Names match exactly, as
    /// the tools write them: IntuneManagement's `CompliancePolicies` and
    /// the Graph collection `compliancePolicies` are different types.
    pub fn place(self, dirs: &[&str]) -> Option<Placement> {
        for start in 0..dirs.len() {
            let rest = &dirs[start..];
            if self == Layout::Native {
                let (rule, known) = registry::rule_for(rest[0]);
                if known {
                    return Some(Placement {
                        collection: rule.name,
                        type_folder_end: start + 1,
                    });
                }
                continue;
            }
            if let Some(found) = self
                .rules()
                .iter()
                .filter(|r| rest.starts_with(r.folders))
                .max_by_key(|r| r.folders.len())
            {
                return Some(Placement {
                    collection: found.collection,
                    type_folder_end: start + found.folders.len(),
                });
            }
        }
        None
    }
}

/// The layout that places the most of `files` (each given by its folder
/// names); the native layout on a tie.
pub fn detect<'a>(files: impl Iterator<Item = &'a [String]>) -> Layout {
    let mut counts = [0usize; 3];
    for dirs in files {
        let dirs: Vec<&str> = dirs.iter().map(String::as_str).collect();
        for (i, layout) in Layout::ALL.iter().enumerate() {
            if layout.place(&dirs).is_some() {
                counts[i] += 1;
            }
        }
    }
    let best = counts.iter().copied().max().unwrap_or(0);
    Layout::ALL
        .into_iter()
        .zip(counts)
        .find(|(_, n)| *n == best)
        .map_or(Layout::Native, |(l, _)| l)
}

/// The collection an OData context URL names
/// (`https://graph.microsoft.com/beta/$metadata#deviceManagement/configurationPolicies/$entity`,
/// also with a `(...)` select list), when the registry knows it. Only the
/// last segment counts: `configurationPolicies('x')/settings` is a list of
/// settings, not of policies.
pub fn context_collection(context: &str) -> Option<&'static str> {
    let (_, fragment) = context.split_once("$metadata#")?;
    let last = fragment
        .split('/')
        .rfind(|segment| *segment != "$entity" && !segment.is_empty())?;
    let name = last.split('(').next()?;
    let (rule, known) = registry::rule_for(name);
    known.then_some(rule.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_layout_folder_names_a_registered_type() {
        for rule in INTUNECD.iter().chain(INTUNE_MANAGEMENT) {
            assert!(
                registry::is_supported(rule.collection),
                "{:?} -> {}",
                rule.folders,
                rule.collection
            );
        }
    }

    #[test]
    fn places_by_the_leftmost_longest_folder() {
        let place =
            |l: Layout, dirs: &[&str]| l.place(dirs).map(|p| (p.collection, p.type_folder_end));
        assert_eq!(
            place(
                Layout::Intunecd,
                &["backup", "Compliance Policies", "Policies"]
            ),
            Some(("deviceCompliancePolicies", 3))
        );
        assert_eq!(
            place(
                Layout::Intunecd,
                &["backup", "Compliance Policies", "Message Templates"]
            ),
            Some(("notificationMessageTemplates", 3))
        );
        assert_eq!(
            place(Layout::Intunecd, &["backup", "Compliance Policies"]),
            None
        );
        assert_eq!(
            place(Layout::IntuneManagement, &["x", "CompliancePoliciesV2"]),
            Some(("compliancePolicies", 2))
        );
        assert_eq!(
            place(Layout::Native, &["intune", "deviceConfigurations", "src"]),
            Some(("deviceConfigurations", 2))
        );
        assert_eq!(place(Layout::Native, &["intune", "_history", "a"]), None);
    }

    #[test]
    fn contexts_name_their_collection() {
        assert_eq!(
            context_collection(
                "https://graph.microsoft.com/beta/$metadata#deviceManagement/configurationPolicies/$entity"
            ),
            Some("configurationPolicies")
        );
        assert_eq!(
            context_collection(
                "https://graph.microsoft.com/beta/$metadata#deviceManagement/deviceConfigurations(id,displayName)"
            ),
            Some("deviceConfigurations")
        );
        assert_eq!(
            context_collection(
                "https://graph.microsoft.com/beta/$metadata#deviceManagement/configurationPolicies('a')/settings"
            ),
            None
        );
        assert_eq!(
            context_collection("https://graph.microsoft.com/beta/$metadata#users"),
            None
        );
        assert_eq!(context_collection("not a context"), None);
    }
}
