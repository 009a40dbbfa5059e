//! Governance through the real server: exclusions of setting paths and of
//! whole subjects, their patterns, and what compares do with them.

use sea_orm::EntityTrait as _;
use serde_json::{Value, json};

use crate::common::{TestApp, error_code};
use crate::corpus::{corpus_files, load};
use crate::drift::{Policy, Scenario};

const CREATE: &str = "mutation($i: CreateExclusionInput!) { createExclusion(input: $i) {
    id policyType subjectPattern settingPathPattern reason active tenant { id } createdBy { email } } }";

const CHANGES: &str = "query($t: ID!) { findings(tenantId: $t, first: 50) { edges { node {
    id status subject { displayName } settingChanges { available excluded changes { path change } } } } } }";

/// A real device configuration, its first top-level boolean setting and
/// one of its text settings.
fn device_configuration() -> (Value, String) {
    let (_, path) = corpus_files()
        .into_iter()
        .find(|(t, _)| t == "deviceConfigurations")
        .expect("a device configuration");
    let payload = load(&path);
    let flag = payload
        .as_object()
        .expect("object")
        .iter()
        .find(|(k, v)| v.is_boolean() && !k.starts_with('@'))
        .map(|(k, _)| k.clone())
        .expect("a boolean setting");
    (payload, flag)
}

async fn scenario() -> (Scenario, Value, String) {
    let app = TestApp::spawn().await;
    let s = Scenario::new(app, json!({"captureMode": "OPPORTUNISTIC"})).await;
    let (payload, flag) = device_configuration();
    let base: Vec<Policy> = vec![
        (
            "deviceConfigurations".into(),
            "dc-1".into(),
            payload.clone(),
        ),
        (
            "deviceConfigurations".into(),
            "dc-2".into(),
            json!({"@odata.type": "#microsoft.graph.windows10GeneralConfiguration", "displayName": "Legacy kiosk", "passwordRequired": true}),
        ),
    ];
    s.sync(&s.source, &base, &[]).await;
    s.versions(&s.source, &base).await;
    let done = s.capture().await;
    assert_eq!(done["outcome"], "SUCCEEDED", "{done}");

    // The target differs in two settings of dc-1, and in dc-2.
    let mut changed = payload.clone();
    changed["description"] = json!("edited in the portal");
    changed[&flag] = json!(!payload[&flag].as_bool().unwrap_or_default());
    let target: Vec<Policy> = vec![
        ("deviceConfigurations".into(), "dc-1".into(), changed),
        (
            "deviceConfigurations".into(),
            "dc-2".into(),
            json!({"@odata.type": "#microsoft.graph.windows10GeneralConfiguration", "displayName": "Legacy kiosk", "passwordRequired": false}),
        ),
    ];
    s.sync(&s.target, &target, &[]).await;
    s.versions(&s.target, &target).await;
    (s, payload, flag)
}

async fn findings_by_name(s: &Scenario) -> Vec<Value> {
    let data = s
        .app
        .gql_ok(&s.token, CHANGES, json!({"t": s.target}))
        .await;
    data["findings"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"].clone())
        .collect()
}

fn open_named<'a>(findings: &'a [Value], name: &str) -> Option<&'a Value> {
    findings
        .iter()
        .find(|f| f["subject"]["displayName"] == name && f["status"] == "OPEN")
}

