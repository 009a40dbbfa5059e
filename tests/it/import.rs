use std::collections::BTreeSet;

use drift_engine::auth::tokens;
use drift_engine::import::{ImportOptions, ImportReport, Layout};
use entity::enums::TenantKind;
use entity::{inventory_item, policy_version};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};

use crate::common::TestDb;
use crate::corpus::fixtures;

/// A tenant in a workspace of its own.
async fn new_tenant(db: &sea_orm::DatabaseConnection) -> entity::tenant::Model {
    new_tenant_named(db, "T").await
}

async fn new_tenant_named(db: &sea_orm::DatabaseConnection, name: &str) -> entity::tenant::Model {
    let user = tokens::find_or_create_user(db, "import@example.com", None)
        .await
        .expect("user");
    let (ws, _) = drift_engine::directory::create_workspace(db, user.id, "W")
        .await
        .expect("ws");
    drift_engine::directory::create_tenant(db, user.id, ws.id, name, TenantKind::Intune, None)
        .await
        .expect("tenant")
}

/// `drift-engine import` over the whole corpus folder: types from folder
/// names, files without a type or with a duplicate id reported, the rest
/// recorded as inventory plus content.
#[tokio::test]
async fn imports_the_corpus_folder() {
    let test_db = TestDb::new().await;
    let db = &test_db.db;
    let tenant = new_tenant(db).await;

    let report = drift_engine::import::import_dir(db, tenant.id, &fixtures(), Default::default())
        .await
        .expect("import");
    let versions = policy_version::Entity::find()
        .filter(policy_version::Column::TenantId.eq(tenant.id))
        .count(db)
        .await
        .expect("count");
    let items = inventory_item::Entity::find()
        .filter(inventory_item::Column::TenantId.eq(tenant.id))
        .count(db)
        .await
        .expect("count");
    assert_eq!(versions as usize, items as usize);
    assert!(items >= 50, "{items} subjects imported");
    assert_eq!(report.versions_not_normalizable, 0);
    // `_history` and manifest.json have no policy type folder: reported
    // and left out, never guessed.
    assert_eq!(report.layout, Some(Layout::Native));
    assert!(
        report
            .ignored
            .iter()
            .any(|(p, r)| p.to_string_lossy().contains("_history")
                && r.contains("not a type folder"))
    );
    assert!(
        report
            .ignored
            .iter()
            .any(|(p, _)| p.ends_with("manifest.json"))
    );
    assert!(
        report
            .skipped
            .iter()
            .all(|(_, r)| r.contains("already has id")),
        "{:?}",
        report.skipped
    );
    // The secured-workstation exports reuse ids across ENT/PAW/SPE copies.
    assert!(
        report
            .skipped
            .iter()
            .any(|(_, r)| r.contains("already has id"))
    );
    assert_eq!(
        report.exports_read,
        items as usize
            + report
                .skipped
                .iter()
                .filter(|(_, r)| r.contains("already has id"))
                .count()
    );

    // One type with --policy-type and a folder of that type only.
    let dir = fixtures().join("deviceCompliancePolicies/intune-config-frameworks");
    let report = drift_engine::import::import_dir(
        db,
        tenant.id,
        &dir,
        ImportOptions {
            policy_type: Some("deviceCompliancePolicies"),
            ..Default::default()
        },
    )
    .await
    .expect("import");
    assert!(report.skipped.is_empty());
    assert_eq!(report.exports_read, 7);
}

