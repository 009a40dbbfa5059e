//! Findings reports over the real HTTP server (`GET /reports/findings`) and
//! from the CLI: what each format holds, who may read one, and that 100,000
//! findings go out page by page, the server reading on only as the client
//! takes what it sent.

use std::sync::atomic::Ordering;
use std::time::Duration;

use drift_engine::delivery::report::PAGE;
use sea_orm::{EntityTrait, QueryFilter, Set};
use serde_json::{Value, json};

use crate::common::TestApp;
use crate::drift::{Policy, Scenario};

fn policies(min_length: i64, display: &str) -> Vec<Policy> {
    vec![
        (
            "deviceConfigurations".into(),
            "dc-1".into(),
            json!({"@odata.type": "#microsoft.graph.windows10GeneralConfiguration",
                   "displayName": display, "passwordMinimumLength": min_length}),
        ),
        (
            "deviceCompliancePolicies".into(),
            "cp-1".into(),
            json!({"@odata.type": "#microsoft.graph.windows10CompliancePolicy",
                   "displayName": "Compliance", "osMinimumVersion": "10.0.19045"}),
        ),
    ]
}

/// A target whose password policy drifted (8 → 4) and whose compliance
/// policy is another one: a DIFFERENT_VERSION, a MISSING_POLICY and an
/// UNEXPECTED_POLICY finding.
async fn drifted(display: &str) -> Scenario {
    let s = Scenario::new(
        TestApp::spawn().await,
        json!({"captureMode": "OPPORTUNISTIC"}),
    )
    .await;
    s.sync(&s.source, &policies(8, display), &[]).await;
    s.versions(&s.source, &policies(8, display)).await;
    s.capture().await;
    let mut target = policies(4, display);
    target[1].1 = "cp-2".into();
    target[1].2["displayName"] = json!("Compliance (local)");
    s.sync(&s.target, &target, &[]).await;
    s.versions(&s.target, &target).await;
    assert_eq!(s.compare().await["outcome"], "SUCCEEDED");
    s
}

fn report_url(s: &Scenario, format: &str) -> String {
    format!(
        "{}/reports/findings?tenantId={}&baselineProfileId={}&format={format}",
        s.app.base, s.target, s.profile
    )
}

async fn get(s: &Scenario, url: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = s.app.client.get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("the server answers")
}