#[tokio::test]
async fn a_path_exclusion_hides_one_of_two_changed_settings_then_the_finding() {
    let (s, payload, flag) = scenario().await;
    let name = payload["displayName"].as_str().expect("name").to_owned();
    let first = s.compare().await;
    assert_eq!(first["outcome"], "SUCCEEDED", "{first}");
    let findings = findings_by_name(&s).await;
    let changes = &open_named(&findings, &name).expect("a finding")["settingChanges"];
    let paths: Vec<&str> = changes["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter_map(|c| c["path"].as_str())
        .collect();
    assert_eq!(paths.len(), 2, "{paths:?}");
    assert!(paths.contains(&"description") && paths.contains(&flag.as_str()));

    let exclusion = s
        .app
        .gql_ok(
            &s.token,
            CREATE,
            json!({"i": {"baselineProfileId": s.profile, "policyType": "deviceConfigurations", "settingPathPattern": "descr*", "reason": "descriptions are free text"}}),
        )
        .await["createExclusion"]
        .clone();
    assert_eq!(exclusion["settingPathPattern"], "descr*");
    assert_eq!(exclusion["active"], true);
    assert_eq!(exclusion["createdBy"]["email"], "drift@example.com");

    let second = s.compare().await;
    assert_eq!(second["outcome"], "SUCCEEDED");
    let findings = findings_by_name(&s).await;
    let changes = &open_named(&findings, &name).expect("still a finding")["settingChanges"];
    assert_eq!(changes["excluded"], 1, "{changes}");
    assert_eq!(
        changes["changes"],
        json!([{"path": flag, "change": "MODIFIED"}]),
        "only the setting that is not excluded"
    );

    // A second rule hides the other change: nothing remains, and the
    // finding is resolved as excluded.
    s.app
        .gql_ok(
            &s.token,
            CREATE,
            json!({"i": {"baselineProfileId": s.profile, "tenantId": s.target, "subjectPattern": name, "settingPathPattern": flag, "reason": "set by the kiosk vendor"}}),
        )
        .await;
    let third = s.compare().await;
    let report = &third["baselineCompare"];
    assert_eq!(third["outcome"], "SUCCEEDED");
    let findings = findings_by_name(&s).await;
    assert!(open_named(&findings, &name).is_none(), "{findings:?}");
    let run = excluded_count(&s, third["id"].as_str().expect("id")).await;
    assert_eq!(run, (1, 1), "{report}");
    let resolved = resolved_reasons(&s).await;
    assert!(resolved.iter().any(|r| r == "excluded"), "{resolved:?}");
}

/// (excluded, findings resolved as excluded) from a compare's context.
async fn excluded_count(s: &Scenario, run_id: &str) -> (i64, i64) {
    let id = drift_engine::graphql::ids::decode_as(
        &async_graphql::ID(run_id.to_owned()),
        drift_engine::graphql::ids::NodeKind::OperationRun,
    )
    .expect("id");
    let run = <entity::operation_run::Entity as sea_orm::EntityTrait>::find_by_id(id)
        .one(&s.app.db)
        .await
        .expect("read")
        .expect("run");
    let c = &run.context["baseline_compare"];
    (
        c["excluded"].as_i64().unwrap_or(-1),
        c["findings_resolved_excluded"].as_i64().unwrap_or(-1),
    )
}

async fn resolved_reasons(s: &Scenario) -> Vec<String> {
    <entity::finding::Entity as sea_orm::EntityTrait>::find()
        .all(&s.app.db)
        .await
        .expect("findings")
        .into_iter()
        .filter_map(|f| f.resolved_reason)
        .collect()
}

#[tokio::test]
async fn a_subject_exclusion_hides_the_subject_and_negation_takes_it_back() {
    let (s, payload, _) = scenario().await;
    let name = payload["displayName"].as_str().expect("name").to_owned();
    s.app
        .gql_ok(
            &s.token,
            CREATE,
            json!({"i": {"baselineProfileId": s.profile, "subjectPattern": "Legacy *", "reason": "retired next quarter"}}),
        )
        .await;
    let run = s.compare().await;
    let findings = findings_by_name(&s).await;
    assert!(
        open_named(&findings, "Legacy kiosk").is_none(),
        "{findings:?}"
    );
    assert!(open_named(&findings, &name).is_some());
    assert_eq!(
        excluded_count(&s, run["id"].as_str().expect("id")).await.0,
        1
    );

    // A later `!` rule takes it back for this tenant.
    s.app
        .gql_ok(
            &s.token,
            CREATE,
            json!({"i": {"baselineProfileId": s.profile, "tenantId": s.target, "subjectPattern": "!Legacy kiosk", "reason": "this one stays monitored"}}),
        )
        .await;
    s.compare().await;
    let findings = findings_by_name(&s).await;
    assert!(
        open_named(&findings, "Legacy kiosk").is_some(),
        "{findings:?}"
    );

    // Deleting exclusions: listed on the profile first, then gone.
    let data = s
        .app
        .gql_ok(
            &s.token,
            "query($p: ID!) { node(id: $p) { ... on BaselineProfile { exclusions(first: 10) { totalCount edges { node { id subjectPattern } } } } } }",
            json!({"p": s.profile}),
        )
        .await;
    let edges = data["node"]["exclusions"]["edges"]
        .as_array()
        .expect("edges")
        .clone();
    assert_eq!(data["node"]["exclusions"]["totalCount"], 2);
    assert_eq!(edges[0]["node"]["subjectPattern"], "Legacy *");
    for edge in &edges {
        let answer = s
            .app
            .gql_ok(
                &s.token,
                "mutation($id: ID!) { deleteExclusion(input: {id: $id}) { deletedExclusionId } }",
                json!({"id": edge["node"]["id"]}),
            )
            .await;
        assert_eq!(
            answer["deleteExclusion"]["deletedExclusionId"],
            edge["node"]["id"]
        );
    }
    let audit: Vec<String> = <entity::audit_log::Entity as sea_orm::EntityTrait>::find()
        .all(&s.app.db)
        .await
        .expect("audit")
        .into_iter()
        .filter(|a| a.action.starts_with("exclusion."))
        .map(|a| format!("{} {}", a.action, a.metadata))
        .collect();
    assert_eq!(audit.len(), 4, "{audit:?}");
    assert!(audit[0].contains("retired next quarter"), "{audit:?}");
}

#[tokio::test]
async fn bad_exclusions_are_refused_with_the_position_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let s = Scenario::new(app, json!({})).await;
    for (input, expect) in [
        (
            json!({"settingPathPattern": "settings.ab**", "reason": "r"}),
            "settingPathPattern at character 12",
        ),
        (
            json!({"subjectPattern": "!", "reason": "r"}),
            "subjectPattern at character 2",
        ),
        (
            json!({"subjectPattern": "a***", "reason": "r"}),
            "at character 4",
        ),
        (
            json!({"subjectPattern": "x", "reason": "  "}),
            "reason is required",
        ),
        (json!({"reason": "everything"}), "would exclude everything"),
        (
            json!({"policyType": "deviceConfigurations", "reason": "r", "expiresAt": "2001-01-01T00:00:00Z"}),
            "in the past",
        ),
    ] {
        let mut i = input.clone();
        i["baselineProfileId"] = json!(s.profile);
        let answer = s.app.gql(Some(&s.token), CREATE, json!({"i": i})).await;
        assert_eq!(
            error_code(&answer),
            Some("BAD_USER_INPUT"),
            "{input}: {answer}"
        );
        let message = answer["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.contains(expect), "{input}: {message}");
    }
    assert!(
        <entity::exclusion::Entity as sea_orm::EntityTrait>::find()
            .all(&s.app.db)
            .await
            .expect("rows")
            .is_empty()
    );
}

const ACCEPT: &str = "mutation($i: AcceptFindingInput!) { acceptFinding(input: $i) { id status acceptedReason acceptedUntil } }";
const ONE: &str = "query($id: ID!) { finding(id: $id) { status timesSeen acceptedReason
    history { from to reason actorUserId operationRunId } } }";

