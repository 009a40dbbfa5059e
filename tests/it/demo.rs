//! The demo workspace built from the real corpus, and insta snapshots of the
//! main queries on it. Snapshots are shared by SQLite and PostgreSQL: both
//! backends must answer alike. Ids, cursors and times are redacted; content
//! hashes are kept, since they must not change for the same exports.

use drift_engine::demo::{self, Outcome, Report};
use drift_engine::graphql::ids::{NodeKind, encode};
use insta::assert_json_snapshot;
use serde_json::{Value, json};

use crate::common::TestApp;

async fn seeded() -> (TestApp, String, Report) {
    // No workers in the server: the demo runs its jobs itself, in order.
    let app = TestApp::spawn_with(|c| c.workers.count = 0).await;
    let report = match demo::load(&app.db).await.expect("demo loads") {
        Outcome::Loaded(report) => report,
        other => panic!("a fresh database has no demo yet: {other:?}"),
    };
    let token = report
        .new_owner_token
        .clone()
        .expect("a new owner gets a token");
    (app, token, report)
}

fn tenant_id(report: &Report) -> String {
    encode(NodeKind::Tenant, report.branch_tenant_id).0
}

/// Redacts what differs between runs and backends: ids, cursors, times.
macro_rules! snapshot {
    ($name:expr, $value:expr) => {
        insta::with_settings!({
            sort_maps => true,
            snapshot_path => "snapshots",
            // Times inside messages, e.g. "captured at 2026-11-24T21:28:27.37+00:00".
            filters => vec![(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})", "[time]")],
        }, {
            assert_json_snapshot!($name, $value, {
                ".**.id" => "[id]",
                ".**.observedOperationRunId" => "[id]",
                ".**.operationRunId" => "[id]",
                ".**.cursor" => "[cursor]",
                ".**.startCursor" => "[cursor]",
                ".**.endCursor" => "[cursor]",
                ".**.observedAt" => "[time]",
                ".**.capturedAt" => "[time]",
                ".**.completedAt" => "[time]",
                ".**.startedAt" => "[time]",
                ".**.createdAt" => "[time]",
                ".**.generatedAt" => "[time]",
                ".**.firstSeenAt" => "[time]",
                ".**.lastSeenAt" => "[time]",
                ".**.since" => "[time]",
            });
        });
    };
}

const FINDING_FIELDS: &str = r#"
    id findingType changeType status severity fidelity
    subject { policyType externalId displayName subjectKey }
    scopeKey fingerprint recurrenceKey
    baselineProfile { name }
    baselineSnapshot { status itemCount }
    baseline { hash provenance { fidelity source observedAt observedOperationRun { type status } } }
    current { hash provenance { fidelity source observedAt observedOperationRun { type status } } }
    baseline { assignmentsHash }
    current { assignmentsHash }
    settingChanges { available reason excluded changes { path change } }
    changedAspects conflicts { baselineProfileId expectedHash }
    acceptedAt acceptedReason acceptedUntil history { from to reason }
    firstSeenAt lastSeenAt timesSeen resolvedAt
"#;

async fn findings(app: &TestApp, token: &str, tenant: &str, fidelity: Option<&str>) -> Vec<Value> {
    let query = format!(
        "query($t: ID!, $f: Fidelity) {{ findings(tenantId: $t, fidelity: $f, first: 50) {{
            totalCount edges {{ node {{ {FINDING_FIELDS} }} }} }} }}"
    );
    let data = app
        .gql_ok(token, &query, json!({"t": tenant, "f": fidelity}))
        .await;
    let connection = &data["findings"];
    let nodes: Vec<Value> = connection["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"].clone())
        .collect();
    assert_eq!(connection["totalCount"], json!(nodes.len()));
    nodes
}

fn sorted_by_subject(mut nodes: Vec<Value>) -> Vec<Value> {
    // Findings of one compare share lastSeenAt; their id order depends on
    // insertion order, which the snapshot should not pin.
    nodes.sort_by_key(|n| {
        (
            n["subject"]["policyType"].to_string(),
            n["subject"]["subjectKey"].to_string(),
        )
    });
    nodes
}

