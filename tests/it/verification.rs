//! Verification (spec 074): a stored readiness report, read without work.

use entity::operation_run;
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};

use crate::common::TestApp;
use crate::corpus::{corpus_files, load};
use crate::drift::{Policy, Scenario};

const REPORT: &str = "query($id: ID!) { operationRun(id: $id) { status outcome verificationReport {
  schemaVersion flow generatedAt
  summary { pass fail warn skip running blockingFailures overall }
  checks { key title status severity blocking reasonCode message evidence { kind id } nextSteps } } } }";

async fn verify(s: &Scenario) -> Value {
    let run = s
        .app
        .gql_ok(
            &s.token,
            "mutation($t: ID!) { startVerification(input: {tenantId: $t}) { id type } }",
            json!({"t": s.target}),
        )
        .await["startVerification"]
        .clone();
    assert_eq!(run["type"], "VERIFICATION");
    let id = run["id"].as_str().expect("id").to_owned();
    s.wait(&id).await;
    s.app.gql_ok(&s.token, REPORT, json!({"id": id})).await["operationRun"].clone()
}

fn check<'a>(report: &'a Value, key_prefix: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["key"].as_str().is_some_and(|k| k.starts_with(key_prefix)))
        .unwrap_or_else(|| panic!("no check {key_prefix}"))
}

#[tokio::test]
async fn verification_reports_readiness_from_the_database() {
    let s = Scenario::new(
        TestApp::spawn().await,
        json!({"scope": {"policyTypes": ["deviceCompliancePolicies"]}}),
    )
    .await;

    // Nothing recorded yet: blocked, with the reasons and next steps.
    let run = verify(&s).await;
    let report = &run["verificationReport"];
    assert_eq!(report["schemaVersion"], 1);
    assert_eq!(report["flow"], "tenant_baseline_readiness");
    assert_eq!(report["summary"]["overall"], "blocked");
    assert_eq!(check(report, "inventory.recent_sync")["status"], "fail");
    assert_eq!(
        check(report, "inventory.recent_sync")["reasonCode"],
        "no_inventory_sync"
    );
    assert_eq!(check(report, "inventory.recent_sync")["blocking"], true);
    assert_eq!(
        check(report, "baseline.snapshot")["reasonCode"],
        "no_complete_snapshot"
    );
    assert_eq!(check(report, "compare.last_outcome")["status"], "skip");
    assert_eq!(
        check(report, "evidence.content_freshness")["reasonCode"],
        "no_content_evidence"
    );
    assert!(
        !check(report, "baseline.snapshot")["nextSteps"]
            .as_array()
            .expect("steps")
            .is_empty()
    );

    // The whole flow: ready, every check passing, with pointers to the runs.
    let (_, path) = corpus_files()
        .into_iter()
        .find(|(_, p)| {
            p.to_string_lossy()
                .contains("level-1-fm-basic-security-compliance")
        })
        .expect("fixture");
    let policies: Vec<Policy> = vec![("deviceCompliancePolicies".into(), "p1".into(), load(&path))];
    s.sync(&s.source, &policies, &[]).await;
    s.versions(&s.source, &policies).await;
    s.capture().await;
    s.sync(&s.target, &policies, &[]).await;
    s.versions(&s.target, &policies).await;
    s.compare().await;
    let run = verify(&s).await;
    let report = &run["verificationReport"];
    assert_eq!(report["summary"]["overall"], "ready", "{report}");
    assert_eq!(report["summary"]["fail"], 0);
    for c in report["checks"].as_array().expect("checks") {
        assert_eq!(c["status"], "pass", "{c}");
        assert!(
            ["info", "low", "medium", "high", "critical"]
                .contains(&c["severity"].as_str().unwrap_or_default())
        );
    }
    let sync = check(report, "inventory.recent_sync");
    assert_eq!(sync["evidence"][0]["kind"], "operation_run");

    // Reading the report is a read: no run is started by it.
    let runs = operation_run::Entity::find()
        .count(&s.app.db)
        .await
        .expect("count");
    let id = run_id_of_latest_verification(&s).await;
    for _ in 0..3 {
        s.app.gql_ok(&s.token, REPORT, json!({"id": id})).await;
    }
    assert_eq!(
        operation_run::Entity::find()
            .count(&s.app.db)
            .await
            .expect("count"),
        runs
    );

    // Safe pointers only: no token, no policy payload.
    let text = report.to_string();
    assert!(!text.contains("dre_"));
    assert!(!text.contains("passwordMinimumLength") && !text.contains("scheduledActionsForRule"));
}

async fn run_id_of_latest_verification(s: &Scenario) -> String {
    use sea_orm::{ColumnTrait, QueryFilter, QueryOrder};
    let run = operation_run::Entity::find()
        .filter(operation_run::Column::RunType.eq(entity::enums::RunType::Verification))
        .order_by_desc(operation_run::Column::Id)
        .one(&s.app.db)
        .await
        .expect("query")
        .expect("a verification run");
    drift_engine::graphql::ids::encode(drift_engine::graphql::ids::NodeKind::OperationRun, run.id).0
}