async fn finding_of(s: &Scenario, id: &str) -> Value {
    s.app.gql_ok(&s.token, ONE, json!({"id": id})).await["finding"].clone()
}

#[tokio::test]
async fn accepted_drift_stays_accepted_until_it_changes_or_expires() {
    let app = TestApp::spawn_with(|c| {
        c.workers.sweep_interval = std::time::Duration::from_millis(100);
    })
    .await;
    let s = Scenario::new(app, json!({"captureMode": "OPPORTUNISTIC"})).await;
    let policy = |required: bool| -> Vec<Policy> {
        vec![(
            "deviceConfigurations".into(),
            "dc-1".into(),
            json!({"@odata.type": "#microsoft.graph.windows10GeneralConfiguration", "displayName": "Kiosk", "passwordRequired": required, "passwordMinimumLength": 8}),
        )]
    };
    s.sync(&s.source, &policy(true), &[]).await;
    s.versions(&s.source, &policy(true)).await;
    s.capture().await;
    s.sync(&s.target, &policy(false), &[]).await;
    s.versions(&s.target, &policy(false)).await;
    s.compare().await;
    let findings = findings_by_name(&s).await;
    let id = open_named(&findings, "Kiosk").expect("a finding")["id"]
        .as_str()
        .expect("id")
        .to_owned();

    let accepted = s
        .app
        .gql_ok(
            &s.token,
            ACCEPT,
            json!({"i": {"findingId": id, "reason": "kiosks sign in with a badge"}}),
        )
        .await["acceptFinding"]
        .clone();
    assert_eq!(accepted["status"], "ACCEPTED");
    assert_eq!(accepted["acceptedUntil"], Value::Null);

    // Seen again, unchanged: still accepted, and counted.
    s.compare().await;
    let f = finding_of(&s, &id).await;
    assert_eq!(f["status"], "ACCEPTED", "{f}");
    assert_eq!(f["timesSeen"], 2);

    // The drift changes: reopened, by the compare.
    let mut changed = policy(false);
    changed[0].2["passwordMinimumLength"] = json!(4);
    s.versions(&s.target, &changed).await;
    let run = s.compare().await;
    let f = finding_of(&s, &id).await;
    assert_eq!(f["status"], "OPEN", "{f}");
    let last = f["history"]
        .as_array()
        .expect("history")
        .last()
        .expect("an event")
        .clone();
    assert_eq!(last["from"], "accepted");
    assert_eq!(last["to"], "open");
    assert_eq!(last["reason"], "drift_changed");
    assert_eq!(last["operationRunId"], run["id"]);
    assert_eq!(last["actorUserId"], Value::Null);

    // Accepted until a moment from now: the next compare after it reopens.
    let until = (chrono::Utc::now() + chrono::Duration::milliseconds(600)).to_rfc3339();
    s.app
        .gql_ok(
            &s.token,
            ACCEPT,
            json!({"i": {"findingId": id, "reason": "until the fix ships", "expiresAt": until}}),
        )
        .await;
    assert_eq!(finding_of(&s, &id).await["status"], "ACCEPTED");
    tokio::time::sleep(std::time::Duration::from_millis(900)).await;
    // The sweep (every 100 ms here) or the compare reopens it, with the
    // same reason either way.
    s.compare().await;
    let f = finding_of(&s, &id).await;
    assert_eq!(f["status"], "OPEN", "{f}");
    let reasons: Vec<&str> = f["history"]
        .as_array()
        .expect("history")
        .iter()
        .filter_map(|e| e["reason"].as_str())
        .collect();
    assert_eq!(
        reasons,
        [
            "kiosks sign in with a badge",
            "drift_changed",
            "until the fix ships",
            "acceptance_expired"
        ],
        "{f}"
    );

    // Without a compare: the sweep alone reopens an expired acceptance.
    let until = (chrono::Utc::now() + chrono::Duration::milliseconds(300)).to_rfc3339();
    s.app
        .gql_ok(
            &s.token,
            ACCEPT,
            json!({"i": {"findingId": id, "reason": "short", "expiresAt": until}}),
        )
        .await;
    let mut status = String::new();
    for _ in 0..40 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        status = finding_of(&s, &id).await["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if status == "OPEN" {
            break;
        }
    }
    assert_eq!(status, "OPEN");

    // Unaccept by hand, and the refusals.
    s.app
        .gql_ok(
            &s.token,
            ACCEPT,
            json!({"i": {"findingId": id, "reason": "again"}}),
        )
        .await;
    let back = s
        .app
        .gql_ok(
            &s.token,
            "mutation($id: ID!) { unacceptFinding(input: {findingId: $id}) { status } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(back["unacceptFinding"]["status"], "OPEN");
    let again = s
        .app
        .gql(
            Some(&s.token),
            "mutation($id: ID!) { unacceptFinding(input: {findingId: $id}) { status } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(
        again["data"]["unacceptFinding"]["status"], "OPEN",
        "repeating is a no-op: {again}"
    );
    let past = s
        .app
        .gql(
            Some(&s.token),
            ACCEPT,
            json!({"i": {"findingId": id, "reason": "x", "expiresAt": "2001-01-01T00:00:00Z"}}),
        )
        .await;
    assert_eq!(error_code(&past), Some("BAD_USER_INPUT"), "{past}");
    let audit: Vec<String> = <entity::audit_log::Entity as sea_orm::EntityTrait>::find()
        .all(&s.app.db)
        .await
        .expect("audit")
        .into_iter()
        .filter(|a| a.action.starts_with("finding."))
        .map(|a| a.action)
        .collect();
    assert_eq!(
        audit.iter().filter(|a| *a == "finding.accept").count(),
        4,
        "{audit:?}"
    );
    assert_eq!(
        audit.iter().filter(|a| *a == "finding.reopen").count(),
        3,
        "{audit:?}"
    );
}

