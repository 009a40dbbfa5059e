//! The collector against the Graph-compatible test server: the same items,
//! hashes and findings as importing the same files; failures that leave a
//! type FAILED and its findings as they were; throttling, budgets, expired
//! tokens, broken answers; a run taken over mid-listing; and FULL_CONTENT
//! captures that fetch only what is stale.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use async_graphql::ID;
use drift_engine::graphql::ids::{self, NodeKind};
use drift_engine::runs::worker::Hold;
use entity::enums::{RunOutcome, RunStatus};
use entity::{audit_log, inventory_item, operation_run, policy_version, tenant_connection};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};

use crate::common::{TestApp, error_code};
use crate::connections::{CERTIFICATE, PRIVATE_KEY, test_key};
use crate::graph_server::{self, Accepts, CLIENT_ID, CLIENT_SECRET, DIRECTORY, GraphServer};

/// The corpus types the test server serves.
const TYPES: &[&str] = &[
    "configurationPolicies",
    "deviceCompliancePolicies",
    "deviceConfigurations",
    "deviceManagementIntents",
    "groupPolicyConfigurations",
    "managedAppPolicies",
];

struct Setup {
    app: TestApp,
    graph: GraphServer,
    token: String,
    workspace: String,
    tenant: String,
}

fn fast(c: &mut drift_engine::Config, graph: &GraphServer) {
    c.secret_key = Some(test_key());
    c.graph.graph_url = graph.url.clone();
    c.graph.login_url = graph.url.clone();
    c.graph.backoff_base = Duration::from_millis(10);
    c.graph.backoff_cap = Duration::from_millis(40);
    c.graph.max_retries = 3;
    c.workers.poll_interval = Duration::from_millis(50);
}

async fn setup_with(
    accepts: Accepts,
    page_size: usize,
    configure: impl FnOnce(&mut drift_engine::Config),
) -> Setup {
    setup_serving(
        &graph_server::corpus_tenant(),
        accepts,
        page_size,
        configure,
    )
    .await
}

async fn setup_serving(
    data: &BTreeMap<String, Vec<Value>>,
    accepts: Accepts,
    page_size: usize,
    configure: impl FnOnce(&mut drift_engine::Config),
) -> Setup {
    let graph = GraphServer::start(data, accepts.clone(), page_size).await;
    let app = TestApp::spawn_with(|c| {
        fast(c, &graph);
        configure(c);
    })
    .await;
    let (_, token) = app.user("collector@example.com").await;
    let (workspace, tenant) = app.workspace_with_tenant(&token).await;
    let credential = match accepts {
        Accepts::Secret(_) => json!({"clientSecret": CLIENT_SECRET}),
        Accepts::Certificate(_) => {
            json!({"certificate": {"privateKeyPem": PRIVATE_KEY, "certificatePem": CERTIFICATE}})
        }
    };
    let mut input =
        json!({"tenantId": tenant, "directoryTenantId": DIRECTORY, "clientId": CLIENT_ID});
    for (k, v) in credential.as_object().expect("object") {
        input[k] = v.clone();
    }
    app.gql_ok(
        &token,
        "mutation($i: SetTenantConnectionInput!) { setTenantConnection(input: $i) { id } }",
        json!({"i": input}),
    )
    .await;
    Setup {
        app,
        graph,
        token,
        workspace,
        tenant,
    }
}

async fn setup(page_size: usize) -> Setup {
    setup_with(Accepts::Secret(CLIENT_SECRET.into()), page_size, |_| {}).await
}

fn num(id: &str, kind: NodeKind) -> i64 {
    ids::decode_as(&ID(id.to_owned()), kind).expect("a global id")
}