/// Re-importing a folder where files went bad: a truncated file and a
/// UTF-16 one without a byte-order mark keep their types from being full listings (FAILED, nothing
/// removed); `[1,2,3]`, `null` and a file holding NUL are refused per file;
/// the CLI exits non-zero unless `--allow-skipped`.
#[tokio::test]
async fn skipped_files_keep_their_types_from_being_full_listings() {
    use entity::operation_run;
    use sea_orm::QueryOrder;

    let test_db = TestDb::new().await;
    let db = &test_db.db;
    let tenant = new_tenant(db).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut copied = Vec::new();
    for (policy_type, from) in [
        (
            "deviceCompliancePolicies",
            "deviceCompliancePolicies/securedworkstation/ENT/JSON/DeviceCompliance",
        ),
        (
            "deviceConfigurations",
            "deviceConfigurations/intune-config-frameworks",
        ),
    ] {
        let target = dir.path().join(policy_type);
        std::fs::create_dir_all(&target).expect("folder");
        let mut files: Vec<_> = walkdir::WalkDir::new(fixtures().join(from))
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .map(|e| e.into_path())
            .collect();
        files.sort();
        for file in files.iter().take(3) {
            let to = target.join(file.file_name().expect("name"));
            std::fs::copy(file, &to).expect("copy");
            copied.push(to);
        }
    }
    let first = drift_engine::import::import_dir(db, tenant.id, dir.path(), Default::default())
        .await
        .expect("import");
    assert!(first.skipped.is_empty(), "{:?}", first.skipped);
    assert_eq!(first.exports_read, 6);
    let present = || async {
        inventory_item::Entity::find()
            .filter(inventory_item::Column::TenantId.eq(tenant.id))
            .filter(inventory_item::Column::RemovedAt.is_null())
            .count(db)
            .await
            .expect("count")
    };
    assert_eq!(present().await, 6);

    // One file truncated, one rewritten as UTF-16, and three that are no exports.
    let compliance = &copied[0];
    let text = std::fs::read_to_string(compliance).expect("read");
    std::fs::write(compliance, &text[..text.len() / 2]).expect("truncate");
    let configuration = &copied[3];
    let text = std::fs::read_to_string(configuration).expect("read");
    // UTF-16 without its byte-order mark cannot be told apart safely.
    let utf16: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
    std::fs::write(configuration, utf16).expect("utf-16");
    let other = dir.path().join("configurationPolicies");
    std::fs::create_dir_all(&other).expect("folder");
    std::fs::write(other.join("list.json"), "[1,2,3]").expect("write");
    std::fs::write(other.join("null.json"), "null").expect("write");
    std::fs::write(other.join("nul.json"), r#"{"id": "n", "name": "a\u0000b"}"#).expect("write");
    std::fs::write(other.join("good.json"), r#"{"id": "g", "name": "Good"}"#).expect("write");

    let second = drift_engine::import::import_dir(db, tenant.id, dir.path(), Default::default())
        .await
        .expect("import");
    let reasons: Vec<String> = second
        .skipped
        .iter()
        .map(|(p, r)| format!("{}: {r}", p.display()))
        .collect();
    assert_eq!(second.skipped.len(), 5, "{reasons:#?}");
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("list.json") && r.contains("not a configurationPolicies export"))
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("null.json") && r.contains("not a configurationPolicies export"))
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("nul.json") && r.contains("NUL"))
    );
    assert!(reasons.iter().any(|r| r.contains("not valid JSON")));
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("not UTF-8") && r.contains("UTF-16 without a byte-order mark"))
    );
    assert_eq!(
        second.failed_types,
        [
            "configurationPolicies",
            "deviceCompliancePolicies",
            "deviceConfigurations"
        ]
    );
    // Nothing was marked removed, and no bad file became an item.
    assert_eq!(present().await, 6);
    let sync = operation_run::Entity::find_by_id(second.inventory_run_id.expect("a sync"))
        .one(db)
        .await
        .expect("run")
        .expect("exists");
    assert_eq!(
        sync.summary_counts["policy_types_failed"], 3,
        "{:?}",
        sync.summary_counts
    );
    assert_eq!(sync.summary_counts["items_removed"], 0);

    // The CLI says so with its exit code.
    let cli = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_drift-engine"))
            .arg("import")
            .args(["--tenant", &tenant.id.to_string()])
            .args(extra)
            .arg(dir.path())
            .env("DATABASE_URL", &test_db.url)
            .env("RUST_LOG", "warn")
            .output()
            .expect("runs")
    };
    let refused = cli(&[]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--allow-skipped"));
    let allowed = cli(&["--allow-skipped"]);
    assert!(
        allowed.status.success(),
        "{}",
        String::from_utf8_lossy(&allowed.stderr)
    );
    let last = operation_run::Entity::find()
        .filter(operation_run::Column::TenantId.eq(tenant.id))
        .order_by_desc(operation_run::Column::Id)
        .all(db)
        .await
        .expect("runs");
    assert!(last.len() >= 6);
    assert_eq!(present().await, 6);
}

/// A corpus file's document.
fn corpus_doc(relative: &str) -> serde_json::Value {
    crate::corpus::load(&fixtures().join(relative))
}

/// Writes `document` at `root/relative`, as UTF-16 LE with a BOM when
/// `utf16` (as Windows PowerShell writes backups).
fn put(root: &std::path::Path, relative: &str, document: &serde_json::Value, utf16: bool) {
    let path = root.join(relative);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("folders");
    let text = serde_json::to_string_pretty(document).expect("json");
    let bytes = if utf16 {
        [0xFF, 0xFE]
            .into_iter()
            .chain(text.encode_utf16().flat_map(u16::to_le_bytes))
            .collect()
    } else {
        text.into_bytes()
    };
    std::fs::write(path, bytes).expect("write");
}