#[tokio::test]
async fn alignment_scores_match_counts_worked_out_by_hand() {
    let app = TestApp::spawn().await;
    let s = Scenario::new(app, json!({"captureMode": "OPPORTUNISTIC"})).await;
    let p = |id: &str, name: &str, n: i64| -> Policy {
        (
            "deviceConfigurations".into(),
            id.into(),
            json!({"@odata.type": "#microsoft.graph.windows10GeneralConfiguration", "displayName": name, "passwordMinimumLength": n}),
        )
    };
    let compliance: Policy = (
        "deviceCompliancePolicies".into(),
        "cp-1".into(),
        json!({"@odata.type": "#microsoft.graph.windows10CompliancePolicy", "displayName": "Compliance", "bitLockerEnabled": true}),
    );
    let baseline = vec![
        p("p1", "Equal content", 8),
        p("p2", "Equal meta", 8),
        p("p3", "Open drift", 8),
        p("p4", "Accepted drift", 8),
        p("p5", "Excluded drift", 8),
        compliance,
    ];
    s.sync(&s.source, &baseline, &[]).await;
    s.versions(&s.source, &baseline).await;
    s.capture().await;

    // The target: p1 equal with content, p2 equal with meta only (no
    // content pushed), p3-p5 changed; compliance policies failed to sync.
    let current = vec![
        p("p1", "Equal content", 8),
        p("p2", "Equal meta", 8),
        p("p3", "Open drift", 4),
        p("p4", "Accepted drift", 4),
        p("p5", "Excluded drift", 4),
    ];
    s.sync(&s.target, &current, &["deviceCompliancePolicies"])
        .await;
    let with_content: Vec<Policy> = current.iter().filter(|c| c.1 != "p2").cloned().collect();
    s.versions(&s.target, &with_content).await;
    s.compare().await;
    let findings = findings_by_name(&s).await;
    let accepted = open_named(&findings, "Accepted drift").expect("a finding")["id"].clone();
    s.app
        .gql_ok(
            &s.token,
            ACCEPT,
            json!({"i": {"findingId": accepted, "reason": "pilot group"}}),
        )
        .await;
    s.app
        .gql_ok(
            &s.token,
            CREATE,
            json!({"i": {"baselineProfileId": s.profile, "subjectPattern": "Excluded*", "reason": "being retired"}}),
        )
        .await;
    let second = s.compare().await;

    let data = s
        .app
        .gql_ok(
            &s.token,
            "query($t: ID!, $p: ID!) {
               tenant(id: $t) { alignment(baselineProfileId: $p) {
                 applicable compliant accepted excluded uncovered alignedPercent verifiedPercent contentVerifiedPercent compareRun { id } } }
               alignmentHistory(tenantId: $t, baselineProfileId: $p) { totalCount edges { node { applicable compliant alignedPercent } } } }",
            json!({"t": s.target, "p": s.profile}),
        )
        .await;
    let a = &data["tenant"]["alignment"];
    // 5 compared, 1 excluded: 4 applicable; p3 open, p4 accepted: p1 and
    // p2 compliant, p1 at content.
    assert_eq!(a["applicable"], 4, "{a}");
    assert_eq!(a["compliant"], 2);
    assert_eq!(a["accepted"], 1);
    assert_eq!(a["excluded"], 1);
    assert_eq!(a["uncovered"], 1);
    assert_eq!(a["alignedPercent"], 75.0);
    assert_eq!(a["verifiedPercent"], 50.0);
    assert_eq!(a["contentVerifiedPercent"], 25.0);
    assert_eq!(a["compareRun"]["id"], second["id"]);
    // The first compare: 5 applicable, 3 open, none accepted.
    let history = &data["alignmentHistory"];
    assert_eq!(history["totalCount"], 2);
    assert_eq!(
        history["edges"][0]["node"],
        json!({"applicable": 5, "compliant": 2, "alignedPercent": 40.0})
    );

    let fleet = s
        .app
        .gql_ok(
            &s.token,
            "query($t: ID!) { tenant(id: $t) { workspace { alignment { alignedPercent tenant { id } } } } }",
            json!({"t": s.target}),
        )
        .await;
    assert_eq!(
        fleet["tenant"]["workspace"]["alignment"],
        json!([{"alignedPercent": 75.0, "tenant": {"id": s.target}}])
    );
}