pub async fn wait_run(db: &DatabaseConnection, id: i64) -> operation_run::Model {
    for _ in 0..1200 {
        let run = operation_run::Entity::find_by_id(id)
            .one(db)
            .await
            .expect("read")
            .expect("the run");
        if run.status == RunStatus::Completed {
            return run;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("run {id} did not complete in 60 s");
}

impl Setup {
    async fn start(&self, mutation: &str, input: Value) -> operation_run::Model {
        let query = format!(
            "mutation($i: {}Input!) {{ {mutation}(input: $i) {{ id type status }} }}",
            upper_first(mutation)
        );
        let data = self
            .app
            .gql_ok(&self.token, &query, json!({"i": input}))
            .await;
        let id = data[mutation]["id"].as_str().expect("a run id");
        wait_run(&self.app.db, num(id, NodeKind::OperationRun)).await
    }

    async fn sync(&self, tenant: &str, types: &[&str]) -> operation_run::Model {
        self.start(
            "startInventorySync",
            json!({"tenantId": tenant, "policyTypes": types}),
        )
        .await
    }

    async fn capture(&self, tenant: &str, types: &[&str]) -> operation_run::Model {
        self.start(
            "startPolicyCapture",
            json!({"tenantId": tenant, "policyTypes": types}),
        )
        .await
    }

    /// The id a mutation returns as `field { id }`.
    async fn id_of(&self, field: &str, query: &str, vars: Value) -> String {
        self.app.gql_ok(&self.token, query, vars).await[field]["id"]
            .as_str()
            .expect("id")
            .to_owned()
    }

    /// A profile of the workspace; `input` adds to its name and workspace.
    async fn profile(&self, mut input: Value) -> String {
        input["workspaceId"] = json!(self.workspace);
        input["name"] = json!("Gold");
        self.id_of(
            "createBaselineProfile",
            "mutation($i: CreateBaselineProfileInput!) { createBaselineProfile(input: $i) { id } }",
            json!({"i": input}),
        )
        .await
    }

    async fn baseline(&self, profile: &str, source: &str) -> operation_run::Model {
        let id = self
            .id_of(
                "startBaselineCapture",
                "mutation($p: ID!, $t: ID!) { startBaselineCapture(input: {baselineProfileId: $p, sourceTenantId: $t}) { id } }",
                json!({"p": profile, "t": source}),
            )
            .await;
        wait_run(&self.app.db, num(&id, NodeKind::OperationRun)).await
    }

    /// Assigns the profile to the tenant and compares it.
    async fn compare(&self, profile: &str, tenant: &str) -> operation_run::Model {
        self.app
            .gql_ok(
                &self.token,
                "mutation($p: ID!, $t: ID!) { assignBaselineProfile(input: {baselineProfileId: $p, tenantId: $t}) { id } }",
                json!({"p": profile, "t": tenant}),
            )
            .await;
        let id = self
            .id_of(
                "startBaselineCompare",
                "mutation($p: ID!, $t: ID!) { startBaselineCompare(input: {baselineProfileId: $p, tenantId: $t}) { id } }",
                json!({"p": profile, "t": tenant}),
            )
            .await;
        wait_run(&self.app.db, num(&id, NodeKind::OperationRun)).await
    }

    async fn new_tenant(&self, name: &str) -> String {
        self.app
            .gql_ok(
                &self.token,
                "mutation($ws: ID!, $n: String!) { createTenant(input: {workspaceId: $ws, name: $n}) { id } }",
                json!({"ws": self.workspace, "n": name}),
            )
            .await["createTenant"]["id"]
            .as_str()
            .expect("id")
            .to_owned()
    }

    async fn import(&self, tenant: &str, data: &BTreeMap<String, Vec<Value>>) {
        let dir = tempfile::tempdir().expect("tempdir");
        graph_server::write_exports(dir.path(), data);
        let report = drift_engine::import::import_dir(
            &self.app.db,
            num(tenant, NodeKind::Tenant),
            dir.path(),
            drift_engine::import::ImportOptions::default(),
        )
        .await
        .expect("import");
        assert!(report.skipped.is_empty(), "{:?}", report.skipped);
    }
}

fn upper_first(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

/// (type, id, name, meta hash) of the tenant's present items.
async fn items_of(
    db: &DatabaseConnection,
    tenant: &str,
) -> BTreeSet<(String, String, String, Option<String>)> {
    inventory_item::Entity::find()
        .filter(inventory_item::Column::TenantId.eq(num(tenant, NodeKind::Tenant)))
        .filter(inventory_item::Column::RemovedAt.is_null())
        .all(db)
        .await
        .expect("items")
        .into_iter()
        .map(|i| (i.policy_type, i.external_id, i.display_name, i.meta_hash))
        .collect()
}

/// The latest content hash of each subject.
async fn content_of(
    db: &DatabaseConnection,
    tenant: &str,
) -> BTreeMap<(String, String), Option<String>> {
    let mut out = BTreeMap::new();
    for v in policy_version::Entity::find()
        .filter(policy_version::Column::TenantId.eq(num(tenant, NodeKind::Tenant)))
        .order_by_asc(policy_version::Column::CapturedAt)
        .order_by_asc(policy_version::Column::Id)
        .all(db)
        .await
        .expect("versions")
    {
        out.insert((v.policy_type, v.external_id), v.content_hash);
    }
    out
}

const FINDINGS: &str = "query($t: ID!) { findings(tenantId: $t, first: 500) { totalCount edges { node {
    findingType fidelity status subject { policyType subjectKey } settingChanges { changes { path change } } } } } }";

