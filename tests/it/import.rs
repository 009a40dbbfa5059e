use drift_engine::auth::tokens;
use entity::enums::TenantKind;
use entity::{inventory_item, policy_version};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};

use crate::common::TestDb;
use crate::corpus::fixtures;

/// `drift-engine import` over the whole corpus folder: types from folder
/// names, files without a type or with a duplicate id reported, the rest
/// recorded as inventory plus content.
#[tokio::test]
async fn imports_the_corpus_folder() {
    let test_db = TestDb::new().await;
    let db = &test_db.db;
    let user = tokens::find_or_create_user(db, "import@example.com", None)
        .await
        .expect("user");
    let (ws, _) = drift_engine::directory::create_workspace(db, user.id, "W")
        .await
        .expect("ws");
    let tenant =
        drift_engine::directory::create_tenant(db, user.id, ws.id, "T", TenantKind::Intune, None)
            .await
            .expect("tenant");

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
