use drift_engine::auth::tokens;
use entity::enums::TenantKind;
use entity::{inventory_item, policy_version};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};

use crate::common::TestDb;
use crate::corpus::fixtures;

/// A tenant in a workspace of its own.
async fn new_tenant(db: &sea_orm::DatabaseConnection) -> entity::tenant::Model {
    let user = tokens::find_or_create_user(db, "import@example.com", None)
        .await
        .expect("user");
    let (ws, _) = drift_engine::directory::create_workspace(db, user.id, "W")
        .await
        .expect("ws");
    drift_engine::directory::create_tenant(db, user.id, ws.id, "T", TenantKind::Intune, None)
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

    let report = drift_engine::import::import_dir(db, tenant.id, &fixtures(), None)
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
    // `_history` and manifest.json have no policy type folder.
    assert!(
        report
            .skipped
            .iter()
            .any(|(p, r)| p.to_string_lossy().contains("_history") && r.contains("policy type"))
    );
    // The secured-workstation exports reuse ids across ENT/PAW/SPE copies.
    assert!(
        report
            .skipped
            .iter()
            .any(|(_, r)| r.contains("already has id"))
    );
    assert_eq!(
        report.files_read,
        items as usize
            + report
                .skipped
                .iter()
                .filter(|(_, r)| r.contains("already has id"))
                .count()
    );

    // One type with --policy-type and a folder of that type only.
    let dir = fixtures().join("deviceCompliancePolicies/intune-config-frameworks");
    let report =
        drift_engine::import::import_dir(db, tenant.id, &dir, Some("deviceCompliancePolicies"))
            .await
            .expect("import");
    assert!(report.skipped.is_empty());
    assert_eq!(report.files_read, 7);
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
    let first = drift_engine::import::import_dir(db, tenant.id, dir.path(), None)
        .await
        .expect("import");
    assert!(first.skipped.is_empty(), "{:?}", first.skipped);
    assert_eq!(first.files_read, 6);
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

    let second = drift_engine::import::import_dir(db, tenant.id, dir.path(), None)
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