#[tokio::test]
async fn demo_findings_have_both_fidelities_and_filtering_splits_them_exactly() {
    let (app, token, report) = seeded().await;
    let tenant = tenant_id(&report);
    let all = findings(&app, &token, &tenant, None).await;
    let content = findings(&app, &token, &tenant, Some("CONTENT")).await;
    let meta = findings(&app, &token, &tenant, Some("META")).await;

    assert!(!content.is_empty() && !meta.is_empty(), "{all:#?}");
    assert!(content.iter().all(|f| f["fidelity"] == "CONTENT"));
    assert!(meta.iter().all(|f| f["fidelity"] == "META"));
    let ids = |v: &[Value]| {
        let mut ids: Vec<String> = v.iter().map(|f| f["id"].to_string()).collect();
        ids.sort();
        ids
    };
    let mut union = ids(&content);
    union.extend(ids(&meta));
    union.sort();
    assert_eq!(union, ids(&all), "the two filters partition the findings");

    for finding in &all {
        let sides: Vec<&Value> = ["baseline", "current"]
            .iter()
            .map(|s| &finding[*s])
            .filter(|s| !s.is_null())
            .collect();
        assert!(!sides.is_empty(), "{finding}");
        for side in sides {
            let provenance = &side["provenance"];
            assert!(provenance["observedAt"].is_string(), "{finding}");
            assert!(provenance["source"].is_string(), "{finding}");
            assert!(
                provenance["observedOperationRun"]["type"].is_string(),
                "provenance resolves to its run: {finding}"
            );
        }
    }
    // Content on both sides: a setting-level diff from the real revisions.
    let different = content
        .iter()
        .find(|f| f["findingType"] == "DIFFERENT_VERSION")
        .expect("a content difference");
    assert_eq!(different["settingChanges"]["available"], true);
    assert!(
        !different["settingChanges"]["changes"]
            .as_array()
            .expect("changes")
            .is_empty()
    );
}

#[tokio::test]
async fn loading_the_demo_twice_leaves_the_first_one_alone() {
    let (app, _token, report) = seeded().await;
    match demo::load(&app.db).await.expect("second load") {
        Outcome::AlreadyLoaded { workspace_id } => assert_eq!(workspace_id, report.workspace_id),
        other => panic!("expected AlreadyLoaded, got {other:?}"),
    }
}

#[tokio::test]
async fn snapshots_of_the_main_queries() {
    let (app, token, report) = seeded().await;
    let tenant = tenant_id(&report);

    let nodes = sorted_by_subject(findings(&app, &token, &tenant, None).await);
    snapshot!("findings", nodes);

    let run = app
        .gql_ok(
            &token,
            r#"query($id: ID!) { operationRun(id: $id) {
                type status outcome progress { done total } summaryCounts failureSummary
                tenant { name } initiator { email }
                baselineCompare {
                    since
                    coverage { subjectsTotal resolvedTotal resolvedContent resolvedMeta }
                    evidenceGaps { missingBaseline missingCurrent missingBoth }
                    policyTypes { policyType coverage subjects resolvedContent resolvedMeta }
                    warnings { policyType externalId reason }
                    excluded findingsResolvedExcluded conflicts compareAssignments assignmentsUncompared
                }
                findings(first: 10) { totalCount }
            } }"#,
            json!({"id": encode(NodeKind::OperationRun, report.compare_run_id).0}),
        )
        .await;
    snapshot!("compare_run", run);

    let profile = app
        .gql_ok(
            &token,
            r#"query($id: ID!) { baselineProfile(id: $id) {
                name description scope { policyTypes foundationTypes } captureMode subjectMatch
                compareAssignments exclusions(first: 5) { totalCount }
                latestSnapshot {
                    status itemCount
                    items(first: 5) {
                        totalCount pageInfo { hasNextPage }
                        edges { node { policyType subjectKey displayName metaHash
                            evidence { hash provenance { fidelity source } } } }
                    }
                }
            } }"#,
            json!({"id": encode(NodeKind::BaselineProfile, report.baseline_profile_id).0}),
        )
        .await;
    snapshot!("baseline_profile", profile);

    let governance = app
        .gql_ok(
            &token,
            r#"query($t: ID!, $p: ID!) {
                tenant(id: $t) {
                    alignment(baselineProfileId: $p) {
                        applicable compliant accepted excluded uncovered
                        alignedPercent verifiedPercent contentVerifiedPercent
                        compareRun { type status }
                    }
                    conflicts { policyType subjectKey }
                }
                findingsSummary(tenantId: $t, baselineProfileId: $p) {
                    total byStatus { key count } byFindingType { key count }
                    byFidelity { key count } bySeverity { key count }
                }
                alignmentHistory(tenantId: $t, baselineProfileId: $p) {
                    totalCount edges { node { applicable alignedPercent } }
                }
            }"#,
            json!({"t": tenant, "p": encode(NodeKind::BaselineProfile, report.baseline_profile_id).0}),
        )
        .await;
    snapshot!("governance", governance);

    let verification = app
        .gql_ok(
            &token,
            r#"query($t: ID!) { operationRuns(tenantId: $t, type: VERIFICATION, first: 1) {
                edges { node { status outcome verificationReport {
                    schemaVersion flow generatedAt
                    summary { pass fail warn skip running blockingFailures overall }
                    checks { key title status severity blocking reasonCode message nextSteps
                        evidence { kind id } }
                } } } } }"#,
            json!({"t": tenant}),
        )
        .await;
    snapshot!("verification_report", verification);
}