/// Counters as they should be: a GROUP BY over the findings themselves.
async fn counted(
    db: &sea_orm::DatabaseConnection,
) -> (
    Vec<(i64, i64, String, String, String, String, i64)>,
    Vec<(i64, i64, String, String, String, String, i64)>,
) {
    use sea_orm::{ConnectionTrait, Statement};
    let read = |sql: &str| {
        let sql = sql.to_owned();
        async move {
            let rows = db
                .query_all_raw(Statement::from_string(db.get_database_backend(), sql))
                .await
                .expect("query");
            let mut out: Vec<(i64, i64, String, String, String, String, i64)> = rows
                .into_iter()
                .map(|r| {
                    (
                        r.try_get("", "t").expect("t"),
                        r.try_get("", "p").expect("p"),
                        r.try_get("", "s").expect("s"),
                        r.try_get("", "ft").expect("ft"),
                        r.try_get("", "fi").expect("fi"),
                        r.try_get("", "se").expect("se"),
                        r.try_get("", "n").expect("n"),
                    )
                })
                .collect();
            out.sort();
            out
        }
    };
    (
        read("SELECT tenant_id AS t, baseline_profile_id AS p, status AS s, finding_type AS ft, evidence_fidelity AS fi, severity AS se, CAST(COUNT(*) AS BIGINT) AS n FROM findings GROUP BY tenant_id, baseline_profile_id, status, finding_type, evidence_fidelity, severity").await,
        read("SELECT tenant_id AS t, baseline_profile_id AS p, status AS s, finding_type AS ft, fidelity AS fi, severity AS se, count AS n FROM finding_counters WHERE count <> 0").await,
    )
}

#[tokio::test]
async fn counters_equal_a_count_of_findings_after_random_compares_triage_and_exclusions() {
    use rand::{Rng, SeedableRng};
    let app = TestApp::spawn().await;
    let s = Scenario::new(app, json!({"captureMode": "OPPORTUNISTIC"})).await;
    let policy = |i: usize, n: i64| -> Policy {
        (
            "deviceConfigurations".into(),
            format!("p{i}"),
            json!({"@odata.type": "#microsoft.graph.windows10GeneralConfiguration", "displayName": format!("Policy {i}"), "passwordMinimumLength": n}),
        )
    };
    let baseline: Vec<Policy> = (0..8).map(|i| policy(i, 8)).collect();
    s.sync(&s.source, &baseline, &[]).await;
    s.versions(&s.source, &baseline).await;
    s.capture().await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(20261202);
    let mut exclusions: Vec<String> = Vec::new();
    for step in 0..24 {
        match rng.random_range(0..5) {
            // The tenant drifts: some policies change, some go, some come.
            0 | 1 => {
                let mut current: Vec<Policy> = Vec::new();
                for i in 0..10 {
                    if rng.random_bool(0.8) {
                        let n = if rng.random_bool(0.4) {
                            rng.random_range(1..6)
                        } else {
                            8
                        };
                        current.push(policy(i, n));
                    }
                }
                s.sync(&s.target, &current, &[]).await;
                if !current.is_empty() {
                    s.versions(&s.target, &current).await;
                }
                s.compare().await;
            }
            // A person decides about a finding.
            2 => {
                let findings = findings_by_name(&s).await;
                if findings.is_empty() {
                    continue;
                }
                let f = &findings[rng.random_range(0..findings.len())];
                let id = f["id"].clone();
                let (query, vars) = match rng.random_range(0..5) {
                    0 => (
                        "mutation($id: ID!) { acknowledgeFinding(input: {id: $id}) { id } }",
                        json!({"id": id}),
                    ),
                    1 => (
                        "mutation($id: ID!) { resolveFinding(input: {id: $id, reason: \"fixed\"}) { id } }",
                        json!({"id": id}),
                    ),
                    2 => (
                        "mutation($id: ID!) { reopenFinding(input: {id: $id}) { id } }",
                        json!({"id": id}),
                    ),
                    3 => (ACCEPT, json!({"i": {"findingId": id, "reason": "ok"}})),
                    _ => (
                        "mutation($id: ID!) { unacceptFinding(input: {findingId: $id}) { id } }",
                        json!({"id": id}),
                    ),
                };
                // Some decisions are refused (a conflict); either way the
                // counters must stay right.
                s.app.gql(Some(&s.token), query, vars).await;
            }
            // An exclusion comes or goes; the next compare applies it.
            3 => {
                let id = s
                    .app
                    .gql_ok(
                        &s.token,
                        CREATE,
                        json!({"i": {"baselineProfileId": s.profile, "subjectPattern": format!("Policy {}", rng.random_range(0..10)), "reason": "r"}}),
                    )
                    .await["createExclusion"]["id"]
                    .as_str()
                    .expect("id")
                    .to_owned();
                exclusions.push(id);
                s.compare().await;
            }
            _ => {
                if let Some(id) = exclusions.pop() {
                    s.app
                        .gql_ok(&s.token, "mutation($id: ID!) { deleteExclusion(input: {id: $id}) { deletedExclusionId } }", json!({"id": id}))
                        .await;
                }
                s.compare().await;
            }
        }
        let (truth, counters) = counted(&s.app.db).await;
        assert_eq!(counters, truth, "after step {step}");
    }
    // The summary and the list's total agree with them.
    let data = s
        .app
        .gql_ok(
            &s.token,
            "query($t: ID!) { findingsSummary(tenantId: $t) { total byStatus { key count } }
               findings(tenantId: $t, first: 1) { totalCount } }",
            json!({"t": s.target}),
        )
        .await;
    let (truth, _) = counted(&s.app.db).await;
    let total: i64 = truth.iter().map(|r| r.6).sum();
    assert_eq!(data["findingsSummary"]["total"], total);
    assert_eq!(data["findings"]["totalCount"], total);
}