async fn findings_of(s: &Setup, tenant: &str) -> BTreeSet<String> {
    let data = s.app.gql_ok(&s.token, FINDINGS, json!({"t": tenant})).await;
    data["findings"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"].to_string())
        .collect()
}

#[tokio::test]
async fn a_collected_tenant_has_the_items_hashes_and_findings_of_its_imported_files() {
    let s = setup(4).await;
    let original = graph_server::corpus_tenant();

    let sync = s.sync(&s.tenant, TYPES).await;
    assert_eq!(
        sync.outcome,
        RunOutcome::Succeeded,
        "{:?} {}",
        sync.failure_summary,
        sync.context
    );
    let capture = s.capture(&s.tenant, TYPES).await;
    assert_eq!(
        capture.outcome,
        RunOutcome::Succeeded,
        "{:?} {}",
        capture.failure_summary,
        capture.context
    );
    let content = &capture.context["content_capture"];
    let total: usize = original.values().map(Vec::len).sum();
    assert_eq!(content["requested"], total);
    assert_eq!(content["captured"], total);
    // Content came in batches of at most 20, not one GET per subject.
    let batches = s
        .graph
        .log()
        .iter()
        .filter(|l| l.starts_with("BATCH"))
        .count();
    assert_eq!(batches, total.div_ceil(20), "{:?}", s.graph.log());

    let imported = s.new_tenant("Imported").await;
    s.import(&imported, &original).await;
    let collected_items = items_of(&s.app.db, &s.tenant).await;
    assert_eq!(collected_items.len(), total);
    assert_eq!(collected_items, items_of(&s.app.db, &imported).await);
    let collected_content = content_of(&s.app.db, &s.tenant).await;
    assert!(
        collected_content.values().all(Option::is_some),
        "{collected_content:?}"
    );
    assert_eq!(collected_content, content_of(&s.app.db, &imported).await);

    // Drift in the tenant: one setting changed, one policy deleted. The
    // collected tenant and an import of the same files get the same
    // findings against a baseline of the original.
    let profile = s.profile(json!({"captureMode": "OPPORTUNISTIC"})).await;
    let done = s.baseline(&profile, &imported).await;
    assert_eq!(done.outcome, RunOutcome::Succeeded, "{}", done.context);

    let changed_id = original["deviceConfigurations"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let removed_id = original["deviceCompliancePolicies"][1]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    s.graph.edit("deviceConfigurations", &changed_id, |item| {
        item["description"] = json!("changed in the portal at 2 a.m.");
    });
    s.graph.remove("deviceCompliancePolicies", &removed_id);
    let mut drifted = original.clone();
    for item in drifted.get_mut("deviceConfigurations").expect("type") {
        if item["id"] == changed_id.as_str() {
            item["description"] = json!("changed in the portal at 2 a.m.");
        }
    }
    drifted
        .get_mut("deviceCompliancePolicies")
        .expect("type")
        .retain(|i| i["id"] != removed_id.as_str());
    let sync = s.sync(&s.tenant, TYPES).await;
    assert_eq!(sync.outcome, RunOutcome::Succeeded, "{}", sync.context);
    let capture = s
        .start(
            "startPolicyCapture",
            json!({"tenantId": s.tenant, "policyTypes": TYPES, "onlyStaleSince": sync.created_at.to_rfc3339()}),
        )
        .await;
    assert_eq!(
        capture.outcome,
        RunOutcome::Succeeded,
        "{}",
        capture.context
    );
    assert_eq!(capture.context["content_capture"]["requested"], total - 1);
    let imported_drift = s.new_tenant("Imported drift").await;
    s.import(&imported_drift, &drifted).await;

    let mut findings = Vec::new();
    for tenant in [&s.tenant, &imported_drift] {
        let done = s.compare(&profile, tenant).await;
        assert_eq!(done.outcome, RunOutcome::Succeeded, "{}", done.context);
        findings.push(findings_of(&s, tenant).await);
    }
    assert_eq!(findings[0].len(), 2, "{:?}", findings[0]);
    assert!(
        findings[0]
            .iter()
            .any(|f| f.contains("DIFFERENT_VERSION") && f.contains("description")),
        "{:?}",
        findings[0]
    );
    assert!(
        findings[0].iter().any(|f| f.contains("MISSING_POLICY")),
        "{:?}",
        findings[0]
    );
    assert_eq!(findings[0], findings[1]);

    // The connection says when it last got a token; the secret is nowhere
    // but sealed.
    let connection = tenant_connection::Entity::find()
        .one(&s.app.db)
        .await
        .expect("read")
        .expect("row");
    assert!(connection.last_token_at.is_some());
    assert_eq!(connection.last_error, None);
    let runs = operation_run::Entity::find()
        .all(&s.app.db)
        .await
        .expect("runs");
    let audit = audit_log::Entity::find()
        .all(&s.app.db)
        .await
        .expect("audit");
    for text in runs
        .iter()
        .map(|r| format!("{r:?}"))
        .chain(audit.iter().map(|a| format!("{a:?}")))
    {
        assert!(
            !text.contains(CLIENT_SECRET) && !text.contains("test-token-"),
            "{text}"
        );
    }
    assert!(!connection.sealed_credential.contains(CLIENT_SECRET));
}

#[tokio::test]
async fn a_certificate_credential_signs_an_assertion_the_server_verifies() {
    let der = pem::parse(CERTIFICATE).expect("pem").into_contents();
    let s = setup_with(Accepts::Certificate(der), 50, |_| {}).await;
    let sync = s.sync(&s.tenant, &["configurationPolicies"]).await;
    assert_eq!(
        sync.outcome,
        RunOutcome::Succeeded,
        "{:?} {}",
        sync.failure_summary,
        sync.context
    );
    assert_eq!(
        s.graph
            .state
            .verified_assertions
            .load(std::sync::atomic::Ordering::SeqCst),
        1
    );

    // A wrong certificate is refused by the identity platform; the run
    // fails with its answer and the connection keeps the error.
    let other = GraphServer::start(
        &graph_server::corpus_tenant(),
        Accepts::Secret("other".into()),
        50,
    )
    .await;
    let app = TestApp::spawn_with(|c| fast(c, &other)).await;
    let (_, token) = app.user("c@example.com").await;
    let (_, tenant) = app.workspace_with_tenant(&token).await;
    app.gql_ok(
        &token,
        "mutation($i: SetTenantConnectionInput!) { setTenantConnection(input: $i) { id } }",
        json!({"i": {"tenantId": tenant, "directoryTenantId": DIRECTORY, "clientId": CLIENT_ID, "clientSecret": "wrong"}}),
    )
    .await;
    let data = app
        .gql_ok(
            &token,
            "mutation($t: ID!) { startInventorySync(input: {tenantId: $t, policyTypes: [\"configurationPolicies\"]}) { id } }",
            json!({"t": tenant}),
        )
        .await;
    let run = wait_run(
        &app.db,
        num(
            data["startInventorySync"]["id"].as_str().expect("id"),
            NodeKind::OperationRun,
        ),
    )
    .await;
    assert_eq!(run.outcome, RunOutcome::Failed);
    let coverage = &run.context["inventory_coverage"]["policy_types"]["configurationPolicies"];
    assert_eq!(coverage["status"], "failed");
    assert!(
        coverage["error"]
            .as_str()
            .expect("error")
            .contains("AADSTS7000215"),
        "{coverage}"
    );
    let data = app
        .gql_ok(
            &token,
            "query($t: ID!) { tenant(id: $t) { connection { lastTokenAt lastError } } }",
            json!({"t": tenant}),
        )
        .await;
    assert_eq!(data["tenant"]["connection"]["lastTokenAt"], Value::Null);
    assert!(
        data["tenant"]["connection"]["lastError"]
            .as_str()
            .expect("error")
            .contains("AADSTS7000215")
    );
}

#[tokio::test]
async fn a_listing_that_fails_midway_leaves_its_type_failed_and_its_items_untouched() {
    let s = setup(2).await;
    let first = s.sync(&s.tenant, TYPES).await;
    assert_eq!(first.outcome, RunOutcome::Succeeded);
    let before = items_of(&s.app.db, &s.tenant).await;

    // Graph loses a policy, and the second page of deviceConfigurations
    // answers 500 every time.
    let gone = graph_server::corpus_tenant()["deviceConfigurations"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    s.graph.remove("deviceConfigurations", &gone);
    s.graph.faults().fail_page = Some(("/deviceManagement/deviceConfigurations".into(), 1));
    let second = s.sync(&s.tenant, TYPES).await;
    assert_eq!(
        second.outcome,
        RunOutcome::PartiallySucceeded,
        "{}",
        second.context
    );
    let coverage = &second.context["inventory_coverage"]["policy_types"];
    assert_eq!(coverage["deviceConfigurations"]["status"], "failed");
    let error = coverage["deviceConfigurations"]["error"]
        .as_str()
        .expect("error");
    assert!(error.contains("500"), "{error}");
    assert_eq!(coverage["configurationPolicies"]["status"], "succeeded");
    // Nothing of the failed type was marked removed, the deleted one included.
    assert_eq!(items_of(&s.app.db, &s.tenant).await, before);
    // Retried before giving up: 1 + max_retries requests for that page.
    let failing = s
        .graph
        .log()
        .iter()
        .filter(|l| l.ends_with("deviceConfigurations?$skiptoken=2"))
        .count();
    assert_eq!(
        failing,
        1 + 1 + 3,
        "one in the first sync, then 1 + 3 retries"
    );
    // The staged pages are gone with the run's result.
    assert!(
        entity::collector_page::Entity::find()
            .all(&s.app.db)
            .await
            .expect("pages")
            .is_empty()
    );
}

#[tokio::test]
async fn throttling_is_retried_and_counted_in_the_run() {
    let s = setup(4).await;
    {
        let mut f = s.graph.faults();
        f.throttle_next = 2;
        f.retry_after_secs = 1;
    }
    let started = std::time::Instant::now();
    let sync = s
        .sync(&s.tenant, &["configurationPolicies", "managedAppPolicies"])
        .await;
    assert_eq!(sync.outcome, RunOutcome::Succeeded, "{}", sync.context);
    // Retry-After: 1 was honored twice.
    assert!(started.elapsed() >= Duration::from_secs(2));
    let graph = &sync.context["collection"]["graph"];
    assert_eq!(graph["throttled"], 2, "{graph}");
    assert_eq!(graph["retries"], 2, "{graph}");

    s.graph.faults().throttle_sub_responses = 3;
    s.graph.faults().retry_after_secs = 0;
    let capture = s
        .capture(&s.tenant, &["configurationPolicies", "managedAppPolicies"])
        .await;
    assert_eq!(
        capture.outcome,
        RunOutcome::Succeeded,
        "{}",
        capture.context
    );
    let content = &capture.context["content_capture"];
    assert_eq!(content["throttled"], 3, "{content}");
    assert_eq!(content["captured"], content["requested"]);
    assert_eq!(content["failed"], 0);
    assert!(
        content["graph"]["retries"].as_u64().expect("retries") >= 3,
        "{content}"
    );

    // The same through the API.
    let data = s
        .app
        .gql_ok(
            &s.token,
            "query($a: ID!, $b: ID!) {
               sync: operationRun(id: $a) { graphRequests { requests retries throttled } skippedPolicyTypes inventoryCoverage { policyType status } }
               capture: operationRun(id: $b) { contentCapture { requested captured skipped throttled failed fresh graph { retries } } } }",
            json!({
                "a": ids::encode(NodeKind::OperationRun, sync.id),
                "b": ids::encode(NodeKind::OperationRun, capture.id),
            }),
        )
        .await;
    assert_eq!(data["sync"]["graphRequests"]["throttled"], 2, "{data}");
    assert_eq!(data["sync"]["skippedPolicyTypes"], json!([]));
    assert_eq!(
        data["sync"]["inventoryCoverage"].as_array().map(Vec::len),
        Some(2)
    );
    let api = &data["capture"]["contentCapture"];
    assert_eq!(api["throttled"], 3, "{data}");
    assert_eq!(api["captured"], content["requested"]);
}

#[tokio::test]
async fn an_expired_token_is_refreshed_once() {
    let s = setup(50).await;
    let sync = s.sync(&s.tenant, &["configurationPolicies"]).await;
    assert_eq!(sync.outcome, RunOutcome::Succeeded);
    let tokens_before = s
        .graph
        .state
        .token_requests
        .load(std::sync::atomic::Ordering::SeqCst);
    s.graph.faults().expire_tokens = true;
    let capture = s.capture(&s.tenant, &["configurationPolicies"]).await;
    assert_eq!(
        capture.outcome,
        RunOutcome::Succeeded,
        "{}",
        capture.context
    );
    assert_eq!(
        s.graph
            .state
            .token_requests
            .load(std::sync::atomic::Ordering::SeqCst),
        tokens_before + 1,
        "one new token after the 401"
    );
}

#[tokio::test]
async fn a_budget_of_n_requests_makes_exactly_n_and_lists_the_rest_as_skipped() {
    let s = setup_with(Accepts::Secret(CLIENT_SECRET.into()), 2, |c| {
        c.graph.request_budget = Some(5)
    })
    .await;
    // configurationPolicies takes 3 pages; deviceCompliancePolicies 8.
    let sync = s.sync(&s.tenant, TYPES).await;
    assert_eq!(s.graph.requests(), 5, "{:?}", s.graph.log());
    assert_eq!(
        sync.outcome,
        RunOutcome::PartiallySucceeded,
        "{}",
        sync.context
    );
    let coverage = &sync.context["inventory_coverage"]["policy_types"];
    assert_eq!(coverage["configurationPolicies"]["status"], "succeeded");
    let skipped: Vec<&str> = sync.context["collection"]["skipped"]
        .as_array()
        .expect("skipped")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(skipped, &TYPES[1..]);
    for t in &TYPES[1..] {
        assert_eq!(coverage[*t]["status"], "failed");
        assert!(
            coverage[*t]["error"]
                .as_str()
                .expect("error")
                .contains("budget")
        );
    }

    // Content: a budget of 5 per run again; 6 subjects in one batch of 6.
    let capture = s.capture(&s.tenant, &["configurationPolicies"]).await;
    assert_eq!(capture.outcome, RunOutcome::Succeeded);
    assert_eq!(s.graph.requests(), 6);
}

#[tokio::test]
async fn content_budget_leaves_the_rest_skipped() {
    let s = setup_with(Accepts::Secret(CLIENT_SECRET.into()), 100, |c| {
        c.graph.request_budget = Some(2);
        c.graph.concurrency = 1;
    })
    .await;
    // Two listings (one page each) fit the budget of 2.
    let types = ["deviceCompliancePolicies", "deviceConfigurations"];
    let sync = s.sync(&s.tenant, &types).await;
    assert_eq!(sync.outcome, RunOutcome::Succeeded, "{}", sync.context);
    let before = s.graph.requests();
    // 43 subjects are three batches; the budget allows two.
    let capture = s.capture(&s.tenant, &types).await;
    assert_eq!(s.graph.requests() - before, 2, "{:?}", s.graph.log());
    assert_eq!(
        capture.outcome,
        RunOutcome::PartiallySucceeded,
        "{}",
        capture.context
    );
    let content = &capture.context["content_capture"];
    let total: u64 = 16 + 27;
    assert_eq!(content["requested"], total);
    assert_eq!(content["captured"], 40);
    assert_eq!(content["skipped"], total - 40);
    assert_eq!(content["skipped_by_reason"]["budget"], total - 40);
}

#[tokio::test]
async fn bad_answers_fail_their_type_or_skip_their_item_and_nothing_panics() {
    // Page size 2: groupPolicyConfigurations pages by relative links.
    let s = setup(2).await;
    {
        let mut f = s.graph.faults();
        f.html_for = Some("/deviceManagement/configurationPolicies".into());
        f.truncated_for = Some("/deviceManagement/deviceCompliancePolicies".into());
        f.foreign_next_link_for = Some("/deviceManagement/deviceConfigurations".into());
        f.huge_page_for = Some("/deviceManagement/intents".into());
        f.item_without_id_for = Some("/deviceAppManagement/managedAppPolicies".into());
        f.relative_next_link_for = Some("/deviceManagement/groupPolicyConfigurations".into());
    }
    let sync = s.sync(&s.tenant, TYPES).await;
    assert_eq!(
        sync.outcome,
        RunOutcome::PartiallySucceeded,
        "{}",
        sync.context
    );
    let coverage = &sync.context["inventory_coverage"]["policy_types"];
    let error = |t: &str| coverage[t]["error"].as_str().unwrap_or_default().to_owned();
    assert!(
        error("configurationPolicies").contains("HTML"),
        "{coverage}"
    );
    assert!(
        error("deviceCompliancePolicies").contains("not complete JSON"),
        "{coverage}"
    );
    assert!(
        error("deviceConfigurations").contains("another host"),
        "{coverage}"
    );
    assert!(
        error("deviceManagementIntents").contains("100000 items"),
        "{coverage}"
    );
    assert_eq!(coverage["groupPolicyConfigurations"]["status"], "succeeded");
    assert_eq!(coverage["groupPolicyConfigurations"]["item_count"], 3);
    assert_eq!(coverage["managedAppPolicies"]["status"], "succeeded");
    assert_eq!(coverage["managedAppPolicies"]["item_count"], 6);
    let warnings = sync.context["collection"]["warnings"].to_string();
    assert!(
        warnings.contains("item_skipped") && warnings.contains("no id"),
        "{warnings}"
    );
    // The foreign host was never asked: only our server's log has requests.
    assert!(s.graph.log().iter().all(|l| !l.contains("attacker")));
}

#[tokio::test]
async fn a_run_taken_over_mid_listing_resumes_from_its_checkpoint() {
    // Page size 2: configurationPolicies is 3 pages, deviceCompliancePolicies
    // 8. The first worker stalls before its 5th checkpoint: the first type
    // is done and one page of the second is kept.
    let hold = Hold::before_write(5);
    let held = hold.clone();
    let s = setup_with(Accepts::Secret(CLIENT_SECRET.into()), 2, move |c| {
        c.workers.hold = held;
        c.workers.count = 1;
        c.workers.heartbeat_timeout = Duration::from_millis(800);
    })
    .await;
    let data = s
        .app
        .gql_ok(
            &s.token,
            "mutation($t: ID!) { startInventorySync(input: {tenantId: $t, policyTypes: [\"configurationPolicies\", \"deviceCompliancePolicies\"]}) { id } }",
            json!({"t": s.tenant}),
        )
        .await;
    let run_id = num(
        data["startInventorySync"]["id"].as_str().expect("id"),
        NodeKind::OperationRun,
    );
    hold.reached().await;
    let before_takeover = s.graph.log().len();
    assert_eq!(before_takeover, 5, "{:?}", s.graph.log());

    // Another worker (as in another replica) takes the silent run over.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let mut config =
        drift_engine::Config::new(s.app.test_db.url.clone(), ([127, 0, 0, 1], 0).into());
    fast(&mut config, &s.graph);
    config.workers.heartbeat_timeout = Duration::from_millis(800);
    let settings = drift_engine::worker_settings(&config).expect("settings");
    let executed = drift_engine::runs::worker::drain(&s.app.db, &settings)
        .await
        .expect("drain");
    assert_eq!(executed, 1);
    let run = wait_run(&s.app.db, run_id).await;
    assert_eq!(run.outcome, RunOutcome::Succeeded, "{}", run.context);
    assert_eq!(run.attempts, 2);
    assert_eq!(run.context["collection"]["resumed"], 1);

    let after: Vec<String> = s.graph.log()[before_takeover..].to_vec();
    assert!(
        after.iter().all(|l| !l.contains("configurationPolicies")),
        "{after:?}"
    );
    assert!(
        after[0].contains("deviceCompliancePolicies?$skiptoken=2"),
        "{after:?}"
    );
    assert_eq!(after.len(), 7, "pages 2 to 8 of the second type: {after:?}");
    let items = items_of(&s.app.db, &s.tenant).await;
    assert_eq!(items.len(), 6 + 16);

    // The stalled worker wakes up and writes nothing.
    hold.release();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let again = operation_run::Entity::find_by_id(run_id)
        .one(&s.app.db)
        .await
        .expect("read")
        .expect("run");
    assert_eq!(again.attempts, 2);
    assert_eq!(again.summary_counts, run.summary_counts);
    assert_eq!(items_of(&s.app.db, &s.tenant).await.len(), 6 + 16);
}

#[tokio::test]
async fn full_content_capture_fetches_only_the_subjects_that_lack_fresh_content() {
    let s = setup(100).await;
    let sync = s.sync(&s.tenant, TYPES).await;
    assert_eq!(sync.outcome, RunOutcome::Succeeded);
    // Content for the configuration policies, captured after the listing.
    let fresh = s.capture(&s.tenant, &["configurationPolicies"]).await;
    assert_eq!(fresh.context["content_capture"]["captured"], 6);

    let profile = s.profile(json!({"captureMode": "FULL_CONTENT"})).await;
    let log_before = s.graph.log().len();
    let done = s.baseline(&profile, &s.tenant).await;
    assert_eq!(done.outcome, RunOutcome::Succeeded, "{}", done.context);
    let total: u64 = graph_server::corpus_tenant()
        .values()
        .map(|v| v.len() as u64)
        .sum();
    let content = &done.context["content_capture"];
    assert_eq!(content["requested"], total - 6, "{content}");
    assert_eq!(content["captured"], total - 6);
    assert_eq!(content["fresh"], 6);
    let fetched = s.graph.log()[log_before..].join(" ");
    assert!(!fetched.contains("configurationPolicies"), "{fetched}");
    assert_eq!(done.context["baseline_capture"]["missing_content_total"], 0);
    assert_eq!(
        done.context["baseline_capture"]["coverage"]["resolved_content"],
        total
    );
}

#[tokio::test]
async fn collector_mutations_refuse_what_cannot_run() {
    let s = setup(100).await;
    let no_connection = s.new_tenant("Unconnected").await;
    for (query, vars) in [
        (
            "mutation($t: ID!) { startInventorySync(input: {tenantId: $t}) { id } }",
            json!({"t": no_connection}),
        ),
        (
            "mutation($t: ID!) { startInventorySync(input: {tenantId: $t, policyTypes: [\"enrollmentProfiles\"]}) { id } }",
            json!({"t": s.tenant}),
        ),
        (
            "mutation($t: ID!) { startPolicyCapture(input: {tenantId: $t, policyTypes: [\"noSuchType\"]}) { id } }",
            json!({"t": s.tenant}),
        ),
        (
            "mutation($t: ID!) { startPolicyCapture(input: {tenantId: $t, onlyStaleSince: \"2999-01-01T00:00:00Z\"}) { id } }",
            json!({"t": s.tenant}),
        ),
    ] {
        let answer = s.app.gql(Some(&s.token), query, vars).await;
        assert_eq!(
            error_code(&answer),
            Some("BAD_USER_INPUT"),
            "{query}: {answer}"
        );
    }
    assert!(
        operation_run::Entity::find()
            .all(&s.app.db)
            .await
            .expect("runs")
            .is_empty(),
        "nothing was queued"
    );
}

#[tokio::test]
async fn requests_in_flight_stay_within_the_tenant_limit() {
    let s = setup_with(Accepts::Secret(CLIENT_SECRET.into()), 100, |c| {
        c.graph.concurrency = 2;
    })
    .await;
    let sync = s.sync(&s.tenant, TYPES).await;
    assert_eq!(sync.outcome, RunOutcome::Succeeded);
    // Slow answers: 59 subjects are three batches, at most two at a time.
    s.graph.faults().delay = Duration::from_millis(300);
    let capture = s.capture(&s.tenant, TYPES).await;
    assert_eq!(
        capture.outcome,
        RunOutcome::Succeeded,
        "{}",
        capture.context
    );
    assert_eq!(
        s.graph
            .state
            .max_in_flight
            .load(std::sync::atomic::Ordering::SeqCst),
        2
    );
}

#[tokio::test]
async fn a_full_content_compare_refreshes_stale_current_content_first() {
    let s = setup(100).await;
    let source = s.new_tenant("Reference").await;
    let original = graph_server::corpus_tenant();
    s.import(&source, &original).await;
    let profile = s.profile(json!({"captureMode": "FULL_CONTENT", "scope": {"policyTypes": ["deviceConfigurations"]}})).await;
    let done = s.baseline(&profile, &source).await;
    assert_eq!(done.outcome, RunOutcome::Succeeded, "{}", done.context);
    assert_eq!(
        done.context["content_capture"],
        Value::Null,
        "the source has no connection"
    );

    // The connected tenant is listed but has no content yet: the compare
    // fetches it, and finds the one policy changed in the tenant.
    let changed = original["deviceConfigurations"][3]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    s.graph.edit("deviceConfigurations", &changed, |item| {
        item["description"] = json!("edited");
    });
    let sync = s.sync(&s.tenant, &["deviceConfigurations"]).await;
    assert_eq!(sync.outcome, RunOutcome::Succeeded);
    let first = s.compare(&profile, &s.tenant).await;
    assert_eq!(first.outcome, RunOutcome::Succeeded, "{}", first.context);
    assert_eq!(first.context["content_capture"]["requested"], 27);
    assert_eq!(first.context["content_capture"]["captured"], 27);
    assert_eq!(
        first.context["baseline_compare"]["coverage"]["resolved_content"],
        27
    );
    let findings = findings_of(&s, &s.tenant).await;
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert!(
        findings
            .iter()
            .all(|f| f.contains("CONTENT") && f.contains("description"))
    );

    // Fresh now: a second compare fetches nothing.
    let before = s.graph.requests();
    let second = s.compare(&profile, &s.tenant).await;
    assert_eq!(second.context["content_capture"]["requested"], 0);
    assert_eq!(second.context["content_capture"]["fresh"], 27);
    assert_eq!(s.graph.requests(), before);
}

#[tokio::test]
async fn the_collect_command_queues_runs_them_and_prints_the_coverage() {
    // No workers in the server: it has the key, and would otherwise race
    // the command for the run queued without it.
    let s = setup_with(Accepts::Secret(CLIENT_SECRET.into()), 4, |c| {
        c.workers.count = 0
    })
    .await;
    let tenant_id = num(&s.tenant, NodeKind::Tenant);
    let key = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [42u8; 32]);
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_drift-engine"))
        .args([
            "collect",
            "--tenant",
            &tenant_id.to_string(),
            "--types",
            "configurationPolicies,managedAppPolicies",
            "--content",
            "--graph-url",
            &s.graph.url,
            "--login-url",
            &s.graph.url,
        ])
        .env("DATABASE_URL", &s.app.test_db.url)
        .env("DRIFT_SECRET_KEY", key)
        .env("RUST_LOG", "warn")
        .output()
        .await
        .expect("run drift-engine collect");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let row = |t: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(t))
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .unwrap_or_default()
    };
    assert_eq!(
        row("configurationPolicies")[1..3],
        ["succeeded", "6"],
        "{stdout}"
    );
    assert_eq!(
        row("managedAppPolicies")[1..3],
        ["succeeded", "6"],
        "{stdout}"
    );
    assert!(
        stdout.contains("content: 12 requested, 12 captured"),
        "{stdout}"
    );
    assert_eq!(content_of(&s.app.db, &s.tenant).await.len(), 12);

    // Without the key, the run fails and the command says so.
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_drift-engine"))
        .args([
            "collect",
            "--tenant",
            &tenant_id.to_string(),
            "--graph-url",
            &s.graph.url,
        ])
        .env("DATABASE_URL", &s.app.test_db.url)
        .env_remove("DRIFT_SECRET_KEY")
        .env("RUST_LOG", "warn")
        .output()
        .await
        .expect("run drift-engine collect");
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("secret key"));
}