fn without_id(mut document: serde_json::Value) -> serde_json::Value {
    if let Some(map) = document.as_object_mut() {
        map.remove("id");
    }
    document
}

/// (policy type, external id) of every present item of the tenant.
async fn subjects(db: &sea_orm::DatabaseConnection, tenant_id: i64) -> BTreeSet<(String, String)> {
    inventory_item::Entity::find()
        .filter(inventory_item::Column::TenantId.eq(tenant_id))
        .filter(inventory_item::Column::RemovedAt.is_null())
        .all(db)
        .await
        .expect("items")
        .into_iter()
        .map(|i| (i.policy_type, i.external_id))
        .collect()
}

fn set(pairs: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    pairs
        .iter()
        .map(|(t, k)| ((*t).to_owned(), (*k).to_owned()))
        .collect()
}

const SETTINGS_CATALOG: &str =
    "configurationPolicies/acsc/office/policies/All Macros Disabled.json";
const COMPLIANCE: &str = "deviceCompliancePolicies/intune-config-frameworks/iOS/Compliance/level-2-iOS_iPadOS-enhanced-security-compliance.json";
const CONFIGURATION: &str = "deviceConfigurations/intune-config-frameworks/iOS/Personal/level-1-iOS_iPadOS-personal-basic-security-configuration.json";
const INTENT: &str = "deviceManagementIntents/acsc/policies/ACSC Windows Hardening Guidelines-Attack Surface Reduction.json";
const APP_PROTECTION: &str = "managedAppPolicies/intune-config-frameworks/AppProtectionPolicies/level-1-enterprise-basic-data-protection-iOS.json";
const ADMX: &str = "groupPolicyConfigurations/securedworkstation/PAW/JSON/DeviceConfigurationADMX/PAW-Edge Version 85 - Computer.json";

/// An IntuneCD backup: its folder names map to Graph collections, exports
/// without ids are keyed by their path inside the type folder (and the
/// sync says so), UTF-16 files read, and unknown folders are reported.
#[tokio::test]
async fn imports_an_intunecd_backup() {
    let test_db = TestDb::new().await;
    let db = &test_db.db;
    let tenant = new_tenant(db).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("intunecd-backup");
    put(
        &root,
        "Settings Catalog/All Macros Disabled_configurationPolicies.json",
        &without_id(corpus_doc(SETTINGS_CATALOG)),
        true,
    );
    put(
        &root,
        "Compliance Policies/Policies/iOS level 2_iosCompliancePolicy.json",
        &without_id(corpus_doc(COMPLIANCE)),
        false,
    );
    put(
        &root,
        "Compliance Policies/Message Templates/Noncompliance notice.json",
        // Graph's notificationMessageTemplate, as IntuneCD writes it.
        &serde_json::json!({"displayName": "Noncompliance notice", "defaultLocale": "en-us", "brandingOptions": "includeCompanyLogo", "roleScopeTagIds": ["0"]}),
        false,
    );
    put(
        &root,
        "Device Configurations/iOS personal level 1_iosGeneralDeviceConfiguration.json",
        &without_id(corpus_doc(CONFIGURATION)),
        true,
    );
    put(
        &root,
        "Management Intents/Attack surface reduction rules/ASR.json",
        &without_id(corpus_doc(INTENT)),
        false,
    );
    put(
        &root,
        "App Protection/iOS level 1_iosManagedAppProtection.json",
        &without_id(corpus_doc(APP_PROTECTION)),
        false,
    );
    put(
        &root,
        "Group Policy Configurations/PAW Edge.json",
        &corpus_doc(ADMX),
        false,
    );
    put(
        &root,
        "Partner Connections/Something.json",
        &serde_json::json!({"displayName": "not ours"}),
        false,
    );

    let report = drift_engine::import::import_dir(db, tenant.id, &root, Default::default())
        .await
        .expect("import");
    assert_eq!(report.layout, Some(Layout::Intunecd));
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);
    assert_eq!(report.exports_read, 7);
    assert_eq!(
        subjects(db, tenant.id).await,
        set(&[
            (
                "configurationPolicies",
                "All Macros Disabled_configurationPolicies"
            ),
            (
                "deviceCompliancePolicies",
                "iOS level 2_iosCompliancePolicy"
            ),
            ("notificationMessageTemplates", "Noncompliance notice"),
            (
                "deviceConfigurations",
                "iOS personal level 1_iosGeneralDeviceConfiguration"
            ),
            (
                "deviceManagementIntents",
                "Attack surface reduction rules/ASR"
            ),
            ("managedAppPolicies", "iOS level 1_iosManagedAppProtection"),
            ("groupPolicyConfigurations", "PAW Edge"),
        ])
    );
    let unknown: Vec<String> = report
        .ignored
        .iter()
        .map(|(p, r)| format!("{}: {r}", p.display()))
        .collect();
    assert_eq!(unknown.len(), 1, "{unknown:?}");
    assert!(
        unknown[0].contains("Partner Connections") && unknown[0].contains("IntuneCD"),
        "{unknown:?}"
    );
    // The run says that these subjects are keyed by path.
    let sync = entity::operation_run::Entity::find_by_id(report.inventory_run_id.expect("a sync"))
        .one(db)
        .await
        .expect("run")
        .expect("exists");
    let warnings = sync.context["inventory_coverage"]["warnings"]
        .as_array()
        .expect("warnings")
        .clone();
    let keyed: Vec<&serde_json::Value> = warnings
        .iter()
        .filter(|w| w["code"] == "keyed_by_path")
        .collect();
    assert_eq!(keyed.len(), 7, "{warnings:?}");
    // Content is the same as the Graph export's, BOM and UTF-16 included.
    let version = policy_version::Entity::find()
        .filter(policy_version::Column::TenantId.eq(tenant.id))
        .filter(policy_version::Column::PolicyType.eq("configurationPolicies"))
        .one(db)
        .await
        .expect("query")
        .expect("a version");
    let expected = drift_engine::evidence::normalize::normalize(
        "configurationPolicies",
        &corpus_doc(SETTINGS_CATALOG),
    )
    .expect("normalizes");
    assert_eq!(version.content_hash, Some(expected.hash));
}