/// The scenario's workspace.
async fn workspace_of(s: &Scenario) -> Value {
    s.app
        .gql_ok(
            &s.token,
            "query($t: ID!) { tenant(id: $t) { workspace { id } } }",
            json!({"t": s.source}),
        )
        .await["tenant"]["workspace"]["id"]
        .clone()
}

/// Another OPPORTUNISTIC profile named `name`, captured from `source` and
/// assigned to the scenario's target.
async fn another_profile(s: &Scenario, name: &str, source: &str) -> String {
    let profile = s
        .app
        .gql_ok(
            &s.token,
            "mutation($ws: ID!, $n: String!) { createBaselineProfile(input: {workspaceId: $ws, name: $n, captureMode: OPPORTUNISTIC}) { id } }",
            json!({"ws": workspace_of(s).await, "n": name}),
        )
        .await["createBaselineProfile"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let run = s
        .app
        .gql_ok(
            &s.token,
            "mutation($p: ID!, $t: ID!) { startBaselineCapture(input: {baselineProfileId: $p, sourceTenantId: $t}) { id } }",
            json!({"p": profile, "t": source}),
        )
        .await["startBaselineCapture"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    s.wait(&run).await;
    s.app
        .gql_ok(
            &s.token,
            "mutation($p: ID!, $t: ID!) { assignBaselineProfile(input: {baselineProfileId: $p, tenantId: $t}) { id } }",
            json!({"p": profile, "t": s.target}),
        )
        .await;
    profile
}

#[tokio::test]
async fn two_profiles_that_expect_different_content_are_a_conflict() {
    let app = TestApp::spawn().await;
    let s = Scenario::new(app, json!({"captureMode": "OPPORTUNISTIC"})).await;
    let p = |n: i64| -> Vec<Policy> {
        vec![(
            "deviceConfigurations".into(),
            "dc-1".into(),
            json!({"@odata.type": "#microsoft.graph.windows10GeneralConfiguration", "displayName": "Passwords", "passwordMinimumLength": n}),
        )]
    };
    s.sync(&s.source, &p(8), &[]).await;
    s.versions(&s.source, &p(8)).await;
    s.capture().await;

    // A second standard, from a second reference tenant, wants 14.
    let source2 = s
        .app
        .gql_ok(
            &s.token,
            "mutation($ws: ID!) { createTenant(input: {workspaceId: $ws, name: \"Reference 2\"}) { id } }",
            json!({"ws": workspace_of(&s).await}),
        )
        .await["createTenant"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    s.sync(&source2, &p(14), &[]).await;
    s.versions(&source2, &p(14)).await;
    let profile2 = another_profile(&s, "Strict", &source2).await;

    // The tenant has 10: a finding against the first standard, which
    // names the second's expectation.
    s.sync(&s.target, &p(10), &[]).await;
    s.versions(&s.target, &p(10)).await;
    let done = s.compare().await;
    let run = excluded_count(&s, done["id"].as_str().expect("id")).await;
    assert_eq!(run.0, 0);
    let data = s
        .app
        .gql_ok(
            &s.token,
            "query($t: ID!) { findings(tenantId: $t) { edges { node { subject { subjectKey } baselineProfile { id }
                conflicts { baselineProfile { name } baselineProfileId expectedHash } } } }
              tenant(id: $t) { conflicts { policyType subjectKey displayName expected { baselineProfileId expectedHash } } } }",
            json!({"t": s.target}),
        )
        .await;
    let finding = &data["findings"]["edges"][0]["node"];
    assert_eq!(finding["baselineProfile"]["id"], s.profile.as_str());
    let conflicts = finding["conflicts"].as_array().expect("conflicts");
    assert_eq!(conflicts.len(), 1, "{finding}");
    assert_eq!(conflicts[0]["baselineProfile"]["name"], "Strict");
    assert_eq!(conflicts[0]["baselineProfileId"], profile2.as_str());
    let tenant = &data["tenant"]["conflicts"];
    assert_eq!(tenant.as_array().map(Vec::len), Some(1), "{tenant}");
    assert_eq!(tenant[0]["displayName"], "Passwords");
    let expected = tenant[0]["expected"].as_array().expect("expected");
    assert_eq!(expected.len(), 2, "both standards: {tenant}");
    assert_ne!(expected[0]["expectedHash"], expected[1]["expectedHash"]);
    let context = {
        let id = drift_engine::graphql::ids::decode_as(
            &async_graphql::ID(done["id"].as_str().expect("id").to_owned()),
            drift_engine::graphql::ids::NodeKind::OperationRun,
        )
        .expect("id");
        <entity::operation_run::Entity as sea_orm::EntityTrait>::find_by_id(id)
            .one(&s.app.db)
            .await
            .expect("read")
            .expect("run")
            .context
    };
    assert_eq!(context["baseline_compare"]["conflicts"], 1);
}