#[tokio::test]
async fn a_report_lists_the_findings_in_csv_json_and_html_for_those_who_may_see_them() {
    let s = drifted("=HYPERLINK(\"http://evil.example\")<b>").await;

    // CSV: a header and one row per finding, in policy order.
    let response = get(&s, &report_url(&s, "csv"), Some(&s.token)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    assert!(
        response.headers()["content-disposition"]
            .to_str()
            .expect("ascii")
            .starts_with("attachment; filename=\"drift-findings-")
    );
    let text = response.text().await.expect("body");
    let mut csv = csv::Reader::from_reader(text.as_bytes());
    let headers = csv.headers().expect("header row").clone();
    let rows: Vec<csv::StringRecord> = csv.records().map(|r| r.expect("a row")).collect();
    assert_eq!(rows.len(), 3, "{text}");
    let col = |row: &csv::StringRecord, name: &str| {
        let i = headers.iter().position(|h| h == name).expect(name);
        row[i].to_owned()
    };
    assert_eq!(col(&rows[0], "policy_type"), "deviceCompliancePolicies");
    assert_eq!(col(&rows[0], "finding_type"), "MISSING_POLICY");
    assert_eq!(col(&rows[0], "current_source"), "");
    assert_eq!(col(&rows[0], "baseline_source"), "policy_version");
    assert_eq!(col(&rows[1], "finding_type"), "UNEXPECTED_POLICY");
    assert_eq!(col(&rows[1], "baseline_source"), "");
    let rows = &rows[1..];
    assert_eq!(col(&rows[1], "finding_type"), "DIFFERENT_VERSION");
    assert_eq!(col(&rows[1], "paths"), "passwordMinimumLength");
    assert_eq!(
        col(&rows[1], "display_name"),
        "'=HYPERLINK(\"http://evil.example\")<b>",
        "a formula-like cell is quoted"
    );
    assert_eq!(col(&rows[1], "baseline_source"), "policy_version");
    assert_eq!(col(&rows[1], "current_source"), "policy_version");
    assert!(!col(&rows[1], "current_run_id").is_empty());
    let changes: Value = serde_json::from_str(&col(&rows[1], "setting_changes")).expect("json");
    assert_eq!(
        changes,
        json!([{"path": "passwordMinimumLength", "change": "MODIFIED", "baseline": 8, "current": 4}])
    );

    // JSON: the same, with the header and both provenances.
    let response = get(&s, &report_url(&s, "json"), Some(&s.token)).await;
    assert_eq!(response.status(), 200);
    let doc: Value = response.json().await.expect("one JSON document");
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["count"], 3);
    assert_eq!(doc["report"]["tenant"]["id"], s.target);
    assert_eq!(doc["report"]["baselineProfile"]["id"], s.profile);
    assert!(doc["report"]["snapshotCapturedAt"].is_string(), "{doc}");
    assert_eq!(
        doc["report"]["alignment"]["applicable"], 3,
        "{}",
        doc["report"]
    );
    let drift = &doc["findings"][2];
    assert_eq!(drift["changedAspects"], json!(["SETTINGS"]));
    assert_eq!(
        drift["settingChanges"]["changes"][0]["path"],
        "passwordMinimumLength"
    );
    for side in ["baseline", "current"] {
        assert_eq!(drift[side]["source"], "policy_version", "{drift}");
        assert_eq!(drift[side]["fidelity"], "CONTENT");
        assert!(drift[side]["observedOperationRunId"].is_string());
    }
    assert!(doc["findings"][0]["current"].is_null());
    let finding_ids: Vec<Value> = s
        .findings(json!({}))
        .await
        .iter()
        .map(|f| f["id"].clone())
        .collect();
    assert!(finding_ids.contains(&drift["id"]), "global ids: {drift}");

    // HTML: a page grouped by policy type, escaped, that runs nothing.
    let response = get(&s, &report_url(&s, "html"), Some(&s.token)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-security-policy"],
        "default-src 'none'; style-src 'unsafe-inline'"
    );
    let html = response.text().await.expect("body");
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    assert!(html.contains("<h2>deviceCompliancePolicies</h2>"));
    assert!(html.contains("<h2>deviceConfigurations</h2>"));
    assert_eq!(html.matches("<section class=\"finding\"").count(), 3);
    assert!(html.contains("<code>passwordMinimumLength</code>"));
    assert!(
        html.contains("&lt;b&gt;") && !html.contains("\")<b>"),
        "names are escaped"
    );
    assert!(html.ends_with("</html>\n"));

    // Statuses can be chosen; RESOLVED findings are left out by default.
    let response = get(
        &s,
        &format!("{}&status=RESOLVED", report_url(&s, "json")),
        Some(&s.token),
    )
    .await;
    assert_eq!(response.json::<Value>().await.expect("json")["count"], 0);

    // Who may not read it, and what is not a report.
    let (_, outsider) = s.app.user("outsider@example.com").await;
    for (url, token, status, code) in [
        (report_url(&s, "csv"), None, 401, "UNAUTHENTICATED"),
        (
            report_url(&s, "csv"),
            Some("dre_not-a-token"),
            401,
            "UNAUTHENTICATED",
        ),
        (
            report_url(&s, "csv"),
            Some(outsider.as_str()),
            404,
            "NOT_FOUND",
        ),
        (report_url(&s, "pdf"), Some(&s.token), 400, "BAD_USER_INPUT"),
        (
            format!("{}/reports/findings?format=csv", s.app.base),
            Some(&s.token),
            400,
            "BAD_USER_INPUT",
        ),
        (
            report_url(&s, "csv").replace(&s.profile, &s.target),
            Some(&s.token),
            400,
            "BAD_USER_INPUT",
        ),
        (
            format!("{}&status=CLOSED", report_url(&s, "csv")),
            Some(&s.token),
            400,
            "BAD_USER_INPUT",
        ),
    ] {
        let response = get(&s, &url, token).await;
        assert_eq!(response.status(), status, "{url}");
        let body: Value = response.json().await.expect("a JSON error");
        assert_eq!(
            body["errors"][0]["extensions"]["code"], code,
            "{url}: {body}"
        );
    }

    // A profile that is not the tenant's workspace's reads as none.
    let foreign_profile = drift_engine::graphql::ids::encode(
        drift_engine::graphql::ids::NodeKind::BaselineProfile,
        9_999,
    )
    .0;
    let response = get(
        &s,
        &report_url(&s, "csv").replace(&s.profile, &foreign_profile),
        Some(&s.token),
    )
    .await;
    assert_eq!(response.status(), 404);
}