/// An IntuneManagement export: ids kept, companions and the migration
/// table left out and reported, `CompliancePoliciesV2` as settings-catalog
/// compliance, and `@odata.context` naming the collection whatever the
/// folder; a Graph list response holds many policies.
#[tokio::test]
async fn imports_an_intune_management_export_and_graph_list_responses() {
    let test_db = TestDb::new().await;
    let db = &test_db.db;
    let tenant = new_tenant(db).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("export");
    let catalog = corpus_doc(SETTINGS_CATALOG);
    put(
        &root,
        "SettingsCatalog/All Macros Disabled.json",
        &catalog,
        true,
    );
    let mut v2 = catalog.clone();
    v2["id"] = serde_json::json!("compliance-v2-id");
    put(
        &root,
        "CompliancePoliciesV2/Windows compliance.json",
        &v2,
        false,
    );
    // IntuneManagement keeps each policy's Graph id.
    let with_id = |relative: &str, id: &str| {
        let mut document = corpus_doc(relative);
        document["id"] = serde_json::json!(id);
        document
    };
    put(
        &root,
        "CompliancePolicies/iOS level 2.json",
        &with_id(COMPLIANCE, "im-compliance"),
        false,
    );
    put(
        &root,
        "DeviceConfiguration/iOS personal level 1.json",
        &with_id(CONFIGURATION, "im-configuration"),
        false,
    );
    let mut ring = corpus_doc(CONFIGURATION);
    ring["id"] = serde_json::json!("update-ring-id");
    ring["@odata.type"] =
        serde_json::json!("#microsoft.graph.windowsUpdateForBusinessConfiguration");
    put(&root, "UpdatePolicies/Ring 1.json", &ring, false);
    put(
        &root,
        "EndpointSecurity/ASR.json",
        &with_id(INTENT, "im-intent"),
        false,
    );
    put(
        &root,
        "AppProtection/iOS level 1.json",
        &with_id(APP_PROTECTION, "im-app"),
        false,
    );
    let admx = serde_json::json!({"id": "admx-id", "displayName": "PAW Edge", "description": ""});
    put(&root, "AdministrativeTemplates/PAW Edge.json", &admx, false);
    put(
        &root,
        "AdministrativeTemplates/PAW Edge_Settings.json",
        &corpus_doc(ADMX),
        false,
    );
    put(
        &root,
        "MigrationTable.json",
        &serde_json::json!({"TenantId": "t", "Objects": []}),
        false,
    );
    // A folder nobody names, holding a list response with its context.
    let compliance = corpus_doc(COMPLIANCE);
    let mut second = corpus_doc(
        "deviceCompliancePolicies/intune-config-frameworks/iOS/Compliance/level-3-iOS_iPadOS-high-security-compliance.json",
    );
    second["id"] = serde_json::json!("listed-2");
    let mut first = compliance.clone();
    first["id"] = serde_json::json!("listed-1");
    put(
        &root,
        "Graph dumps/compliance.json",
        &serde_json::json!({
            "@odata.context": "https://graph.microsoft.com/beta/$metadata#deviceManagement/deviceCompliancePolicies",
            "value": [first, second],
        }),
        false,
    );
    let mut entity = corpus_doc(CONFIGURATION);
    entity["id"] = serde_json::json!("by-context");
    entity["@odata.context"] = serde_json::json!(
        "https://graph.microsoft.com/beta/$metadata#deviceManagement/deviceConfigurations/$entity"
    );
    put(&root, "Graph dumps/one.json", &entity, false);

    let report = drift_engine::import::import_dir(db, tenant.id, &root, Default::default())
        .await
        .expect("import");
    assert_eq!(report.layout, Some(Layout::IntuneManagement));
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);
    let catalog_id = catalog["id"].as_str().expect("an id").to_owned();
    assert_eq!(
        subjects(db, tenant.id).await,
        set(&[
            ("configurationPolicies", &catalog_id),
            ("compliancePolicies", "compliance-v2-id"),
            ("deviceCompliancePolicies", "im-compliance"),
            ("deviceCompliancePolicies", "listed-1"),
            ("deviceCompliancePolicies", "listed-2"),
            ("deviceConfigurations", "im-configuration"),
            ("deviceConfigurations", "update-ring-id"),
            ("deviceConfigurations", "by-context"),
            ("deviceManagementIntents", "im-intent"),
            ("managedAppPolicies", "im-app"),
            ("groupPolicyConfigurations", "admx-id"),
        ])
    );
    let ignored: Vec<String> = report
        .ignored
        .iter()
        .map(|(p, r)| format!("{}: {r}", p.display()))
        .collect();
    assert_eq!(ignored.len(), 2, "{ignored:?}");
    assert!(
        ignored
            .iter()
            .any(|r| r.contains("MigrationTable.json") && r.contains("migration table"))
    );
    assert!(
        ignored
            .iter()
            .any(|r| r.contains("PAW Edge_Settings.json") && r.contains("companion"))
    );

    // `--layout` overrides the detection: read as IntuneCD, only the
    // files whose context names a collection are exports.
    let other = new_tenant_named(db, "Other").await;
    let forced = drift_engine::import::import_dir(
        db,
        other.id,
        &root,
        ImportOptions {
            layout: Some(Layout::Intunecd),
            ..Default::default()
        },
    )
    .await
    .expect("import");
    assert_eq!(forced.layout, Some(Layout::Intunecd));
    assert_eq!(
        subjects(db, other.id).await,
        set(&[
            ("deviceCompliancePolicies", "listed-1"),
            ("deviceCompliancePolicies", "listed-2"),
            ("deviceConfigurations", "by-context"),
        ])
    );
    assert!(
        forced
            .ignored
            .iter()
            .any(|(p, _)| p.ends_with("SettingsCatalog"))
    );
}

