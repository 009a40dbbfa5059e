use chrono::Utc;
use entity::enums::{RunOutcome, RunStatus, RunType, TenantKind};
use entity::{operation_run, tenant, workspace};
use migration::SchemaManager;
use migration::{Migrator, MigratorTrait};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, DatabaseConnection};
use serde_json::json;

use crate::common::TestDb;

const TABLES: [&str; 15] = [
    "workspaces",
    "tenants",
    "users",
    "api_tokens",
    "workspace_memberships",
    "baseline_profiles",
    "baseline_tenant_assignments",
    "baseline_snapshots",
    "baseline_snapshot_items",
    "inventory_items",
    "policy_versions",
    "evidence_blobs",
    "operation_runs",
    "findings",
    "audit_logs",
];

async fn tables_present(db: &DatabaseConnection) -> Vec<&'static str> {
    let manager = SchemaManager::new(db);
    let mut present = Vec::new();
    for table in TABLES {
        if manager.has_table(table).await.expect("has_table") {
            present.push(table);
        }
    }
    present
}

#[tokio::test]
async fn migrations_go_up_down_and_up_again() {
    let test_db = TestDb::empty().await;
    let db = &test_db.db;
    assert!(tables_present(db).await.is_empty());

    Migrator::up(db, None).await.expect("up");
    assert_eq!(tables_present(db).await, TABLES.to_vec());
    assert!(
        drift_engine::db::migrations_current(db)
            .await
            .expect("status")
    );

    Migrator::down(db, None).await.expect("down");
    assert!(
        tables_present(db).await.is_empty(),
        "down leaves no table behind"
    );
    assert!(
        !drift_engine::db::migrations_current(db)
            .await
            .expect("status")
    );

    Migrator::up(db, None).await.expect("up again");
    assert_eq!(tables_present(db).await, TABLES.to_vec());
}

fn run(
    workspace_id: i64,
    tenant_id: i64,
    identity: &str,
    status: RunStatus,
) -> operation_run::ActiveModel {
    let now = Utc::now();
    operation_run::ActiveModel {
        workspace_id: Set(workspace_id),
        tenant_id: Set(tenant_id),
        run_type: Set(RunType::BaselineCompare),
        status: Set(status),
        outcome: Set(RunOutcome::Pending),
        initiator_user_id: Set(None),
        run_identity_hash: Set(identity.to_owned()),
        summary_counts: Set(json!({})),
        failure_summary: Set(None),
        context: Set(json!({})),
        progress_done: Set(0),
        progress_total: Set(0),
        attempts: Set(0),
        claimed_by: Set(None),
        heartbeat_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        started_at: Set(None),
        completed_at: Set(None),
        ..Default::default()
    }
}

/// The partial unique index allows one active run per identity and tenant,
/// and any number of completed ones, on both backends.
#[tokio::test]
async fn active_run_index_is_partial_and_per_tenant() {
    let test_db = TestDb::new().await;
    let db = &test_db.db;
    let ws = workspace::ActiveModel {
        name: Set("w".into()),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("workspace");
    let mut tenants = Vec::new();
    for name in ["a", "b"] {
        let t = tenant::ActiveModel {
            workspace_id: Set(ws.id),
            name: Set(name.into()),
            kind: Set(TenantKind::Intune),
            external_ref: Set(None),
            created_at: Set(Utc::now()),
            ..Default::default()
        }
        .insert(db)
        .await
        .expect("tenant");
        tenants.push(t.id);
    }
    let identity = "a".repeat(64);

    let first = run(ws.id, tenants[0], &identity, RunStatus::Queued)
        .insert(db)
        .await
        .expect("first active run");
    let duplicate = run(ws.id, tenants[0], &identity, RunStatus::Running)
        .insert(db)
        .await;
    assert!(
        duplicate.is_err(),
        "a second active run with the same identity is refused"
    );

    run(ws.id, tenants[1], &identity, RunStatus::Queued)
        .insert(db)
        .await
        .expect("same identity on another tenant is fine");

    let mut done: operation_run::ActiveModel = first.into();
    done.status = Set(RunStatus::Completed);
    done.update(db).await.expect("complete first run");
    run(ws.id, tenants[0], &identity, RunStatus::Queued)
        .insert(db)
        .await
        .expect("once completed, the identity may run again");
    run(ws.id, tenants[0], &identity, RunStatus::Completed)
        .insert(db)
        .await
        .expect("completed runs are not constrained");
}
