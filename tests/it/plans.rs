//! The hot statements are index searches, checked with SQLite's own query
//! plans (deterministic: SQLite plans without statistics). PostgreSQL plans
//! depend on table statistics; BENCHMARKS.md measures it at scale instead.

use std::sync::{Arc, Mutex};

use chrono::{Duration, Utc};
use drift_engine::demo::{self, Outcome};
use drift_engine::evidence::resolver::{resolve_current_state, resolve_present};
use drift_engine::graphql::ids::{NodeKind, encode};
use entity::tenant;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::json;

use crate::common::{TestApp, TestDb};
use crate::evidence::{seed_subjects, seed_tenant, subject};

/// The plan SQLite chooses for `statement`, one line per step.
async fn plan(db: &DatabaseConnection, statement: &Statement) -> String {
    let explain = Statement {
        sql: format!("EXPLAIN QUERY PLAN {}", statement.sql),
        ..statement.clone()
    };
    db.query_all_raw(explain)
        .await
        .expect("explain")
        .iter()
        .map(|row| row.try_get::<String>("", "detail").expect("detail"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A SQLite database with 50 subjects of one tenant, and a connection that
/// logs its statements. `None` on PostgreSQL, whose plans depend on
/// statistics.
struct Seeded {
    test_db: TestDb,
    tenant: tenant::Model,
    db: DatabaseConnection,
    log: Arc<Mutex<Vec<Statement>>>,
}

async fn seeded_sqlite() -> Option<Seeded> {
    let test_db = TestDb::new().await;
    if test_db.is_postgres {
        eprintln!("n/a on PostgreSQL: plans depend on statistics");
        return None;
    }
    let tenant = seed_tenant(&test_db.db).await;
    seed_subjects(&test_db.db, tenant.id, 50).await;
    let log: Arc<Mutex<Vec<Statement>>> = Arc::default();
    let mut db = test_db.db.clone();
    let sink = log.clone();
    db.set_metric_callback(move |info| {
        if let Ok(mut l) = sink.lock() {
            l.push(info.statement.clone());
        }
    });
    Some(Seeded {
        test_db,
        tenant,
        db,
        log,
    })
}

#[tokio::test]
async fn the_resolver_reads_evidence_from_its_covering_indexes() {
    let Some(Seeded {
        test_db,
        tenant,
        db,
        log,
    }) = seeded_sqlite().await
    else {
        return;
    };
    let subjects: Vec<_> = (0..50).map(subject).collect();
    let since = Utc::now() - Duration::days(1);
    let resolution = resolve_current_state(&db, tenant.id, &subjects, Some(since))
        .await
        .expect("resolve");
    assert_eq!(resolution.states.len(), 50);

    let statements = log.lock().expect("log").clone();
    let content: Vec<&Statement> = statements
        .iter()
        .filter(|s| s.sql.contains("\"policy_versions\""))
        .collect();
    assert_eq!(content.len(), 1, "one content statement for one chunk");
    let content_plan = plan(&test_db.db, content[0]).await;
    assert!(
        content_plan.contains("USING COVERING INDEX idx_policy_versions_evidence"),
        "the content provider must not read the rows (their documents): {content_plan}"
    );
    let meta: Vec<&Statement> = statements
        .iter()
        .filter(|s| s.sql.contains("\"inventory_items\""))
        .collect();
    assert_eq!(meta.len(), 1, "one meta statement for one chunk");
    let meta_plan = plan(&test_db.db, meta[0]).await;
    assert!(
        meta_plan.starts_with("SEARCH") && !meta_plan.contains("SCAN"),
        "{meta_plan}"
    );
    assert!(
        meta_plan.contains("USING COVERING INDEX idx_inventory_evidence"),
        "the meta provider must not read the rows (their meta documents): {meta_plan}"
    );
}

#[tokio::test]
async fn resolving_a_tenant_searches_its_indexes() {
    let Some(Seeded {
        test_db,
        tenant,
        db,
        log,
    }) = seeded_sqlite().await
    else {
        return;
    };
    let types: Vec<String> = (0..3).map(|i| subject(i).policy_type).collect();
    let since = Utc::now() - Duration::days(1);
    let presence = resolve_present(&db, tenant.id, &types, Some(since), false)
        .await
        .expect("resolve");
    assert_eq!(presence.subjects.len(), 50);

    let statements = log.lock().expect("log").clone();
    let find = |table: &str| {
        statements
            .iter()
            .find(|s| s.sql.contains(table))
            .cloned()
            .unwrap_or_else(|| panic!("no statement on {table}"))
    };
    let content_plan = plan(&test_db.db, &find("\"policy_versions\"")).await;
    assert!(
        content_plan.contains("SEARCH policy_versions USING COVERING INDEX"),
        "the versions are read from an index, not their documents: {content_plan}"
    );
    let inventory_plan = plan(&test_db.db, &find("\"inventory_items\"")).await;
    assert!(
        inventory_plan.contains("SEARCH inventory_items USING INDEX")
            && inventory_plan.contains("tenant_id=?"),
        "the tenant's items, not the table: {inventory_plan}"
    );
}

#[tokio::test]
async fn a_findings_page_after_a_cursor_is_one_index_range() {
    let app = TestApp::spawn_with(|c| c.workers.count = 0).await;
    if app.test_db.is_postgres {
        eprintln!("n/a on PostgreSQL: plans depend on statistics");
        return;
    }
    let report = match demo::load(&app.db).await.expect("demo") {
        Outcome::Loaded(report) => report,
        other => panic!("{other:?}"),
    };
    let token = report.new_owner_token.clone().expect("token");
    let tenant = encode(NodeKind::Tenant, report.branch_tenant_id).0;
    let query = "query($t: ID!, $a: String) { findings(tenantId: $t, first: 1, after: $a) {
        pageInfo { endCursor } edges { node { id } } } }";
    let first = app.gql_ok(&token, query, json!({"t": tenant})).await;
    let cursor = first["findings"]["pageInfo"]["endCursor"].clone();
    let (_, second) = app
        .count_statements(&token, query, json!({"t": tenant, "a": cursor}))
        .await;
    assert_ne!(
        second["findings"]["edges"][0]["node"]["id"],
        first["findings"]["edges"][0]["node"]["id"]
    );
    let page = app
        .logged()
        .into_iter()
        .find(|s| s.sql.contains("FROM \"findings\"") && s.sql.contains("LIMIT"))
        .expect("the page statement");
    let page_plan = plan(&app.db, &page).await;
    // The cursor bounds the index search itself; `time < t OR (time = t AND
    // id < i)` searched only by `tenant_id=?` and read every newer row first.
    assert!(
        page_plan.contains("SEARCH findings USING INDEX")
            && page_plan.contains("(tenant_id=? AND last_seen_at<?)"),
        "{page_plan}"
    );
    assert!(!page_plan.contains("TEMP B-TREE"), "no sort: {page_plan}");
}