/// A folder in which nothing is an export: the CLI exits non-zero.
#[tokio::test]
async fn an_import_that_recognizes_nothing_fails() {
    let test_db = TestDb::new().await;
    let tenant = new_tenant(&test_db.db).await;
    let dir = tempfile::tempdir().expect("temp dir");
    put(
        dir.path(),
        "notes/readme.json",
        &serde_json::json!({"hello": "world"}),
        false,
    );
    let report: ImportReport =
        drift_engine::import::import_dir(&test_db.db, tenant.id, dir.path(), Default::default())
            .await
            .expect("import");
    assert!(!report.recognized_any());
    assert!(report.inventory_run_id.is_none());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_drift-engine"))
        .args(["import", "--tenant", &tenant.id.to_string()])
        .arg(dir.path())
        .env("DATABASE_URL", &test_db.url)
        .env("RUST_LOG", "warn")
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no export recognized") && stderr.contains("notes"),
        "{stderr}"
    );
}

/// The first choice value in a settings catalog, changed: a real edit.
fn change_first_choice(value: &mut serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::Object(map) => {
            if let Some(choice) = map.get_mut("choiceSettingValue")
                && let Some(v) = choice.get("value").and_then(serde_json::Value::as_str)
            {
                let old = v.to_owned();
                choice["value"] = serde_json::json!(format!("{old}_changed"));
                return Some(old);
            }
            map.values_mut().find_map(change_first_choice)
        }
        serde_json::Value::Array(items) => items.iter_mut().find_map(change_first_choice),
        _ => None,
    }
}