#[tokio::test]
async fn a_looping_next_link_fails_its_type_and_a_refused_credential_is_asked_once() {
    let s = setup(100).await;
    s.graph.faults().looping_next_link_for = Some("/deviceManagement/configurationPolicies".into());
    let sync = s
        .sync(&s.tenant, &["configurationPolicies", "managedAppPolicies"])
        .await;
    let coverage = &sync.context["inventory_coverage"]["policy_types"];
    assert!(
        coverage["configurationPolicies"]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("never end"),
        "{coverage}"
    );
    assert_eq!(coverage["managedAppPolicies"]["status"], "succeeded");

    // A changed secret: the first refusal fails every type, with one
    // token request, not one per type.
    s.app
        .gql_ok(
            &s.token,
            "mutation($i: SetTenantConnectionInput!) { setTenantConnection(input: $i) { id } }",
            json!({"i": {"tenantId": s.tenant, "directoryTenantId": DIRECTORY, "clientId": CLIENT_ID, "clientSecret": "rotated-away"}}),
        )
        .await;
    let before = s
        .graph
        .state
        .token_requests
        .load(std::sync::atomic::Ordering::SeqCst);
    let sync = s.sync(&s.tenant, TYPES).await;
    assert_eq!(sync.outcome, RunOutcome::Failed);
    assert_eq!(
        s.graph
            .state
            .token_requests
            .load(std::sync::atomic::Ordering::SeqCst),
        before + 1
    );
}

