//! The findings API frontends use: order, pagination, triage, setting-level
//! changes, nested provenance, and its statement budget.

use entity::audit_log;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use crate::common::{TestApp, error_code};
use crate::corpus::{corpus_files, load};
use crate::drift::{Policy, Scenario};

fn compliance() -> Value {
    let (_, path) = corpus_files()
        .into_iter()
        .find(|(_, p)| {
            p.to_string_lossy()
                .contains("level-1-fm-basic-security-compliance")
        })
        .expect("fixture");
    load(&path)
}

/// `n` content-drifted policies (one setting changed) and one meta-only drift.
async fn drifted(n: usize) -> Scenario {
    let s = Scenario::new(TestApp::spawn().await, json!({})).await;
    let base = compliance();
    let mut changed = base.clone();
    changed["passwordMinimumLength"] =
        json!(changed["passwordMinimumLength"].as_i64().unwrap_or(4) + 2);
    let baseline: Vec<Policy> = (0..=n)
        .map(|i| {
            (
                "deviceCompliancePolicies".into(),
                format!("p{i:03}"),
                base.clone(),
            )
        })
        .collect();
    s.sync(&s.source, &baseline, &[]).await;
    s.versions(&s.source, &baseline).await;
    s.capture().await;
    let mut current: Vec<Policy> = (0..n)
        .map(|i| {
            (
                "deviceCompliancePolicies".into(),
                format!("p{i:03}"),
                changed.clone(),
            )
        })
        .collect();
    let mut meta_only = base.clone();
    meta_only["displayName"] = json!("Renamed in the tenant");
    current.push((
        "deviceCompliancePolicies".into(),
        format!("p{n:03}"),
        meta_only,
    ));
    s.sync(&s.target, &current, &[]).await;
    s.versions(&s.target, &current[..n]).await;
    s.compare().await;
    s
}

const PAGE: &str = r#"query($t: ID!, $first: Int, $after: String) {
  findings(tenantId: $t, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { cursor node {
      id findingType changeType status severity fidelity timesSeen firstSeenAt lastSeenAt
      subject { policyType externalId displayName }
      tenant { name }
      baselineProfile { name }
      baselineSnapshot { capturedAt }
      baseline { hash provenance { fidelity source observedAt observedOperationRun { id type } } }
      current { hash provenance { fidelity source observedAt observedOperationRun { id type initiator { email } } } }
      settingChanges { available reason changes { path change baseline current } }
    } }
  }
}"#;

#[tokio::test]
async fn findings_page_with_nested_fields_costs_a_constant_number_of_statements() {
    let n = 60;
    let s = drifted(n).await;
    let (small, _) = s
        .app
        .count_statements(&s.token, PAGE, json!({"t": s.target, "first": 5}))
        .await;
    let small_log = s.app.logged_statements();
    let (large, data) = s
        .app
        .count_statements(&s.token, PAGE, json!({"t": s.target, "first": 50}))
        .await;
    let large_log = s.app.logged_statements();
    assert_eq!(
        small, large,
        "statements grew with the page:\n{small_log:#?}\n{large_log:#?}"
    );
    let edges = data["findings"]["edges"].as_array().expect("edges");
    assert_eq!(edges.len(), 50);
    assert_eq!(small, large, "statements must not grow with the page size");
    // Token + memberships, tenant check, count, page, then one batch per
    // relation: tenant, profile, snapshot, runs, run tenants, users, blobs.
    eprintln!("statements for a page of 5: {small}, of 50: {large}");
    assert!(
        large <= 14,
        "a page of 50 findings with nested fields took {large} statements"
    );
    for edge in edges {
        let node = &edge["node"];
        assert!(
            node["baseline"]["provenance"]["observedAt"].is_string(),
            "{node}"
        );
        let expected_run = if node["fidelity"] == "CONTENT" {
            "POLICY_CAPTURE"
        } else {
            "INVENTORY_SYNC"
        };
        assert_eq!(
            node["current"]["provenance"]["observedOperationRun"]["type"], expected_run,
            "{node}"
        );
    }
}