/// Two checkouts of one IntuneCD backup repository, imported one after the
/// other into the same tenant: the second is a new sync with new versions,
/// so a compare against a baseline of the first shows what changed
/// between them, each setting change named by its path.
#[tokio::test]
async fn two_checkouts_of_a_backup_repository_compare_as_what_changed() {
    use drift_engine::graphql::ids::{NodeKind, decode_as};
    let s =
        crate::drift::Scenario::new(crate::common::TestApp::spawn().await, serde_json::json!({}))
            .await;
    let target =
        decode_as(&async_graphql::ID(s.target.clone()), NodeKind::Tenant).expect("tenant id");
    let dir = tempfile::tempdir().expect("temp dir");
    let checkout = |name: &str, edit: bool, with_compliance: bool| {
        let root = dir.path().join(name);
        let mut catalog = without_id(corpus_doc(SETTINGS_CATALOG));
        if edit {
            change_first_choice(&mut catalog).expect("a choice setting");
        }
        put(
            &root,
            "Settings Catalog/All Macros Disabled.json",
            &catalog,
            edit,
        );
        put(
            &root,
            "Device Configurations/iOS level 1.json",
            &without_id(corpus_doc(CONFIGURATION)),
            false,
        );
        put(
            &root,
            "Compliance Policies/Policies/iOS level 3.json",
            &without_id(corpus_doc(
                "deviceCompliancePolicies/intune-config-frameworks/iOS/Compliance/level-3-iOS_iPadOS-high-security-compliance.json",
            )),
            false,
        );
        if with_compliance {
            put(
                &root,
                "Compliance Policies/Policies/iOS level 2.json",
                &without_id(corpus_doc(COMPLIANCE)),
                false,
            );
        }
        root
    };
    let first = checkout("checkout-1", false, true);
    let second = checkout("checkout-2", true, false);
    let a = drift_engine::import::import_dir(&s.app.db, target, &first, Default::default())
        .await
        .expect("import");
    let run = s
        .app
        .gql_ok(
            &s.token,
            "mutation($p: ID!, $t: ID!) { startBaselineCapture(input: {baselineProfileId: $p, sourceTenantId: $t}) { id } }",
            serde_json::json!({"p": s.profile, "t": s.target}),
        )
        .await["startBaselineCapture"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    s.wait(&run).await;
    let b = drift_engine::import::import_dir(&s.app.db, target, &second, Default::default())
        .await
        .expect("import");
    assert_ne!(a.inventory_run_id, b.inventory_run_id);
    assert_ne!(a.capture_run_id, b.capture_run_id);
    s.compare().await;
    let data = s
        .app
        .gql_ok(
            &s.token,
            "query($t: ID!) { findings(tenantId: $t, first: 50) { edges { node {
                findingType subject { policyType externalId }
                settingChanges { available changes { path change } } } } } }",
            serde_json::json!({"t": s.target}),
        )
        .await;
    let mut found: Vec<(String, String, String)> = data["findings"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| {
            let n = &e["node"];
            (
                n["findingType"].as_str().unwrap_or_default().to_owned(),
                n["subject"]["policyType"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                n["subject"]["externalId"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect();
    found.sort();
    assert_eq!(
        found,
        [
            (
                "DIFFERENT_VERSION".to_owned(),
                "configurationPolicies".to_owned(),
                "All Macros Disabled".to_owned()
            ),
            (
                "MISSING_POLICY".to_owned(),
                "deviceCompliancePolicies".to_owned(),
                "iOS level 2".to_owned()
            ),
        ]
    );
    let changed = data["findings"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .find(|e| e["node"]["findingType"] == "DIFFERENT_VERSION")
        .expect("the edit");
    let changes = changed["node"]["settingChanges"]["changes"]
        .as_array()
        .expect("changes");
    assert_eq!(changes.len(), 1, "{changes:?}");
    let path = changes[0]["path"].as_str().expect("a path");
    assert!(
        path.starts_with("settings[")
            && path.ends_with("choiceSettingValue.value")
            && changes[0]["change"] == "MODIFIED",
        "{path}"
    );
}
