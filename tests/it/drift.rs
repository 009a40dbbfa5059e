//! Capture, compare and the finding lifecycle through the real server, on
//! real corpus payloads.

use std::time::Duration;

use sea_orm::EntityTrait;
use serde_json::{Value, json};

use crate::common::{TestApp, error_code};
use crate::corpus::{corpus_files, load};

pub const RUN: &str = "query($id: ID!) { operationRun(id: $id) { id type status outcome summaryCounts failureSummary
  progress { done total }
  baselineCapture { baselineSnapshotId subjectsTotal resolvedContent resolvedMeta missingContent { policyType externalId } missingContentTotal }
  baselineCompare { since coverage { subjectsTotal resolvedTotal resolvedContent resolvedMeta }
    evidenceGaps { missingBaseline missingCurrent missingBoth }
    policyTypes { policyType coverage subjects resolvedContent resolvedMeta } warnings { policyType code reason } } } }";

pub const FINDINGS: &str = "query($t: ID!, $fidelity: Fidelity, $status: [FindingStatus!]) {
  findings(tenantId: $t, fidelity: $fidelity, status: $status, first: 500) { totalCount edges { node {
    id findingType changeType status severity fidelity timesSeen resolvedAt scopeKey fingerprint recurrenceKey
    subject { policyType externalId displayName subjectKey }
    baseline { hash provenance { fidelity source observedAt observedOperationRunId } }
    current { hash provenance { fidelity source observedAt observedOperationRunId } }
  } } } }";

/// One policy in a scenario: (policy type, external id, payload).
pub type Policy = (String, String, Value);

pub struct Scenario {
    pub app: TestApp,
    pub token: String,
    pub source: String,
    pub target: String,
    pub profile: String,
}

impl Scenario {
    pub async fn new(app: TestApp, profile_input: Value) -> Self {
        let (_, token) = app.user("drift@example.com").await;
        let (workspace, source) = app.workspace_with_tenant(&token).await;
        let target = app
            .gql_ok(
                &token,
                "mutation($ws: ID!) { createTenant(input: {workspaceId: $ws, name: \"Target\"}) { id } }",
                json!({"ws": workspace}),
            )
            .await["createTenant"]["id"]
            .as_str()
            .expect("id")
            .to_owned();
        let mut input = profile_input;
        input["workspaceId"] = json!(workspace);
        input["name"] = json!("Golden master");
        let profile = app
            .gql_ok(
                &token,
                "mutation($input: CreateBaselineProfileInput!) { createBaselineProfile(input: $input) { id } }",
                json!({"input": input}),
            )
            .await["createBaselineProfile"]["id"]
            .as_str()
            .expect("id")
            .to_owned();
        app.gql_ok(
            &token,
            "mutation($p: ID!, $t: ID!) { assignBaselineProfile(input: {baselineProfileId: $p, tenantId: $t}) { id } }",
            json!({"p": profile, "t": target}),
        )
        .await;
        Self {
            app,
            token,
            source,
            target,
            profile,
        }
    }

    /// A full inventory listing of `policies` (all their types succeeded,
    /// except `failed` types).
    pub async fn sync(&self, tenant: &str, policies: &[Policy], failed: &[&str]) -> Value {
        let mut types: Vec<&str> = policies.iter().map(|p| p.0.as_str()).collect();
        types.extend_from_slice(failed);
        types.sort();
        types.dedup();
        let input = json!({
            "tenantId": tenant,
            "policyTypes": types.iter().map(|t| if failed.contains(t) {
                json!({"policyType": t, "status": "FAILED", "error": "throttled"})
            } else {
                json!({"policyType": t, "status": "SUCCEEDED"})
            }).collect::<Vec<_>>(),
            "items": policies.iter().filter(|p| !failed.contains(&p.0.as_str())).map(|(t, id, payload)| json!({
                "policyType": t,
                "externalId": id,
                "displayName": payload.get("displayName").or(payload.get("name")).and_then(Value::as_str).unwrap_or(id),
                "meta": {"@odata.type": payload.get("@odata.type"), "displayName": payload.get("displayName").or(payload.get("name"))},
            })).collect::<Vec<_>>(),
        });
        self.app
            .gql_ok(&self.token, "mutation($i: RecordInventorySyncInput!) { recordInventorySync(input: $i) { id outcome } }", json!({"i": input}))
            .await["recordInventorySync"]
            .clone()
    }

    pub async fn versions(&self, tenant: &str, policies: &[Policy]) {
        let versions: Vec<Value> = policies
            .iter()
            .map(|(t, id, payload)| json!({"policyType": t, "externalId": id, "content": payload}))
            .collect();
        let data = self
            .app
            .gql_ok(
                &self.token,
                "mutation($i: RecordPolicyVersionsInput!) { recordPolicyVersions(input: $i) { outcome } }",
                json!({"i": {"tenantId": tenant, "versions": versions}}),
            )
            .await;
        assert_eq!(data["recordPolicyVersions"]["outcome"], "SUCCEEDED");
    }