/// Entra ID object ids of two tenants' groups and filters: the same names
/// under other ids, as in any two real tenants.
const SOURCE_GROUP: &str = "3f1c2b4a-8d7e-4c5b-9a6f-1e2d3c4b5a69";
const SOURCE_FILTER: &str = "b6a5c4d3-2e1f-4a9b-8c7d-6e5f4a3b2c1d";
const TARGET_GROUP: &str = "7c2d9e1f-4b3a-4d5c-8e6f-9a0b1c2d3e4f";
const TARGET_PILOT: &str = "0a9b8c7d-6e5f-4a3b-9c1d-2e3f4a5b6c7d";
const TARGET_FILTER: &str = "e1d2c3b4-a5f6-4e7d-8c9b-0a1f2e3d4c5b";
const UNKNOWN_GROUP: &str = "99999999-8888-4777-a666-555555555555";

/// The corpus's secured-workstation device restrictions, whose one
/// assignment names its group in `groupId` by name (as the export tool
/// wrote it), pointed at `group` by id instead, with `intent` and a
/// filter as Graph returns them, and the name `display_name`.
fn assigned(group: &str, intent: &str, filter: &str, display_name: &str) -> Value {
    let (_, path) = corpus_files()
        .into_iter()
        .find(|(_, p)| {
            p.to_string_lossy()
                .contains("Specialized-Win10-Device-Restrictions-UI")
        })
        .expect("the device restrictions export");
    let mut payload = load(&path);
    let assignments = payload["assignments"].as_array_mut().expect("assignments");
    assert_eq!(assignments.len(), 1, "the export has one assignment");
    assert_eq!(
        assignments[0]["target"]["groupId"], "Specialized Workstations",
        "the export names its group"
    );
    assignments[0]["target"]["groupId"] = json!(group);
    assignments[0]["target"]["deviceAndAppManagementAssignmentFilterId"] = json!(filter);
    assignments[0]["target"]["deviceAndAppManagementAssignmentFilterType"] = json!("include");
    assignments[0]["intent"] = json!("apply");
    if intent != "apply" {
        assignments[0]["intent"] = json!(intent);
    }
    payload["displayName"] = json!(display_name);
    payload
}

/// A tenant's groups and filters, as an inventory listing records them.
fn directory(groups: &[(&str, &str)], filters: &[(&str, &str)]) -> Vec<Policy> {
    groups
        .iter()
        .map(|(id, name)| ("groups".into(), (*id).into(), json!({"displayName": name})))
        .chain(filters.iter().map(|(id, name)| {
            (
                "assignmentFilters".into(),
                (*id).into(),
                json!({"displayName": name}),
            )
        }))
        .collect()
}

async fn compare_both(s: &Scenario, other_profile: &str) {
    for p in [s.profile.as_str(), other_profile] {
        let id = s
            .app
            .gql_ok(
                &s.token,
                "mutation($p: ID!, $t: ID!) { startBaselineCompare(input: {baselineProfileId: $p, tenantId: $t}) { id } }",
                json!({"p": p, "t": s.target}),
            )
            .await["startBaselineCompare"]["id"]
            .as_str()
            .expect("id")
            .to_owned();
        s.wait(&id).await;
    }
}

async fn open_aspects(s: &Scenario) -> Vec<Value> {
    s.app
        .gql_ok(&s.token, ASPECTS, json!({"t": s.target}))
        .await["findings"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"].clone())
        .collect()
}

const ASPECTS: &str = "query($t: ID!) { findings(tenantId: $t, status: [OPEN]) { edges { node {
    subject { displayName } baselineProfile { id } changedAspects
    current { assignmentsHash }
    settingChanges { available changes { path change baseline current } } } } } }";