#[tokio::test]
async fn collected_assignments_are_expanded_and_name_their_groups_and_filters() {
    const GROUP: &str = "3f1c2b4a-8d7e-4c5b-9a6f-1e2d3c4b5a69";
    const FILTER: &str = "b6a5c4d3-2e1f-4a9b-8c7d-6e5f4a3b2c1d";
    let mut data = graph_server::corpus_tenant();
    // A tenant's directory as Graph lists it, more than one page of it.
    let mut groups = vec![
        json!({"id": GROUP, "displayName": "Specialized Workstations",
        "securityEnabled": true, "mailEnabled": false, "mailNickname": "sws"}),
    ];
    groups.extend((0..5).map(|n| {
        json!({"id": format!("00000000-0000-4000-8000-{n:012x}"), "displayName": format!("Team {n}"),
               "securityEnabled": true, "mailEnabled": false, "mailNickname": format!("t{n}")})
    }));
    data.insert("groups".into(), groups);
    data.insert(
        "assignmentFilters".into(),
        vec![json!({"id": FILTER, "displayName": "Corporate devices", "platform": "windows10AndLater",
                    "rule": "(device.deviceOwnership -eq \"Corporate\")"})],
    );
    // The device restrictions export, assigned by id as Graph returns it.
    let restrictions = data
        .get_mut("deviceConfigurations")
        .expect("device configurations")
        .iter_mut()
        .find(|i| i["assignments"].is_array())
        .expect("an assigned device configuration");
    restrictions["assignments"][0]["target"]["groupId"] = json!(GROUP);
    restrictions["assignments"][0]["target"]["deviceAndAppManagementAssignmentFilterId"] =
        json!(FILTER);
    restrictions["assignments"][0]["target"]["deviceAndAppManagementAssignmentFilterType"] =
        json!("include");
    let id = restrictions["id"].as_str().expect("id").to_owned();
    let s = setup_serving(&data, Accepts::Secret(CLIENT_SECRET.into()), 4, |_| {}).await;

    let sync = s
        .sync(
            &s.tenant,
            &["groups", "assignmentFilters", "deviceConfigurations"],
        )
        .await;
    assert_eq!(sync.outcome, RunOutcome::Succeeded, "{}", sync.context);
    let names: BTreeSet<String> = items_of(&s.app.db, &s.tenant)
        .await
        .into_iter()
        .filter(|i| i.0 == "groups")
        .map(|i| i.2)
        .collect();
    assert_eq!(names.len(), 6);
    assert!(names.contains("Specialized Workstations"));
    let capture = s.capture(&s.tenant, &["deviceConfigurations"]).await;
    assert_eq!(
        capture.outcome,
        RunOutcome::Succeeded,
        "{}",
        capture.context
    );
    let log = s.graph.log().join("\n");
    assert!(
        log.contains("/groups?$select=id,displayName"),
        "groups are listed by name only: {log}"
    );
    assert!(log.contains("$expand=assignments"), "{log}");
    assert!(
        !capture
            .context
            .to_string()
            .contains("assignment_unresolved"),
        "{}",
        capture.context
    );

    let version = policy_version::Entity::find()
        .filter(policy_version::Column::ExternalId.eq(id.as_str()))
        .one(&s.app.db)
        .await
        .expect("read")
        .expect("the version");
    let hash = version.assignments_hash.expect("an assignment hash");
    let blob = entity::evidence_blob::Entity::find_by_id(hash)
        .one(&s.app.db)
        .await
        .expect("read")
        .expect("the assignment blob");
    assert_eq!(
        blob.content,
        json!({"assignments": [{"target": "group:Specialized Workstations", "kind": "group",
            "group": "Specialized Workstations", "filter": "Corporate devices", "filterMode": "include"}]})
    );
}