#[tokio::test]
async fn findings_are_newest_first_paginated_diffed_and_triaged() {
    let s = drifted(4).await;
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let data = s
            .app
            .gql_ok(
                &s.token,
                PAGE,
                json!({"t": s.target, "first": 2, "after": after}),
            )
            .await;
        let page = &data["findings"];
        assert_eq!(page["totalCount"], 5);
        for edge in page["edges"].as_array().expect("edges") {
            seen.push(edge["node"].clone());
        }
        if page["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = page["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    assert_eq!(seen.len(), 5);
    let ids: std::collections::BTreeSet<&str> =
        seen.iter().filter_map(|f| f["id"].as_str()).collect();
    assert_eq!(ids.len(), 5, "no finding twice across pages");
    let stamps: Vec<&str> = seen
        .iter()
        .filter_map(|f| f["lastSeenAt"].as_str())
        .collect();
    let mut sorted = stamps.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(stamps, sorted, "newest lastSeenAt first");

    // Content findings carry the changed setting; the meta one says why not.
    let content = seen
        .iter()
        .find(|f| f["fidelity"] == "CONTENT")
        .expect("content finding");
    assert_eq!(content["settingChanges"]["available"], true);
    let changes = content["settingChanges"]["changes"]
        .as_array()
        .expect("changes");
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0]["path"], "passwordMinimumLength");
    assert_eq!(changes[0]["change"], "MODIFIED");
    assert_eq!(
        changes[0]["current"].as_i64(),
        changes[0]["baseline"].as_i64().map(|v| v + 2)
    );
    let meta = seen
        .iter()
        .find(|f| f["fidelity"] == "META")
        .expect("meta finding");
    assert_eq!(meta["settingChanges"]["available"], false);
    assert!(
        meta["settingChanges"]["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("meta")
    );

    // Triage: acknowledge, resolve with a reason, conflict, reopen.
    let id = content["id"].as_str().expect("id");
    let status = |data: &Value, field: &str| {
        data[field]["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let ack =
        "mutation($id: ID!) { acknowledgeFinding(input: {id: $id}) { status acknowledgedAt } }";
    let data = s.app.gql_ok(&s.token, ack, json!({"id": id})).await;
    assert_eq!(status(&data, "acknowledgeFinding"), "ACKNOWLEDGED");
    let body = s
        .app
        .gql(
            Some(&s.token),
            "mutation($id: ID!) { resolveFinding(input: {id: $id, reason: \"  \"}) { status } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"));
    let data = s
        .app
        .gql_ok(&s.token, "mutation($id: ID!) { resolveFinding(input: {id: $id, reason: \"accepted deviation\"}) { status resolvedAt resolvedReason } }", json!({"id": id}))
        .await;
    assert_eq!(status(&data, "resolveFinding"), "RESOLVED");
    assert_eq!(
        data["resolveFinding"]["resolvedReason"],
        "accepted deviation"
    );
    let body = s.app.gql(Some(&s.token), ack, json!({"id": id})).await;
    assert_eq!(error_code(&body), Some("CONFLICT"));
    let data = s
        .app
        .gql_ok(
            &s.token,
            "mutation($id: ID!) { reopenFinding(input: {id: $id}) { status resolvedAt } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(status(&data, "reopenFinding"), "OPEN");
    let actions: Vec<String> = audit_log::Entity::find()
        .filter(audit_log::Column::Action.starts_with("finding."))
        .all(&s.app.db)
        .await
        .expect("audit")
        .into_iter()
        .map(|a| a.action)
        .collect();
    assert_eq!(
        actions,
        ["finding.acknowledge", "finding.resolve", "finding.reopen"]
    );
}

/// /metrics in Prometheus text format: requests, errors by code, run
/// durations by type, findings emitted. (The registry is process-wide, so
/// other tests add to the same counters; only presence is checked.)
#[tokio::test]
async fn metrics_expose_requests_errors_runs_and_findings() {
    let s = drifted(2).await;
    let body = s.app.gql(None, "{ viewer { id } }", json!({})).await;
    assert_eq!(error_code(&body), Some("UNAUTHENTICATED"));
    let response = s
        .app
        .client
        .get(s.app.url("/metrics"))
        .send()
        .await
        .expect("metrics");
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap_or_default()
            .starts_with("text/plain")
    );
    let text = response.text().await.expect("text");
    for needle in [
        "drift_http_requests_total{route=\"/graphql\",status=\"200\"}",
        "drift_graphql_errors_total{code=\"UNAUTHENTICATED\"}",
        "drift_run_duration_seconds_count{outcome=\"succeeded\",type=\"baseline_compare\"}",
        "drift_run_duration_seconds_count{outcome=\"succeeded\",type=\"baseline_capture\"}",
        "drift_findings_emitted_total{fidelity=\"content\",finding_type=\"different_version\"}",
        "drift_findings_emitted_total{fidelity=\"meta\",finding_type=\"different_version\"}",
    ] {
        assert!(text.contains(needle), "missing {needle} in:\n{text}");
    }
}

#[tokio::test]
async fn runs_are_listed_newest_first_and_snapshots_list_their_items() {
    let s = drifted(2).await;
    let runs = "query($t: ID, $ws: ID, $type: [OperationRunType!]) { operationRuns(tenantId: $t, workspaceId: $ws, type: $type) { totalCount edges { node { id type createdAt baselineCapture { baselineSnapshotId } } } } }";
    let data = s.app.gql_ok(&s.token, runs, json!({"t": s.target})).await;
    let edges = data["operationRuns"]["edges"]
        .as_array()
        .expect("edges")
        .clone();
    let types: Vec<&str> = edges
        .iter()
        .filter_map(|e| e["node"]["type"].as_str())
        .collect();
    assert_eq!(
        types,
        ["BASELINE_COMPARE", "POLICY_CAPTURE", "INVENTORY_SYNC"],
        "newest first"
    );
    let data = s
        .app
        .gql_ok(
            &s.token,
            runs,
            json!({"t": s.target, "type": ["BASELINE_COMPARE"]}),
        )
        .await;
    assert_eq!(data["operationRuns"]["totalCount"], 1);
    let ws = s
        .app
        .gql_ok(
            &s.token,
            "query($t: ID!) { tenant(id: $t) { workspace { id } } }",
            json!({"t": s.target}),
        )
        .await["tenant"]["workspace"]["id"]
        .clone();
    let data = s
        .app
        .gql_ok(
            &s.token,
            runs,
            json!({"ws": ws, "type": ["BASELINE_CAPTURE"]}),
        )
        .await;
    let snapshot =
        data["operationRuns"]["edges"][0]["node"]["baselineCapture"]["baselineSnapshotId"].clone();
    assert!(snapshot.is_string());
    let body = s
        .app
        .gql(Some(&s.token), runs, json!({"t": s.target, "ws": ws}))
        .await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"));

    let items = s
        .app
        .gql_ok(
            &s.token,
            "query($id: ID!) { baselineSnapshot(id: $id) { itemCount items(first: 10) { totalCount edges { node { policyType subjectKey displayName metaHash evidence { hash provenance { fidelity source } } } } } } }",
            json!({"id": snapshot}),
        )
        .await;
    let snapshot = &items["baselineSnapshot"];
    assert_eq!(snapshot["itemCount"], 3);
    assert_eq!(snapshot["items"]["totalCount"], 3);
    for edge in snapshot["items"]["edges"].as_array().expect("edges") {
        assert_eq!(
            edge["node"]["evidence"]["provenance"]["fidelity"],
            "CONTENT"
        );
        assert!(edge["node"]["metaHash"].is_string());
    }
}