/// Copies the scenario's findings into `total` findings of the target.
async fn store_findings(s: &Scenario, total: usize) {
    use entity::finding;
    let templates = finding::Entity::find()
        .all(&s.app.db)
        .await
        .expect("findings");
    assert!(!templates.is_empty());
    for start in (0..total).step_by(1_000) {
        let rows: Vec<finding::ActiveModel> = (start..(start + 1_000).min(total))
            .map(|i| {
                let t = &templates[i % templates.len()];
                let fingerprint = format!("{i:064x}");
                finding::ActiveModel {
                    tenant_id: Set(t.tenant_id),
                    workspace_id: Set(t.workspace_id),
                    baseline_profile_id: Set(t.baseline_profile_id),
                    baseline_snapshot_id: Set(t.baseline_snapshot_id),
                    fingerprint: Set(fingerprint.clone()),
                    recurrence_key: Set(fingerprint),
                    scope_key: Set(t.scope_key.clone()),
                    finding_type: Set(t.finding_type),
                    change_type: Set(t.change_type),
                    status: Set(t.status),
                    severity: Set(t.severity),
                    evidence_fidelity: Set(t.evidence_fidelity),
                    policy_type: Set(t.policy_type.clone()),
                    subject_key: Set(format!("{}-{i}", t.subject_key)),
                    display_name: Set(format!("{} {i:06}", t.display_name)),
                    evidence_jsonb: Set(t.evidence_jsonb.clone()),
                    first_seen_at: Set(t.first_seen_at),
                    last_seen_at: Set(t.last_seen_at),
                    times_seen: Set(1),
                    ..Default::default()
                }
            })
            .collect();
        finding::Entity::insert_many(rows)
            .exec(&s.app.db)
            .await
            .expect("stored");
    }
    finding::Entity::delete_many()
        .filter(sea_orm::ColumnTrait::is_in(
            &finding::Column::Id,
            templates.iter().map(|t| t.id),
        ))
        .exec(&s.app.db)
        .await
        .expect("templates removed");
}

/// Statements of the report's keyset pages logged so far.
fn pages_read(app: &TestApp) -> usize {
    app.logged()
        .iter()
        .filter(|s| s.sql.contains("FROM \"findings\"") && s.sql.contains("ORDER BY"))
        .count()
}

#[tokio::test]
async fn a_csv_of_100000_findings_streams_page_by_page_as_the_client_reads() {
    const TOTAL: usize = 100_000;
    let s = drifted("Passwords").await;
    store_findings(&s, TOTAL).await;
    s.app.statements.store(0, Ordering::SeqCst);
    s.app.statement_log.lock().expect("log").clear();

    let mut response = get(&s, &report_url(&s, "csv"), Some(&s.token)).await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers().get("content-length").is_none(),
        "streamed, not built: {:?}",
        response.headers()
    );
    // Read the first chunk, then nothing: the server reads on only as far
    // as the socket's buffers take, never the whole report.
    let first = response.chunk().await.expect("read").expect("a chunk");
    assert!(first.starts_with(b"finding_id,"));
    let pages = (TOTAL as u64).div_ceil(PAGE) as usize;
    let mut held = pages_read(&s.app);
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = pages_read(&s.app);
        if now == held {
            break;
        }
        held = now;
    }
    assert!(
        held < pages / 2,
        "while the client read nothing the server read {held} of {pages} pages"
    );

    // Then all of it: every finding once, in policy order.
    let mut body = first.to_vec();
    while let Some(chunk) = response.chunk().await.expect("read") {
        body.extend_from_slice(&chunk);
    }
    let mut csv = csv::Reader::from_reader(body.as_slice());
    let mut rows = 0usize;
    let mut previous = (String::new(), String::new());
    for record in csv.records() {
        let record = record.expect("a row");
        let key = (record[1].to_owned(), record[2].to_owned());
        assert!(key > previous, "{key:?} after {previous:?}");
        previous = key;
        rows += 1;
    }
    assert_eq!(rows, TOTAL);
    // One keyset page per 500 findings (and the empty one that ends it),
    // and at most one blob read per page.
    let log = s.app.logged();
    assert_eq!(pages_read(&s.app), pages + 1, "pages");
    let blob_reads = log
        .iter()
        .filter(|s| s.sql.contains("evidence_blobs"))
        .count();
    assert!(blob_reads <= pages + 1, "{blob_reads} blob reads");
}