#[tokio::test]
async fn an_assignment_only_change_is_found_with_compare_assignments_and_not_without() {
    let app = TestApp::spawn().await;
    let s = Scenario::new(
        app,
        json!({"captureMode": "OPPORTUNISTIC", "compareAssignments": true}),
    )
    .await;
    let plain = json!({"@odata.type": "#microsoft.graph.windows10GeneralConfiguration",
        "displayName": "Passwords", "passwordMinimumLength": 8, "assignments": []});
    let base: Vec<Policy> = directory(
        &[(SOURCE_GROUP, "Specialized Workstations")],
        &[(SOURCE_FILTER, "Corporate devices")],
    )
    .into_iter()
    .chain([
        (
            "deviceConfigurations".into(),
            "dc-1".into(),
            assigned(SOURCE_GROUP, "apply", SOURCE_FILTER, "Restrictions"),
        ),
        ("deviceConfigurations".into(), "dc-2".into(), plain.clone()),
    ])
    .collect();
    s.sync(&s.source, &base, &[]).await;
    s.versions(&s.source, &base[2..]).await;
    assert_eq!(s.capture().await["outcome"], "SUCCEEDED");

    // A second profile of the same source that does not compare assignments.
    let settings_only = another_profile(&s, "Settings only", &s.source).await;
    let shown = s
        .app
        .gql_ok(
            &s.token,
            "query($p: ID!) { baselineProfile(id: $p) { compareAssignments } }",
            json!({"p": settings_only}),
        )
        .await;
    assert_eq!(shown["baselineProfile"]["compareAssignments"], false);
    // The target's groups and filter have other ids and the same names:
    // the same assignments, so no drift.
    let directory_b = directory(
        &[
            (TARGET_GROUP, "Specialized Workstations"),
            (TARGET_PILOT, "Pilot Devices"),
        ],
        &[(TARGET_FILTER, "Corporate devices")],
    );
    let target = |intent: &str, password: i64| -> Vec<Policy> {
        let mut plain = plain.clone();
        plain["passwordMinimumLength"] = json!(password);
        directory_b
            .iter()
            .cloned()
            .chain([
                (
                    "deviceConfigurations".into(),
                    "dc-1".into(),
                    assigned(TARGET_GROUP, intent, TARGET_FILTER, "Restrictions"),
                ),
                ("deviceConfigurations".into(), "dc-2".into(), plain),
            ])
            .collect()
    };
    s.sync(&s.target, &target("apply", 8), &[]).await;
    s.versions(&s.target, &target("apply", 8)[3..]).await;
    compare_both(&s, &settings_only).await;
    assert_eq!(open_aspects(&s).await, Vec::<Value>::new());

    // Someone turns the assignment into a removal and changes dc-2's
    // setting: with compareAssignments, dc-1 is an ASSIGNMENTS finding and
    // dc-2 a SETTINGS one; without, only dc-2 is found.
    s.versions(&s.target, &target("remove", 12)[3..]).await;
    compare_both(&s, &settings_only).await;
    let found = open_aspects(&s).await;
    let of = |profile: &str, name: &str| {
        found
            .iter()
            .find(|f| f["baselineProfile"]["id"] == profile && f["subject"]["displayName"] == name)
            .cloned()
    };
    let assignments = of(&s.profile, "Restrictions").expect("an assignment finding");
    assert_eq!(assignments["changedAspects"], json!(["ASSIGNMENTS"]));
    assert!(assignments["current"]["assignmentsHash"].is_string());
    assert_eq!(
        assignments["settingChanges"]["changes"],
        json!([{"path": "assignments[group:Specialized Workstations].intent", "change": "MODIFIED",
                "baseline": "apply", "current": "remove"}])
    );
    let settings = of(&s.profile, "Passwords").expect("a settings finding");
    assert_eq!(settings["changedAspects"], json!(["SETTINGS"]));
    assert_eq!(
        settings["settingChanges"]["changes"][0]["path"],
        "passwordMinimumLength"
    );
    assert!(of(&settings_only, "Restrictions").is_none(), "{found:?}");
    let plain_finding = of(&settings_only, "Passwords").expect("found without the option too");
    assert_eq!(plain_finding["changedAspects"], json!(["SETTINGS"]));
    assert!(plain_finding["current"]["assignmentsHash"].is_null());
    assert_eq!(found.len(), 3, "{found:?}");

    // Moving the assignment to another group is an added and a removed
    // target, by name.
    let mut moved = target("apply", 8);
    moved[3].2 = assigned(TARGET_PILOT, "apply", TARGET_FILTER, "Restrictions");
    s.versions(&s.target, &moved[3..]).await;
    compare_both(&s, &settings_only).await;
    let found = open_aspects(&s).await;
    let changes: Vec<(String, String)> = found
        .iter()
        .find(|f| f["baselineProfile"]["id"] == s.profile.as_str())
        .expect("the assignment finding")["settingChanges"]["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| {
            (
                c["path"].as_str().expect("path").to_owned(),
                c["change"].as_str().expect("change").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        changes,
        [
            ("assignments[group:Pilot Devices]".into(), "ADDED".into()),
            (
                "assignments[group:Specialized Workstations]".into(),
                "REMOVED".into()
            ),
        ]
    );
    assert_eq!(found.len(), 1, "dc-2 is back to the baseline: {found:?}");

    // An id the tenant's groups inventory does not list is a warning that
    // names the assignment, and the version still records its set.
    let data = s
        .app
        .gql_ok(
            &s.token,
            "mutation($i: RecordPolicyVersionsInput!) { recordPolicyVersions(input: $i) { outcome warnings { policyType externalId code reason } } }",
            json!({"i": {"tenantId": s.target, "versions": [{"policyType": "deviceConfigurations", "externalId": "dc-1",
                "content": assigned(UNKNOWN_GROUP, "apply", TARGET_FILTER, "Restrictions")}]}}),
        )
        .await;
    let run = &data["recordPolicyVersions"];
    assert_eq!(run["outcome"], "SUCCEEDED");
    let warnings = run["warnings"].as_array().expect("warnings");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0]["code"], "assignment_unresolved");
    assert_eq!(warnings[0]["externalId"], "dc-1");
    assert!(
        warnings[0]["reason"]
            .as_str()
            .expect("reason")
            .contains(&format!(
                "assignments[0] (group) names group `{UNKNOWN_GROUP}`"
            )),
        "{warnings:?}"
    );

    // No tenant identifier reached a snapshot item or a stored blob.
    let blobs = entity::evidence_blob::Entity::find()
        .all(&s.app.db)
        .await
        .expect("blobs");
    let items = entity::baseline_snapshot_item::Entity::find()
        .all(&s.app.db)
        .await
        .expect("items");
    assert!(items.iter().any(|i| i.assignments_hash.is_some()));
    let stored = format!(
        "{:?}{:?}",
        blobs.iter().map(|b| &b.content).collect::<Vec<_>>(),
        items
    );
    for id in [
        SOURCE_GROUP,
        SOURCE_FILTER,
        TARGET_GROUP,
        TARGET_PILOT,
        TARGET_FILTER,
        UNKNOWN_GROUP,
    ] {
        assert!(!stored.contains(id), "{id} was stored");
    }
    assert!(stored.contains("Corporate devices"));
}