    pub async fn wait(&self, run_id: &str) -> Value {
        for _ in 0..600 {
            let data = self
                .app
                .gql_ok(&self.token, RUN, json!({"id": run_id}))
                .await;
            if data["operationRun"]["status"] == "COMPLETED" {
                return data["operationRun"].clone();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("run {run_id} did not complete in 30 s");
    }

    pub async fn capture(&self) -> Value {
        let run = self
            .app
            .gql_ok(
                &self.token,
                "mutation($p: ID!, $t: ID!) { startBaselineCapture(input: {baselineProfileId: $p, sourceTenantId: $t}) { id status } }",
                json!({"p": self.profile, "t": self.source}),
            )
            .await["startBaselineCapture"]
            .clone();
        let done = self.wait(run["id"].as_str().expect("id")).await;
        // Every item's hashes are a hash or NULL (never an empty string: on
        // PostgreSQL they travel in text arrays, with '' for NULL).
        let items = entity::baseline_snapshot_item::Entity::find()
            .all(&self.app.db)
            .await
            .expect("items");
        for item in &items {
            for hash in [&item.baseline_hash, &item.meta_hash].into_iter().flatten() {
                assert!(
                    hash.len() == 64 && hash.chars().all(|c| c.is_ascii_hexdigit()),
                    "{item:?}"
                );
            }
        }
        done
    }

    pub async fn start_compare(&self) -> Value {
        self.app
            .gql_ok(
                &self.token,
                "mutation($p: ID!, $t: ID!) { startBaselineCompare(input: {baselineProfileId: $p, tenantId: $t}) { id status } }",
                json!({"p": self.profile, "t": self.target}),
            )
            .await["startBaselineCompare"]
            .clone()
    }

    pub async fn compare(&self) -> Value {
        let run = self.start_compare().await;
        let done = self.wait(run["id"].as_str().expect("id")).await;
        assert_eq!(done["type"], "BASELINE_COMPARE");
        done
    }

    pub async fn findings(&self, filter: Value) -> Vec<Value> {
        let mut vars = filter;
        vars["t"] = json!(self.target);
        let data = self.app.gql_ok(&self.token, FINDINGS, vars).await;
        data["findings"]["edges"]
            .as_array()
            .expect("edges")
            .iter()
            .map(|e| e["node"].clone())
            .collect()
    }
}

fn corpus(name_part: &str) -> Value {
    let (_, path) = corpus_files()
        .into_iter()
        .find(|(_, p)| p.to_string_lossy().contains(name_part))
        .unwrap_or_else(|| panic!("no corpus file like {name_part}"));
    load(&path)
}

/// Changes one real setting: flips the first boolean, or bumps the first
/// number, among the payload's settings (or a settings-catalog value).
fn change_one_setting(payload: &Value, nth: usize) -> Value {
    let mut changed = payload.clone();
    if let Some(settings) = changed.get_mut("settings").and_then(Value::as_array_mut) {
        let choice: Vec<&mut Value> = settings
            .iter_mut()
            .filter(|s| s["settingInstance"]["choiceSettingValue"]["value"].is_string())
            .collect();
        let count = choice.len();
        let target = choice
            .into_iter()
            .nth(nth % count)
            .expect("a choice setting");
        let value = target["settingInstance"]["choiceSettingValue"]["value"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let flipped = if value.ends_with("_1") {
            format!("{}_0", &value[..value.len() - 2])
        } else {
            format!("{value}_1")
        };
        target["settingInstance"]["choiceSettingValue"]["value"] = json!(flipped);
        return changed;
    }
    let skip = [
        "@odata.type",
        "displayName",
        "description",
        "id",
        "version",
        "createdDateTime",
        "lastModifiedDateTime",
        "supportsScopeTags",
    ];
    let object = changed.as_object_mut().expect("object");
    let keys: Vec<String> = object
        .iter()
        .filter(|(k, v)| !skip.contains(&k.as_str()) && (v.is_boolean() || v.is_i64()))
        .map(|(k, _)| k.clone())
        .collect();
    let key = &keys[nth % keys.len()];
    let value = object.get_mut(key).expect("key");
    let next = match &*value {
        Value::Bool(b) => json!(!*b),
        other => json!(other.as_i64().unwrap_or_default() + 1),
    };
    *value = next;
    changed
}

/// Volatile-only edits: new ids and timestamps, a version bump, sets in another order.
fn touch_volatile(payload: &Value) -> Value {
    let mut touched = payload.clone();
    if let Some(object) = touched.as_object_mut() {
        object.insert("id".into(), json!("00000000-aaaa-bbbb-cccc-000000000000"));
        object.insert("lastModifiedDateTime".into(), json!("2030-01-01T00:00:00Z"));
        object.insert("version".into(), json!(99));
        if let Some(settings) = object.get_mut("settings").and_then(Value::as_array_mut) {
            settings.reverse();
        }
    }
    touched
}

/// The spec's fixture matrix: settings-only changes on real payloads across
/// policy types, with content evidence newer than the baseline. Every change
/// must give a content finding, every unchanged policy none.
#[tokio::test]
async fn fixture_matrix_finds_every_settings_change_and_nothing_else() {
    let s = Scenario::new(TestApp::spawn().await, json!({})).await;
    let sources = [
        ("deviceConfigurations", "level-1-iOS_iPadOS-personal-basic"),
        (
            "deviceConfigurations",
            "level-2-fm-enhanced-security-configuration",
        ),
        (
            "deviceConfigurations",
            "Enterprise-Config-Win10-Device-Restrictions",
        ),
        (
            "deviceConfigurations",
            "PAW-Win10-Config-Endpoint-Protection",
        ),
        (
            "deviceCompliancePolicies",
            "level-1-fm-basic-security-compliance",
        ),
        (
            "deviceCompliancePolicies",
            "level-3-iOS_iPadOS-high-security-compliance",
        ),
        ("deviceCompliancePolicies", "PAW-Compliance-ATP"),
        ("configurationPolicies", "ACSC Edge Hardening"),
        ("configurationPolicies", "All Macros Disabled"),
        (
            "configurationPolicies",
            "ACSC Windows Hardening Guidelines.json",
        ),
        (
            "managedAppPolicies",
            "level-2-enterprise-enhanced-data-protection-iOS",
        ),
    ];
    let mut baseline: Vec<Policy> = Vec::new();
    let mut current: Vec<Policy> = Vec::new();
    let mut changed_ids = Vec::new();
    for (i, (policy_type, name)) in sources.iter().enumerate() {
        let payload = corpus(name);
        for variant in 0..2 {
            let id = format!("change-{i:02}-{variant}");
            baseline.push((policy_type.to_string(), id.clone(), payload.clone()));
            current.push((
                policy_type.to_string(),
                id.clone(),
                change_one_setting(&payload, variant * 3),
            ));
            changed_ids.push(id);
        }
        let id = format!("same-{i:02}");
        baseline.push((policy_type.to_string(), id.clone(), payload.clone()));
        current.push((policy_type.to_string(), id, touch_volatile(&payload)));
    }
    // A real drift sequence: version 1 of an app protection policy against version 12.
    let history = crate::corpus::fixtures()
        .join("_history/intune-config-frameworks/level-3-enterprise-high-data-protection-Android");
    baseline.push((
        "managedAppPolicies".into(),
        "history-android".into(),
        load(&history.join("01_2020-03-06_60dd5475cf23.json")),
    ));
    current.push((
        "managedAppPolicies".into(),
        "history-android".into(),
        load(&history.join("12_2021-10-05_e303727be71e.json")),
    ));
    changed_ids.push("history-android".into());
    // Byte-different, content-identical ADMX versions.
    let admx =
        crate::corpus::fixtures().join("_history/securedworkstation/PAW-Edge-Version-85-Computer");
    baseline.push((
        "groupPolicyConfigurations".into(),
        "admx".into(),
        load(&admx.join("01_2020-12-16_aa80b0554561.json")),
    ));
    current.push((
        "groupPolicyConfigurations".into(),
        "admx".into(),
        load(&admx.join("02_2021-10-27_251d1d9f6377.json")),
    ));
    assert!(changed_ids.len() >= 20);

    s.sync(&s.source, &baseline, &[]).await;
    s.versions(&s.source, &baseline).await;
    let capture = s.capture().await;
    assert_eq!(capture["outcome"], "SUCCEEDED", "{capture}");
    assert_eq!(capture["baselineCapture"]["subjectsTotal"], baseline.len());
    assert_eq!(
        capture["baselineCapture"]["resolvedContent"],
        baseline.len()
    );

    // The target's content is captured after the baseline: content fidelity.
    s.sync(&s.target, &current, &[]).await;
    s.versions(&s.target, &current).await;
    let compare = s.compare().await;
    assert_eq!(compare["outcome"], "SUCCEEDED", "{compare}");
    let report = &compare["baselineCompare"];
    assert_eq!(report["coverage"]["subjectsTotal"], current.len());
    assert_eq!(report["coverage"]["resolvedContent"], current.len());
    assert_eq!(
        report["evidenceGaps"],
        json!({"missingBaseline": 0, "missingCurrent": 0, "missingBoth": 0})
    );

    let findings = s.findings(json!({})).await;
    let found: std::collections::BTreeSet<String> = findings
        .iter()
        .map(|f| {
            f["subject"]["externalId"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    let expected: std::collections::BTreeSet<String> = changed_ids.iter().cloned().collect();
    let hits = expected.intersection(&found).count();
    let false_positives: Vec<&String> = found.difference(&expected).collect();
    assert_eq!(
        hits,
        expected.len(),
        "found {hits} of {} settings changes",
        expected.len()
    );
    assert!(
        false_positives.is_empty(),
        "findings without a settings change: {false_positives:?}"
    );
    for f in &findings {
        assert_eq!(f["findingType"], "DIFFERENT_VERSION");
        assert_eq!(f["changeType"], "UPDATED");
        assert_eq!(f["fidelity"], "CONTENT");
        assert_eq!(f["severity"], "MEDIUM");
        assert_eq!(f["baseline"]["provenance"]["source"], "POLICY_VERSION");
        assert_eq!(f["current"]["provenance"]["source"], "POLICY_VERSION");
        assert_ne!(f["baseline"]["hash"], f["current"]["hash"]);
        assert_eq!(
            f["scopeKey"]
                .as_str()
                .map(|k| k.starts_with("baseline_profile:")),
            Some(true)
        );
    }
}

/// A content baseline against a tenant with only meta evidence: compared on
/// meta hashes, never content against meta, with both provenances.
#[tokio::test]
async fn mixed_fidelity_compares_meta_with_meta() {
    let s = Scenario::new(TestApp::spawn().await, json!({})).await;
    let a = corpus("level-1-fm-basic-security-compliance");
    let b = corpus("level-2-fm-enhanced-security-compliance");
    let baseline: Vec<Policy> = vec![
        (
            "deviceCompliancePolicies".into(),
            "same-meta".into(),
            a.clone(),
        ),
        (
            "deviceCompliancePolicies".into(),
            "other-meta".into(),
            a.clone(),
        ),
    ];
    s.sync(&s.source, &baseline, &[]).await;
    s.versions(&s.source, &baseline).await;
    s.capture().await;
    // The target only has inventory: one item's meta matches, one differs.
    let current: Vec<Policy> = vec![
        (
            "deviceCompliancePolicies".into(),
            "same-meta".into(),
            a.clone(),
        ),
        (
            "deviceCompliancePolicies".into(),
            "other-meta".into(),
            b.clone(),
        ),
    ];
    s.sync(&s.target, &current, &[]).await;
    let compare = s.compare().await;
    assert_eq!(compare["baselineCompare"]["coverage"]["resolvedMeta"], 2);
    assert_eq!(compare["baselineCompare"]["coverage"]["resolvedContent"], 0);
    let findings = s.findings(json!({})).await;
    assert_eq!(findings.len(), 1, "{findings:?}");
    let f = &findings[0];
    assert_eq!(f["subject"]["externalId"], "other-meta");
    assert_eq!(f["fidelity"], "META");
    assert_eq!(f["baseline"]["provenance"]["fidelity"], "META");
    assert_eq!(f["baseline"]["provenance"]["source"], "INVENTORY");
    assert_eq!(f["current"]["provenance"]["fidelity"], "META");
    assert!(f["baseline"]["provenance"]["observedOperationRunId"].is_string());
    assert!(f["current"]["provenance"]["observedOperationRunId"].is_string());
    assert_eq!(s.findings(json!({"fidelity": "CONTENT"})).await.len(), 0);
    assert_eq!(s.findings(json!({"fidelity": "META"})).await.len(), 1);
}

/// Missing and unexpected policies, a failed sync that leaves a type
/// uncovered, and the lifecycle: seen twice, resolved when fixed, reopened.
#[tokio::test]
async fn coverage_and_lifecycle() {
    let s = Scenario::new(
        TestApp::spawn().await,
        json!({"scope": {"policyTypes": ["deviceConfigurations", "deviceCompliancePolicies"]}}),
    )
    .await;
    let config = corpus("level-1-iOS_iPadOS-personal-basic");
    let compliance = corpus("level-1-fm-basic-security-compliance");
    let baseline: Vec<Policy> = vec![
        ("deviceConfigurations".into(), "cfg".into(), config.clone()),
        (
            "deviceConfigurations".into(),
            "cfg-gone".into(),
            config.clone(),
        ),
        (
            "deviceCompliancePolicies".into(),
            "cmp".into(),
            compliance.clone(),
        ),
    ];
    s.sync(&s.source, &baseline, &[]).await;
    s.versions(&s.source, &baseline).await;
    s.capture().await;

    let drifted: Vec<Policy> = vec![
        (
            "deviceConfigurations".into(),
            "cfg".into(),
            change_one_setting(&config, 0),
        ),
        (
            "deviceConfigurations".into(),
            "cfg-new".into(),
            config.clone(),
        ),
        (
            "deviceCompliancePolicies".into(),
            "cmp".into(),
            change_one_setting(&compliance, 0),
        ),
    ];
    s.sync(&s.target, &drifted, &[]).await;
    s.versions(&s.target, &drifted).await;
    s.compare().await;
    let kinds = |findings: &[Value]| -> Vec<(String, String, String, i64)> {
        let mut v: Vec<_> = findings
            .iter()
            .map(|f| {
                (
                    f["subject"]["subjectKey"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    f["findingType"].as_str().unwrap_or_default().to_owned(),
                    f["status"].as_str().unwrap_or_default().to_owned(),
                    f["timesSeen"].as_i64().unwrap_or_default(),
                )
            })
            .collect();
        v.sort();
        v
    };
    let first = kinds(&s.findings(json!({})).await);
    assert_eq!(
        first,
        vec![
            ("cfg".into(), "DIFFERENT_VERSION".into(), "OPEN".into(), 1),
            ("cfg-gone".into(), "MISSING_POLICY".into(), "OPEN".into(), 1),
            (
                "cfg-new".into(),
                "UNEXPECTED_POLICY".into(),
                "OPEN".into(),
                1
            ),
            ("cmp".into(), "DIFFERENT_VERSION".into(), "OPEN".into(), 1),
        ]
    );
    let severities: Vec<String> = s
        .findings(json!({}))
        .await
        .iter()
        .map(|f| format!("{}:{}", f["findingType"], f["severity"]))
        .collect();
    assert!(severities.contains(&"\"MISSING_POLICY\":\"HIGH\"".to_owned()));
    assert!(severities.contains(&"\"UNEXPECTED_POLICY\":\"LOW\"".to_owned()));

    // Seen again: times_seen 2.
    s.compare().await;
    assert!(kinds(&s.findings(json!({})).await).iter().all(|k| k.3 == 2));

    // The compliance sync fails: that type is uncovered, its finding untouched,
    // even though the drift was fixed in the meantime.
    let fixed_compliance: Vec<Policy> = vec![(
        "deviceCompliancePolicies".into(),
        "cmp".into(),
        compliance.clone(),
    )];
    s.versions(&s.target, &fixed_compliance).await;
    let configs_only: Vec<Policy> = drifted
        .iter()
        .filter(|p| p.0 == "deviceConfigurations")
        .cloned()
        .collect();
    s.sync(&s.target, &configs_only, &["deviceCompliancePolicies"])
        .await;
    let compare = s.compare().await;
    assert_eq!(compare["outcome"], "PARTIALLY_SUCCEEDED");
    let types = compare["baselineCompare"]["policyTypes"]
        .as_array()
        .expect("types");
    let cmp_type = types
        .iter()
        .find(|t| t["policyType"] == "deviceCompliancePolicies")
        .expect("listed");
    assert_eq!(cmp_type["coverage"], "uncovered");
    let cfg_type = types
        .iter()
        .find(|t| t["policyType"] == "deviceConfigurations")
        .expect("listed");
    assert_eq!(cfg_type["coverage"], "content");
    let after = kinds(&s.findings(json!({})).await);
    assert!(
        after.contains(&("cmp".into(), "DIFFERENT_VERSION".into(), "OPEN".into(), 2)),
        "{after:?}"
    );
    assert!(
        after.contains(&("cfg".into(), "DIFFERENT_VERSION".into(), "OPEN".into(), 3)),
        "{after:?}"
    );

    // Fix the configuration drift: resolved automatically.
    let fixed: Vec<Policy> = vec![
        ("deviceConfigurations".into(), "cfg".into(), config.clone()),
        (
            "deviceConfigurations".into(),
            "cfg-gone".into(),
            config.clone(),
        ),
        (
            "deviceCompliancePolicies".into(),
            "cmp".into(),
            compliance.clone(),
        ),
    ];
    s.sync(&s.target, &fixed, &[]).await;
    s.versions(&s.target, &fixed).await;
    let compare = s.compare().await;
    assert_eq!(compare["summaryCounts"]["findings_resolved"], 4);
    let resolved = s.findings(json!({"status": ["RESOLVED"]})).await;
    assert_eq!(resolved.len(), 4);
    assert!(resolved.iter().all(|f| f["resolvedAt"].is_string()));
    assert_eq!(s.findings(json!({"status": ["OPEN"]})).await.len(), 0);

    // Break it again: the same finding reopens.
    s.versions(&s.target, &drifted[..1]).await;
    s.compare().await;
    let open = s.findings(json!({"status": ["OPEN"]})).await;
    assert_eq!(open.len(), 1);
    assert_eq!(open[0]["subject"]["subjectKey"], "cfg");
    assert_eq!(open[0]["timesSeen"], 4);
    assert!(open[0]["resolvedAt"].is_null());
}

/// Two concurrent starts of the same compare return one run; a compare
/// without a snapshot fails with a reason; an unassigned tenant is refused.
#[tokio::test]
async fn starting_twice_returns_the_active_run() {
    let app = TestApp::spawn_with(|c| c.workers.count = 0).await;
    let s = Scenario::new(app, json!({})).await;
    let (a, b) = tokio::join!(s.start_compare(), s.start_compare());
    assert_eq!(a["id"], b["id"]);
    assert_eq!(a["status"], "QUEUED");
    let again = s.start_compare().await;
    assert_eq!(again["id"], a["id"]);

    let body = s
        .app
        .gql(
            Some(&s.token),
            "mutation($p: ID!, $t: ID!) { startBaselineCompare(input: {baselineProfileId: $p, tenantId: $t}) { id } }",
            json!({"p": s.profile, "t": s.source}),
        )
        .await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
}

#[tokio::test]
async fn compare_without_snapshot_fails_with_a_reason() {
    let s = Scenario::new(TestApp::spawn().await, json!({})).await;
    let done = s.compare().await;
    assert_eq!(done["outcome"], "FAILED");
    assert_eq!(
        done["failureSummary"]["reason_code"],
        "no_baseline_snapshot"
    );
}

/// FULL_CONTENT lists what lacks content; META_ONLY stores meta only;
/// DISPLAY_NAME matches across tenants whose ids differ.
#[tokio::test]
async fn capture_modes_and_display_name_matching() {
    let s = Scenario::new(
        TestApp::spawn().await,
        json!({"captureMode": "FULL_CONTENT", "subjectMatch": "DISPLAY_NAME"}),
    )
    .await;
    let a = corpus("level-1-fm-basic-security-compliance");
    let b = corpus("level-2-fm-enhanced-security-compliance");
    let baseline: Vec<Policy> = vec![
        ("deviceCompliancePolicies".into(), "src-a".into(), a.clone()),
        ("deviceCompliancePolicies".into(), "src-b".into(), b.clone()),
    ];
    s.sync(&s.source, &baseline, &[]).await;
    s.versions(&s.source, &baseline[..1]).await;
    let capture = s.capture().await;
    assert_eq!(capture["outcome"], "PARTIALLY_SUCCEEDED");
    assert_eq!(capture["baselineCapture"]["missingContentTotal"], 1);
    assert_eq!(
        capture["baselineCapture"]["missingContent"][0]["externalId"],
        "src-b"
    );

    // Other ids in the target, same names: matched by name; one changed.
    let current: Vec<Policy> = vec![
        (
            "deviceCompliancePolicies".into(),
            "tgt-1".into(),
            change_one_setting(&a, 0),
        ),
        ("deviceCompliancePolicies".into(), "tgt-2".into(), b.clone()),
    ];
    s.sync(&s.target, &current, &[]).await;
    s.versions(&s.target, &current).await;
    s.compare().await;
    let findings = s.findings(json!({})).await;
    let summary: Vec<(String, String)> = findings
        .iter()
        .map(|f| {
            (
                f["subject"]["externalId"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                f["findingType"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![("tgt-1".to_owned(), "DIFFERENT_VERSION".to_owned())],
        "{findings:?}"
    );

    // A policy gone from the target: matched by name, it has no id to
    // show, and its key and the baseline's display name name it.
    s.sync(&s.target, &current[..1], &[]).await;
    s.compare().await;
    let findings = s.findings(json!({"status": ["OPEN"]})).await;
    let missing = findings
        .iter()
        .find(|f| f["findingType"] == "MISSING_POLICY")
        .unwrap_or_else(|| panic!("a missing finding: {findings:?}"));
    let name = b["displayName"].as_str().expect("a name").trim();
    assert_eq!(missing["subject"]["externalId"], Value::Null);
    assert_eq!(missing["subject"]["displayName"], name);
    assert!(
        missing["subject"]["subjectKey"]
            .as_str()
            .is_some_and(|k| k.ends_with(&format!("|{name}"))),
        "{missing}"
    );

    // META_ONLY: the snapshot holds meta hashes only.
    s.app
        .gql_ok(
            &s.token,
            "mutation($p: ID!) { updateBaselineProfile(input: {id: $p, captureMode: META_ONLY}) { captureMode } }",
            json!({"p": s.profile}),
        )
        .await;
    let capture = s.capture().await;
    assert_eq!(capture["baselineCapture"]["resolvedContent"], 0);
    assert_eq!(capture["baselineCapture"]["resolvedMeta"], 2);
}

/// A sync that says SUCCEEDED for `policy_type` with exactly `policies`
/// (possibly none), and `confirmEmpty` as given.
async fn sync_listing(
    s: &Scenario,
    tenant: &str,
    policy_type: &str,
    policies: &[Policy],
    confirm_empty: bool,
) -> Value {
    let input = json!({
        "tenantId": tenant,
        "policyTypes": [{"policyType": policy_type, "status": "SUCCEEDED", "itemCount": policies.len(), "confirmEmpty": confirm_empty}],
        "items": policies.iter().map(|(t, id, payload)| json!({
            "policyType": t,
            "externalId": id,
            "displayName": payload["displayName"].as_str().unwrap_or(id),
            "meta": {"@odata.type": payload.get("@odata.type"), "displayName": payload.get("displayName")},
        })).collect::<Vec<_>>(),
    });
    s.app
        .gql_ok(
            &s.token,
            "mutation($i: RecordInventorySyncInput!) { recordInventorySync(input: $i) {
                id outcome summaryCounts inventoryCoverage { policyType status itemCount }
                warnings { policyType code reason } } }",
            json!({"i": input}),
        )
        .await["recordInventorySync"]
        .clone()
}

/// A collection failure is not a mass deletion: a type that lists nothing
/// after listing 40, or far fewer, stays uncovered with a warning until a
/// second sync confirms it (or the collector sends confirmEmpty); then the
/// missing findings come.
#[tokio::test]
async fn an_empty_or_shrunk_listing_waits_for_a_second_sync() {
    let s = Scenario::new(TestApp::spawn().await, json!({})).await;
    let t = "deviceConfigurations";
    let payload = corpus("level-1-fm-basic-security-configuration");
    let forty: Vec<Policy> = (0..40)
        .map(|i| {
            let mut p = payload.clone();
            p["displayName"] = json!(format!("Config {i:02}"));
            (t.to_owned(), format!("cfg-{i:02}"), p)
        })
        .collect();
    s.sync(&s.source, &forty, &[]).await;
    s.versions(&s.source, &forty).await;
    s.capture().await;
    s.sync(&s.target, &forty, &[]).await;
    s.versions(&s.target, &forty).await;
    let done = s.compare().await;
    assert_eq!(done["summaryCounts"]["findings_total"], 0, "{done}");

    let missing = |findings: &[Value]| {
        findings
            .iter()
            .filter(|f| f["findingType"] == "MISSING_POLICY")
            .count()
    };
    // The collector lost the listing: recorded, but not believed.
    let empty = sync_listing(&s, &s.target, t, &[], false).await;
    assert_eq!(empty["outcome"], "SUCCEEDED", "{empty}");
    assert_eq!(empty["inventoryCoverage"][0]["status"], "unconfirmed");
    assert_eq!(empty["summaryCounts"]["items_removed"], 0);
    assert_eq!(empty["warnings"][0]["code"], "empty_listing_unconfirmed");
    let done = s.compare().await;
    assert_eq!(done["outcome"], "PARTIALLY_SUCCEEDED", "{done}");
    let compared = &done["baselineCompare"];
    assert_eq!(
        compared["policyTypes"][0]["coverage"], "uncovered",
        "{compared}"
    );
    let warning = compared["warnings"]
        .as_array()
        .expect("warnings")
        .iter()
        .find(|w| w["code"] == "empty_listing_unconfirmed")
        .unwrap_or_else(|| panic!("a warning: {compared}"));
    assert_eq!(warning["policyType"], t);
    assert_eq!(missing(&s.findings(json!({"status": ["OPEN"]})).await), 0);
    // Verification says so, and what to do.
    let run = s
        .app
        .gql_ok(
            &s.token,
            "mutation($t: ID!) { startVerification(input: {tenantId: $t}) { id } }",
            json!({"t": s.target}),
        )
        .await["startVerification"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    s.wait(&run).await;
    let report = s
        .app
        .gql_ok(
            &s.token,
            "query($id: ID!) { operationRun(id: $id) { verificationReport { checks { key message nextSteps } } } }",
            json!({"id": run}),
        )
        .await;
    let coverage_check = report["operationRun"]["verificationReport"]["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| {
            c["key"]
                .as_str()
                .is_some_and(|k| k.starts_with("coverage."))
        })
        .expect("a coverage check")
        .clone();
    assert!(
        coverage_check["message"]
            .as_str()
            .is_some_and(|m| m.contains("unconfirmed: 1")),
        "{coverage_check}"
    );
    assert!(
        coverage_check["nextSteps"]
            .to_string()
            .contains("confirmEmpty"),
        "{coverage_check}"
    );

    // A second empty listing confirms it: 40 policies are missing.
    let confirmed = sync_listing(&s, &s.target, t, &[], false).await;
    assert_eq!(
        confirmed["inventoryCoverage"][0]["status"], "succeeded",
        "{confirmed}"
    );
    assert_eq!(confirmed["summaryCounts"]["items_removed"], 40);
    s.compare().await;
    let findings = s.findings(json!({"status": ["OPEN"]})).await;
    assert_eq!(missing(&findings), 40);
    assert!(findings.iter().all(|f| {
        f["subject"]["externalId"]
            .as_str()
            .is_some_and(|id| id.starts_with("cfg-"))
    }));

    // Back to 40, then a drop to 15 (over half) waits too; the 15 listed
    // are kept current, the 25 others untouched.
    sync_listing(&s, &s.target, t, &forty, false).await;
    s.compare().await;
    assert_eq!(missing(&s.findings(json!({"status": ["OPEN"]})).await), 0);
    let dropped = sync_listing(&s, &s.target, t, &forty[..15], false).await;
    assert_eq!(
        dropped["inventoryCoverage"][0]["status"], "unconfirmed",
        "{dropped}"
    );
    assert_eq!(dropped["warnings"][0]["code"], "listing_drop_unconfirmed");
    assert_eq!(dropped["summaryCounts"]["items_removed"], 0);
    s.compare().await;
    assert_eq!(missing(&s.findings(json!({"status": ["OPEN"]})).await), 0);
    // A drop of half or less is believed at once.
    sync_listing(&s, &s.target, t, &forty, false).await;
    let halved = sync_listing(&s, &s.target, t, &forty[..20], false).await;
    assert_eq!(
        halved["inventoryCoverage"][0]["status"], "succeeded",
        "{halved}"
    );
    assert_eq!(halved["summaryCounts"]["items_removed"], 20);

    // confirmEmpty: the collector vouches for the empty listing.
    sync_listing(&s, &s.target, t, &forty, false).await;
    let vouched = sync_listing(&s, &s.target, t, &[], true).await;
    assert_eq!(
        vouched["inventoryCoverage"][0]["status"], "succeeded",
        "{vouched}"
    );
    assert_eq!(vouched["summaryCounts"]["items_removed"], 40);
    s.compare().await;
    assert_eq!(missing(&s.findings(json!({"status": ["OPEN"]})).await), 40);
}

/// An upgrade whose evidence rules changed re-derives the stored hashes
/// once, so a baseline captured under the old rules does not turn every
/// policy into drift: the database is made to look like one from before
/// (rules version 1, other hashes stored), and migrating restores the
/// hashes the current rules give, and the compare stays clean.
#[tokio::test]
async fn an_upgrade_re_derives_stored_hashes_under_the_current_rules() {
    use drift_engine::evidence::{meta, normalize::normalize, rehash};
    use entity::{baseline_snapshot_item, evidence_blob, inventory_item, policy_version};
    use sea_orm::{ActiveModelTrait, ColumnTrait, QueryFilter, Set};

    let s = Scenario::new(TestApp::spawn().await, json!({})).await;
    let t = "configurationPolicies";
    // As a Graph GET writes it: declared types everywhere, and a null
    // member a later release added.
    let mut graph_get = corpus("All Macros Disabled");
    graph_get["@odata.type"] = json!("#microsoft.graph.deviceManagementConfigurationPolicy");
    graph_get["settings"][0]["settingInstance"]["auditRuleInformation"] = Value::Null;
    let policy: Vec<Policy> = vec![(t.to_owned(), "macros".to_owned(), graph_get.clone())];
    s.sync(&s.source, &policy, &[]).await;
    s.versions(&s.source, &policy).await;
    s.capture().await;
    s.sync(&s.target, &policy, &[]).await;
    s.versions(&s.target, &policy).await;
    assert_eq!(s.compare().await["summaryCounts"]["findings_total"], 0);

    // A database from before: version 1, and every hash another one.
    let db = &s.app.db;
    let old = |c: char| std::iter::repeat_n(c, 64).collect::<String>();
    evidence_blob::ActiveModel {
        hash: Set(old('a')),
        content: Set(graph_get.clone()),
        byte_size: Set(1),
        created_at: Set(chrono::Utc::now()),
    }
    .insert(db)
    .await
    .expect("old blob");
    baseline_snapshot_item::Entity::update_many()
        .col_expr(
            baseline_snapshot_item::Column::BaselineHash,
            sea_orm::sea_query::Expr::value(old('a')),
        )
        .exec(db)
        .await
        .expect("old item hashes");
    policy_version::Entity::update_many()
        .col_expr(
            policy_version::Column::ContentHash,
            sea_orm::sea_query::Expr::value(old('b')),
        )
        .exec(db)
        .await
        .expect("old version hashes");
    inventory_item::Entity::update_many()
        .col_expr(
            inventory_item::Column::MetaHash,
            sea_orm::sea_query::Expr::value(old('c')),
        )
        .exec(db)
        .await
        .expect("old meta hashes");
    rehash::write_version_as(db, 1).await.expect("version 1");

    drift_engine::db::migrate(db).await.expect("migrate");
    assert_eq!(
        rehash::stored_version(db).await.expect("version"),
        rehash::RULES_VERSION
    );
    let expected = normalize(t, &graph_get).expect("normalizes").hash;
    let items = baseline_snapshot_item::Entity::find()
        .all(db)
        .await
        .expect("items");
    assert!(!items.is_empty());
    assert!(
        items
            .iter()
            .all(|i| i.baseline_hash.as_deref() == Some(expected.as_str())),
        "{items:?}"
    );
    let versions = policy_version::Entity::find()
        .all(db)
        .await
        .expect("versions");
    assert!(
        versions
            .iter()
            .all(|v| v.content_hash.as_deref() == Some(expected.as_str()))
    );
    let inventory = inventory_item::Entity::find()
        .filter(inventory_item::Column::PolicyType.eq(t))
        .all(db)
        .await
        .expect("inventory");
    assert!(
        inventory
            .iter()
            .all(|i| i.meta_hash == meta::meta_hash(t, &i.meta_jsonb))
    );
    assert!(
        inventory
            .iter()
            .all(|i| i.meta_hash.as_deref() != Some(old('c').as_str()))
    );
    assert_eq!(s.compare().await["summaryCounts"]["findings_total"], 0);

    // Once current, migrating again re-derives nothing.
    assert_eq!(rehash::upgrade(db).await.expect("upgrade"), None);
}