#[tokio::test]
async fn a_collecting_schedule_syncs_from_graph_then_compares() {
    let s = setup_with(Accepts::Secret(CLIENT_SECRET.into()), 100, |c| {
        c.workers.schedule_interval = Duration::from_millis(100)
    })
    .await;
    // The baseline is the tenant as collected now.
    let sync = s.sync(&s.tenant, TYPES).await;
    assert_eq!(sync.outcome, RunOutcome::Succeeded);
    let profile = s
        .profile(json!({"captureMode": "META_ONLY",
        "scope": {"policyTypes": ["configurationPolicies", "deviceConfigurations"]}}))
        .await;
    s.baseline(&profile, &s.tenant).await;
    s.app
        .gql_ok(
            &s.token,
            "mutation($p: ID!, $t: ID!) { assignBaselineProfile(input: {baselineProfileId: $p, tenantId: $t}) { id } }",
            json!({"p": profile, "t": s.tenant}),
        )
        .await;
    // Someone renames a policy in the portal.
    let renamed = graph_server::corpus_tenant()["deviceConfigurations"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    s.graph.edit("deviceConfigurations", &renamed, |item| {
        item["displayName"] = json!("Renamed in the portal");
    });
    let log_before = s.graph.log().len();
    s.app
        .gql_ok(
            &s.token,
            "mutation($p: ID!, $t: ID!) { setSchedule(input: {baselineProfileId: $p, tenantId: $t, every: \"PT1H\", collect: true, startAt: \"2026-01-01T00:00:00Z\"}) { collect } }",
            json!({"p": profile, "t": s.tenant}),
        )
        .await;
    let tenant_id = num(&s.tenant, NodeKind::Tenant);
    let mut compare = None;
    for _ in 0..400 {
        compare = operation_run::Entity::find()
            .filter(operation_run::Column::TenantId.eq(tenant_id))
            .filter(operation_run::Column::RunType.eq(entity::enums::RunType::BaselineCompare))
            .filter(operation_run::Column::Status.eq(RunStatus::Completed))
            .one(&s.app.db)
            .await
            .expect("read");
        if compare.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let compare = compare.expect("the schedule's compare completed");
    assert_eq!(
        compare.outcome,
        RunOutcome::Succeeded,
        "{}",
        compare.context
    );
    let after = compare.context["after_run_id"]
        .as_i64()
        .expect("chained after a collection");
    let collection = operation_run::Entity::find_by_id(after)
        .one(&s.app.db)
        .await
        .expect("read")
        .expect("the collection");
    assert_eq!(collection.run_type, entity::enums::RunType::InventorySync);
    assert_eq!(collection.outcome, RunOutcome::Succeeded);
    assert!(collection.completed_at <= compare.started_at);
    // It listed the profile's types, and only those.
    let asked = s.graph.log()[log_before..].join("\n");
    assert!(
        asked.contains("/deviceManagement/deviceConfigurations"),
        "{asked}"
    );
    assert!(!asked.contains("/deviceManagement/intents"), "{asked}");
    // The rename collected by the schedule is the compare's finding.
    let findings = s
        .app
        .gql_ok(
            &s.token,
            "query($t: ID!) { findings(tenantId: $t) { edges { node { findingType subject { externalId } } } } }",
            json!({"t": s.tenant}),
        )
        .await;
    assert_eq!(
        findings["findings"]["edges"],
        json!([{"node": {"findingType": "DIFFERENT_VERSION", "subject": {"externalId": renamed}}}])
    );
    let schedule = s
        .app
        .gql_ok(
            &s.token,
            "query($p: ID!) { baselineProfile(id: $p) { schedules { lastRun { id type } nextRunAt } } }",
            json!({"p": profile}),
        )
        .await;
    assert_eq!(
        schedule["baselineProfile"]["schedules"][0]["lastRun"]["type"], "BASELINE_COMPARE",
        "{schedule}"
    );
}