/// The keys of every JSON object in `text`, in the order they are written.
fn keys_in_order(text: &str) -> Vec<Vec<String>> {
    use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
    struct Keys<'a>(&'a mut Vec<Vec<String>>);
    impl<'de> Visitor<'de> for Keys<'_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("JSON")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            let mut keys = Vec::new();
            let slot = self.0.len();
            self.0.push(Vec::new());
            while let Some(key) = map.next_key::<String>()? {
                keys.push(key);
                map.next_value_seed(Seed(self.0))?;
            }
            self.0[slot] = keys;
            Ok(())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            while seq.next_element_seed(Seed(self.0))?.is_some() {}
            Ok(())
        }
        fn visit_str<E>(self, _: &str) -> Result<(), E> {
            Ok(())
        }
        fn visit_bool<E>(self, _: bool) -> Result<(), E> {
            Ok(())
        }
        fn visit_u64<E>(self, _: u64) -> Result<(), E> {
            Ok(())
        }
        fn visit_i64<E>(self, _: i64) -> Result<(), E> {
            Ok(())
        }
        fn visit_f64<E>(self, _: f64) -> Result<(), E> {
            Ok(())
        }
        fn visit_unit<E>(self) -> Result<(), E> {
            Ok(())
        }
    }
    struct Seed<'a>(&'a mut Vec<Vec<String>>);
    impl<'de> serde::de::DeserializeSeed<'de> for Seed<'_> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(Keys(self.0))
        }
    }
    let mut out = Vec::new();
    let mut de = serde_json::Deserializer::from_str(text);
    serde::de::DeserializeSeed::deserialize(Seed(&mut out), &mut de).expect("JSON");
    out
}

#[tokio::test]
async fn response_fields_come_in_the_order_the_query_asked_for_them() {
    let (app, token, report) = seeded().await;
    // totalCount waits on its own count query and the nodes on DataLoaders,
    // so completion order differs from selection order; the answer must not.
    let query = r#"query($t: ID!) { findings(tenantId: $t, first: 10) {
        totalCount
        edges { node { ...Sides subject { displayName policyType } kind: findingType id } }
        pageInfo { endCursor hasNextPage }
    } }
    fragment Sides on Finding {
        current { provenance { observedOperationRun { status type } source } hash }
        baselineProfile { name id }
    }"#;
    let response = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(&token)
        .json(&json!({"query": query, "variables": {"t": tenant_id(&report)}}))
        .send()
        .await
        .expect("request");
    let text = response.text().await.expect("body");
    let objects = keys_in_order(&text);
    let has = |keys: &[&str]| objects.iter().any(|k| k == keys);
    assert!(has(&["totalCount", "edges", "pageInfo"]), "{text}");
    assert!(
        has(&["current", "baselineProfile", "subject", "kind", "id"]),
        "{text}"
    );
    assert!(has(&["provenance", "hash"]), "{text}");
    assert!(has(&["observedOperationRun", "source"]), "{text}");
    assert!(has(&["status", "type"]), "{text}");
    assert!(has(&["displayName", "policyType"]), "{text}");
    assert!(has(&["name", "id"]), "{text}");
}

/// A stored blob that cannot be read back (here a number past f64, which
/// PostgreSQL's jsonb holds and serde_json refuses) fails the settingChanges
/// of its own finding only; the rest of the page answers.
#[tokio::test]
async fn an_unreadable_blob_fails_only_its_own_finding() {
    use sea_orm::ConnectionTrait;
    let (app, token, report) = seeded().await;
    let tenant = tenant_id(&report);
    let query = "query($t: ID!) { findings(tenantId: $t, first: 50) { edges { node { findingType fidelity settingChanges { available changes { path } } } } } }";
    let before = app.gql_ok(&token, query, json!({"t": tenant})).await;
    let edges = before["findings"]["edges"]
        .as_array()
        .expect("edges")
        .clone();
    let broken = edges
        .iter()
        .position(|e| e["node"]["settingChanges"]["available"] == true)
        .expect("the demo has a finding with setting changes");
    assert!(edges.len() > 1);
    let unreadable = if app.test_db.is_postgres {
        "UPDATE evidence_blobs SET content = '{\"x\": 1e400}'::jsonb"
    } else {
        "UPDATE evidence_blobs SET content = '{\"x\": 1e400}'"
    };
    app.db
        .execute_unprepared(unreadable)
        .await
        .expect("blobs changed");
    let body = app.gql(Some(&token), query, json!({"t": tenant})).await;
    let errors = body["errors"].as_array().expect("an error");
    assert_eq!(errors.len(), 1, "{body}");
    assert_eq!(errors[0]["extensions"]["code"], "INTERNAL");
    assert_eq!(
        errors[0]["path"],
        json!(["findings", "edges", broken, "node", "settingChanges"])
    );
    let after = body["data"]["findings"]["edges"].as_array().expect("edges");
    assert_eq!(after.len(), edges.len());
    for (i, edge) in after.iter().enumerate().filter(|(i, _)| *i != broken) {
        assert_eq!(edge, &edges[i], "finding {i} answers as before");
    }
}
