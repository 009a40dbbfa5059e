//! The authorization matrix: every query and mutation the schema has, against
//! every kind of caller. A root field without a row here fails the test, and
//! so does a root field for which one of the three refusals is neither shown
//! nor explained as impossible.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::common::{TestApp, error_code};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Actor {
    Anonymous,
    BadToken,
    /// Authenticated, but not a member of the workspace.
    Outsider,
    /// A reader limited to tenant B.
    Restricted,
    Reader,
    Operator,
    Manager,
    Owner,
}

const ACTORS: [Actor; 8] = [
    Actor::Anonymous,
    Actor::BadToken,
    Actor::Outsider,
    Actor::Restricted,
    Actor::Reader,
    Actor::Operator,
    Actor::Manager,
    Actor::Owner,
];

const UNAUTH: &str = "UNAUTHENTICATED";
const NOT_FOUND: &str = "NOT_FOUND";
const FORBIDDEN: &str = "FORBIDDEN";

/// Root fields for which a refusal cannot happen, and why.
const NOT_APPLICABLE: &[(&str, &str, &str)] = &[
    ("viewer", NOT_FOUND, "the caller always exists for itself"),
    (
        "createApiToken",
        NOT_FOUND,
        "creates a token of the caller's own, naming nothing else",
    ),
    (
        "createApiToken",
        FORBIDDEN,
        "every user may create tokens of their own (a read-only token may not: tokens.rs)",
    ),
    (
        "revokeApiToken",
        FORBIDDEN,
        "a token of someone else is NOT_FOUND, one's own is always revocable (read-only: tokens.rs)",
    ),
    ("viewer", FORBIDDEN, "needs no capability"),
    (
        "workspaces",
        NOT_FOUND,
        "lists only the caller's own workspaces",
    ),
    (
        "workspaces",
        FORBIDDEN,
        "every role may view its workspaces",
    ),
    ("workspace", FORBIDDEN, "every role may view its workspace"),
    (
        "tenant",
        FORBIDDEN,
        "every role may view the tenants it has access to",
    ),
    (
        "tenants",
        FORBIDDEN,
        "every role may view the tenants it has access to",
    ),
    ("node", FORBIDDEN, "every role may view what it can reach"),
    (
        "operationRun",
        FORBIDDEN,
        "every role may view the runs of the tenants it has access to",
    ),
    (
        "baselineProfile",
        FORBIDDEN,
        "every role holds workspace_baselines.view",
    ),
    (
        "baselineProfiles",
        FORBIDDEN,
        "every role holds workspace_baselines.view",
    ),
    (
        "baselineSnapshot",
        FORBIDDEN,
        "every role holds workspace_baselines.view",
    ),
    (
        "findings",
        FORBIDDEN,
        "every role holds tenant_findings.view",
    ),
    (
        "finding",
        FORBIDDEN,
        "every role holds tenant_findings.view",
    ),
    (
        "operationRuns",
        FORBIDDEN,
        "every role holds tenant_findings.view",
    ),
    (
        "alignmentHistory",
        FORBIDDEN,
        "every role holds tenant_findings.view",
    ),
    (
        "findingsSummary",
        FORBIDDEN,
        "every role holds tenant_findings.view",
    ),
    (
        "createWorkspace",
        NOT_FOUND,
        "creates a new workspace; nothing to look up",
    ),
    (
        "createWorkspace",
        FORBIDDEN,
        "any authenticated user may create a workspace and owns it",
    ),
];

struct Case {
    root: &'static str,
    query: &'static str,
    vars: Value,
    expect: Vec<(Actor, Option<&'static str>)>,
}

/// `ok` lists the actors that succeed; the rest get the code given for them.
fn case(
    root: &'static str,
    query: &'static str,
    vars: Value,
    refusals: &[(Actor, &'static str)],
) -> Case {
    let expect = ACTORS
        .iter()
        .map(|actor| {
            let code = refusals.iter().find(|(a, _)| a == actor).map(|(_, c)| *c);
            (*actor, code)
        })
        .collect();
    Case {
        root,
        query,
        vars,
        expect,
    }
}

fn member_refusals(extra: &[(Actor, &'static str)]) -> Vec<(Actor, &'static str)> {
    let mut v = vec![
        (Actor::Anonymous, UNAUTH),
        (Actor::BadToken, UNAUTH),
        (Actor::Outsider, NOT_FOUND),
    ];
    v.extend_from_slice(extra);
    v
}

#[tokio::test]
async fn authorization_matrix_covers_every_root_field() {
    // With a key, so that setTenantConnection can succeed for those allowed.
    let app = TestApp::spawn_with(|c| {
        c.secret_key = Some(crate::connections::test_key());
        c.graph.graph_url = "http://127.0.0.1:9".into();
        c.graph.login_url = "http://127.0.0.1:9".into();
        c.graph.max_retries = 0;
    })
    .await;
    let (_, owner) = app.user("owner@example.com").await;
    let (_, outsider) = app.user("outsider@example.com").await;
    app.gql_ok(
        &outsider,
        "mutation { createWorkspace(input: {name: \"Elsewhere\"}) { id } }",
        json!({}),
    )
    .await;

    let ws = app
        .gql_ok(
            &owner,
            "mutation { createWorkspace(input: {name: \"W\"}) { id } }",
            json!({}),
        )
        .await["createWorkspace"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let mut tenant_ids = Vec::new();
    for name in ["A", "B"] {
        let id = app
            .gql_ok(
                &owner,
                "mutation($ws: ID!, $n: String!) { createTenant(input: {workspaceId: $ws, name: $n}) { id } }",
                json!({"ws": ws, "n": name}),
            )
            .await["createTenant"]["id"]
            .as_str()
            .expect("id")
            .to_owned();
        tenant_ids.push(id);
    }
    let (tenant_a, tenant_b) = (tenant_ids[0].clone(), tenant_ids[1].clone());
    let add = "mutation($ws: ID!, $e: String!, $r: Role!, $t: [ID!]) { addWorkspaceMember(input: {workspaceId: $ws, email: $e, role: $r, tenantIds: $t}) { id } }";
    for (email, role, tenants) in [
        ("reader@example.com", "READER", Value::Null),
        ("restricted@example.com", "READER", json!([tenant_b])),
        ("operator@example.com", "OPERATOR", Value::Null),
        ("manager@example.com", "MANAGER", Value::Null),
    ] {
        app.gql_ok(
            &owner,
            add,
            json!({"ws": ws, "e": email, "r": role, "t": tenants}),
        )
        .await;
    }
    let run_a = app
        .gql_ok(
            &owner,
            "mutation($t: ID!) { recordInventorySync(input: {tenantId: $t, policyTypes: [{policyType: \"deviceConfigurations\", status: SUCCEEDED}]}) { id } }",
            json!({"t": tenant_a}),
        )
        .await["recordInventorySync"]["id"]
        .as_str()
        .expect("run id")
        .to_owned();
    // A profile on tenant A with a snapshot and one finding (a missing policy).
    let profile = app
        .gql_ok(
            &owner,
            "mutation($ws: ID!) { createBaselineProfile(input: {workspaceId: $ws, name: \"P\"}) { id } }",
            json!({"ws": ws}),
        )
        .await["createBaselineProfile"]["id"]
        .as_str()
        .expect("profile")
        .to_owned();
    app.gql_ok(
        &owner,
        "mutation($p: ID!, $t: ID!) { assignBaselineProfile(input: {baselineProfileId: $p, tenantId: $t}) { id } }",
        json!({"p": profile, "t": tenant_a}),
    )
    .await;
    let sync = "mutation($t: ID!, $items: [InventoryItemInput!]!) { recordInventorySync(input: {tenantId: $t, policyTypes: [{policyType: \"deviceConfigurations\", status: SUCCEEDED, confirmEmpty: true}], items: $items}) { id } }";
    let one = json!([{"policyType": "deviceConfigurations", "externalId": "p1", "displayName": "P1", "meta": {"displayName": "P1"}}]);
    app.gql_ok(&owner, sync, json!({"t": tenant_a, "items": one}))
        .await;
    let wait = |id: String| {
        let app = &app;
        let owner = owner.clone();
        async move {
            for _ in 0..600 {
                let data = app
                    .gql_ok(&owner, "query($id: ID!) { operationRun(id: $id) { status baselineCapture { baselineSnapshotId } } }", json!({"id": id}))
                    .await;
                if data["operationRun"]["status"] == "COMPLETED" {
                    return data["operationRun"].clone();
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            panic!("run did not complete");
        }
    };
    let capture = app
        .gql_ok(
            &owner,
            "mutation($p: ID!, $t: ID!) { startBaselineCapture(input: {baselineProfileId: $p, sourceTenantId: $t}) { id } }",
            json!({"p": profile, "t": tenant_a}),
        )
        .await["startBaselineCapture"]["id"]
        .as_str()
        .expect("run")
        .to_owned();
    let snapshot = wait(capture).await["baselineCapture"]["baselineSnapshotId"]
        .as_str()
        .expect("snapshot")
        .to_owned();
    app.gql_ok(&owner, sync, json!({"t": tenant_a, "items": []}))
        .await;
    let compare = app
        .gql_ok(
            &owner,
            "mutation($p: ID!, $t: ID!) { startBaselineCompare(input: {baselineProfileId: $p, tenantId: $t}) { id } }",
            json!({"p": profile, "t": tenant_a}),
        )
        .await["startBaselineCompare"]["id"]
        .as_str()
        .expect("run")
        .to_owned();
    wait(compare).await;
    let finding = app
        .gql_ok(
            &owner,
            "query($t: ID!) { findings(tenantId: $t) { edges { node { id } } } }",
            json!({"t": tenant_a}),
        )
        .await["findings"]["edges"][0]["node"]["id"]
        .as_str()
        .expect("a finding")
        .to_owned();
    let exclusion = app
        .gql_ok(
            &owner,
            "mutation($p: ID!) { createExclusion(input: {baselineProfileId: $p, subjectPattern: \"matrix*\", reason: \"matrix\"}) { id } }",
            json!({"p": profile}),
        )
        .await["createExclusion"]["id"]
        .as_str()
        .expect("an exclusion")
        .to_owned();
    let channel = app
        .gql_ok(
            &owner,
            "mutation($ws: ID!) { createNotificationChannel(input: {workspaceId: $ws, name: \"matrix\", kind: WEBHOOK, target: \"http://127.0.0.1:9/hook\", secret: \"matrix-secret-0123456789\"}) { id } }",
            json!({"ws": ws}),
        )
        .await["createNotificationChannel"]["id"]
        .as_str()
        .expect("a channel")
        .to_owned();
    let owners_token = app
        .gql_ok(
            &owner,
            "mutation { createApiToken(input: {name: \"matrix\"}) { apiToken { id } } }",
            json!({}),
        )
        .await["createApiToken"]["apiToken"]["id"]
        .as_str()
        .expect("a token")
        .to_owned();

    let mut tokens: BTreeMap<Actor, Option<String>> = BTreeMap::new();
    tokens.insert(Actor::Anonymous, None);
    tokens.insert(
        Actor::BadToken,
        Some("dre_this-token-does-not-exist".into()),
    );
    tokens.insert(Actor::Outsider, Some(outsider));
    tokens.insert(Actor::Owner, Some(owner));
    for (actor, email) in [
        (Actor::Reader, "reader@example.com"),
        (Actor::Restricted, "restricted@example.com"),
        (Actor::Operator, "operator@example.com"),
        (Actor::Manager, "manager@example.com"),
    ] {
        tokens.insert(actor, Some(app.user(email).await.1));
    }

    let cases = vec![
        case(
            "viewer",
            "{ viewer { id email } }",
            json!({}),
            &[(Actor::Anonymous, UNAUTH), (Actor::BadToken, UNAUTH)],
        ),
        case(
            "createApiToken",
            "mutation { createApiToken(input: {name: \"t\"}) { token } }",
            json!({}),
            &[(Actor::Anonymous, UNAUTH), (Actor::BadToken, UNAUTH)],
        ),
        // Only its owner may revoke it.
        case(
            "revokeApiToken",
            "mutation($id: ID!) { revokeApiToken(input: {id: $id}) { revokedAt } }",
            json!({"id": owners_token}),
            &[
                (Actor::Anonymous, UNAUTH),
                (Actor::BadToken, UNAUTH),
                (Actor::Outsider, NOT_FOUND),
                (Actor::Restricted, NOT_FOUND),
                (Actor::Reader, NOT_FOUND),
                (Actor::Operator, NOT_FOUND),
                (Actor::Manager, NOT_FOUND),
            ],
        ),
        case(
            "workspaces",
            "{ workspaces { totalCount } }",
            json!({}),
            &[(Actor::Anonymous, UNAUTH), (Actor::BadToken, UNAUTH)],
        ),
        case(
            "workspace",
            "query($id: ID!) { workspace(id: $id) { name } }",
            json!({"id": ws}),
            &member_refusals(&[]),
        ),
        case(
            "tenant",
            "query($id: ID!) { tenant(id: $id) { name } }",
            json!({"id": tenant_a}),
            &member_refusals(&[(Actor::Restricted, NOT_FOUND)]),
        ),
        case(
            "tenant",
            "query($id: ID!) { tenant(id: $id) { name } }",
            json!({"id": tenant_b}),
            &member_refusals(&[]),
        ),
        case(
            "tenants",
            "query($ws: ID!) { tenants(workspaceId: $ws) { totalCount } }",
            json!({"ws": ws}),
            &member_refusals(&[]),
        ),
        case(
            "node",
            "query($id: ID!) { node(id: $id) { id } }",
            json!({"id": ws}),
            &member_refusals(&[]),
        ),
        case(
            "node",
            "query($id: ID!) { node(id: $id) { id } }",
            json!({"id": tenant_a}),
            &member_refusals(&[(Actor::Restricted, NOT_FOUND)]),
        ),
        case(
            "createWorkspace",
            "mutation { createWorkspace(input: {name: \"mine\"}) { id } }",
            json!({}),
            &[(Actor::Anonymous, UNAUTH), (Actor::BadToken, UNAUTH)],
        ),
        case(
            "createTenant",
            "mutation($ws: ID!) { createTenant(input: {workspaceId: $ws, name: \"new\"}) { id } }",
            json!({"ws": ws}),
            &member_refusals(&[
                (Actor::Restricted, FORBIDDEN),
                (Actor::Reader, FORBIDDEN),
                (Actor::Operator, FORBIDDEN),
            ]),
        ),
        case(
            "addWorkspaceMember",
            "mutation($ws: ID!, $e: String!) { addWorkspaceMember(input: {workspaceId: $ws, email: $e, role: READER}) { id } }",
            json!({"ws": ws}),
            &member_refusals(&[
                (Actor::Restricted, FORBIDDEN),
                (Actor::Reader, FORBIDDEN),
                (Actor::Operator, FORBIDDEN),
                (Actor::Manager, FORBIDDEN),
            ]),
        ),
        case(
            "operationRun",
            "query($id: ID!) { operationRun(id: $id) { id status } }",
            json!({"id": run_a}),
            &member_refusals(&[(Actor::Restricted, NOT_FOUND)]),
        ),
        case(
            "node",
            "query($id: ID!) { node(id: $id) { id } }",
            json!({"id": run_a}),
            &member_refusals(&[(Actor::Restricted, NOT_FOUND)]),
        ),
        case(
            "recordInventorySync",
            "mutation($t: ID!) { recordInventorySync(input: {tenantId: $t, policyTypes: [{policyType: \"deviceConfigurations\", status: SUCCEEDED}], items: [{policyType: \"deviceConfigurations\", externalId: \"p1\", displayName: \"P1\"}]}) { id } }",
            json!({"t": tenant_a}),
            &member_refusals(&[(Actor::Restricted, NOT_FOUND), (Actor::Reader, FORBIDDEN)]),
        ),
        case(
            "setTenantConnection",
            "mutation($t: ID!) { setTenantConnection(input: {tenantId: $t, directoryTenantId: \"contoso.onmicrosoft.com\", clientId: \"00000000-0000-0000-0000-0000000000c1\", clientSecret: \"matrix-secret\"}) { id } }",
            json!({"t": tenant_a}),
            &member_refusals(&[
                (Actor::Restricted, NOT_FOUND),
                (Actor::Reader, FORBIDDEN),
                (Actor::Operator, FORBIDDEN),
            ]),
        ),
        // While the connection is set; the runs they queue fail fast
        // against a closed port.
        case(
            "startInventorySync",
            "mutation($t: ID!) { startInventorySync(input: {tenantId: $t, policyTypes: [\"configurationPolicies\"]}) { id } }",
            json!({"t": tenant_a}),
            &member_refusals(&[(Actor::Restricted, NOT_FOUND), (Actor::Reader, FORBIDDEN)]),
        ),
        case(
            "startPolicyCapture",
            "mutation($t: ID!) { startPolicyCapture(input: {tenantId: $t}) { id } }",
            json!({"t": tenant_a}),
            &member_refusals(&[(Actor::Restricted, NOT_FOUND), (Actor::Reader, FORBIDDEN)]),
        ),
        case(
            "clearTenantConnection",
            "mutation($t: ID!) { clearTenantConnection(input: {tenantId: $t}) { id } }",
            json!({"t": tenant_a}),
            &member_refusals(&[
                (Actor::Restricted, NOT_FOUND),
                (Actor::Reader, FORBIDDEN),
                (Actor::Operator, FORBIDDEN),
            ]),
        ),
        case(
            "recordPolicyVersions",
            "mutation($t: ID!) { recordPolicyVersions(input: {tenantId: $t, versions: [{policyType: \"deviceConfigurations\", externalId: \"p1\", content: {displayName: \"P1\"}}]}) { id } }",
            json!({"t": tenant_a}),
            &member_refusals(&[(Actor::Restricted, NOT_FOUND), (Actor::Reader, FORBIDDEN)]),
        ),
        case(
            "baselineProfile",
            "query($id: ID!) { baselineProfile(id: $id) { name } }",
            json!({"id": profile}),
            &member_refusals(&[]),
        ),
        case(
            "baselineProfiles",
            "query($ws: ID!) { baselineProfiles(workspaceId: $ws) { totalCount } }",
            json!({"ws": ws}),
            &member_refusals(&[]),
        ),
        case(
            "baselineSnapshot",
            "query($id: ID!) { baselineSnapshot(id: $id) { status } }",
            json!({"id": snapshot}),
            &member_refusals(&[]),
        ),
        case(
            "node",
            "query($id: ID!) { node(id: $id) { id } }",
            json!({"id": profile}),
            &member_refusals(&[]),
        ),
        case(
            "findings",
            "query($t: ID!) { findings(tenantId: $t) { totalCount } }",
            json!({"t": tenant_a}),
            &member_refusals(&[(Actor::Restricted, NOT_FOUND)]),
        ),
        case(
            "findingsSummary",
            "query($t: ID!) { findingsSummary(tenantId: $t) { total } }",
            json!({"t": tenant_a}),
            &member_refusals(&[(Actor::Restricted, NOT_FOUND)]),
        ),
        case(
            "alignmentHistory",
            "query($t: ID!, $p: ID!) { alignmentHistory(tenantId: $t, baselineProfileId: $p) { totalCount } }",
            json!({"t": tenant_a, "p": profile}),
            &member_refusals(&[(Actor::Restricted, NOT_FOUND)]),
        ),
        case(
            "finding",
            "query($id: ID!) { finding(id: $id) { id } }",
            json!({"id": finding}),
            &member_refusals(&[(Actor::Restricted, NOT_FOUND)]),
        ),
        case(
            "node",
            "query($id: ID!) { node(id: $id) { id } }",
            json!({"id": finding}),
            &member_refusals(&[(Actor::Restricted, NOT_FOUND)]),
        ),
        case(
            "createBaselineProfile",
            "mutation($ws: ID!) { createBaselineProfile(input: {workspaceId: $ws, name: \"Q\"}) { id } }",
            json!({"ws": ws}),
            &member_refusals(&[
                (Actor::Restricted, FORBIDDEN),
                (Actor::Reader, FORBIDDEN),
                (Actor::Operator, FORBIDDEN),
            ]),
        ),
        case(
            "updateBaselineProfile",
            "mutation($p: ID!) { updateBaselineProfile(input: {id: $p, description: \"d\"}) { id } }",
            json!({"p": profile}),
            &member_refusals(&[
                (Actor::Restricted, FORBIDDEN),
                (Actor::Reader, FORBIDDEN),
                (Actor::Operator, FORBIDDEN),
            ]),
        ),
        case(
            "assignBaselineProfile",
            "mutation($p: ID!, $t: ID!) { assignBaselineProfile(input: {baselineProfileId: $p, tenantId: $t}) { id } }",
            json!({"p": profile, "t": tenant_a}),
            &member_refusals(&[
                (Actor::Restricted, FORBIDDEN),
                (Actor::Reader, FORBIDDEN),
                (Actor::Operator, FORBIDDEN),
            ]),
        ),
        case(
            "createExclusion",
            "mutation($p: ID!) { createExclusion(input: {baselineProfileId: $p, policyType: \"deviceConfigurations\", reason: \"r\"}) { id } }",
            json!({"p": profile}),
            &member_refusals(&[
                (Actor::Restricted, FORBIDDEN),
                (Actor::Reader, FORBIDDEN),
                (Actor::Operator, FORBIDDEN),
            ]),
        ),
        // The manager, who may, deletes it; for the owner after it, it is gone.
        case(
            "deleteExclusion",
            "mutation($x: ID!) { deleteExclusion(input: {id: $x}) { deletedExclusionId } }",
            json!({"x": exclusion}),
            &member_refusals(&[
                (Actor::Restricted, FORBIDDEN),
                (Actor::Reader, FORBIDDEN),
                (Actor::Operator, FORBIDDEN),
                (Actor::Owner, NOT_FOUND),
            ]),
        ),
        case(
            "createNotificationChannel",
            "mutation($ws: ID!) { createNotificationChannel(input: {workspaceId: $ws, name: \"other\", kind: SLACK, target: \"http://127.0.0.1:9/slack\"}) { id } }",
            json!({"ws": ws}),
            &member_refusals(&[
                (Actor::Restricted, FORBIDDEN),
                (Actor::Reader, FORBIDDEN),
                (Actor::Operator, FORBIDDEN),
            ]),
        ),
        case(
            "updateNotificationChannel",
            "mutation($c: ID!) { updateNotificationChannel(input: {id: $c, filters: {minSeverity: HIGH}}) { id } }",
            json!({"c": channel}),
            &member_refusals(&[
                (Actor::Restricted, FORBIDDEN),
                (Actor::Reader, FORBIDDEN),
                (Actor::Operator, FORBIDDEN),
            ]),
        ),
        // Nothing listens on port 9: the answer says the send failed.
        case(
            "testNotificationChannel",
            "mutation($c: ID!) { testNotificationChannel(input: {id: $c}) { delivered } }",
            json!({"c": channel}),
            &member_refusals(&[
                (Actor::Restricted, FORBIDDEN),
                (Actor::Reader, FORBIDDEN),
                (Actor::Operator, FORBIDDEN),
            ]),
        ),
        // The manager deletes it; for the owner after it, it is gone.
        case(
            "deleteNotificationChannel",
            "mutation($c: ID!) { deleteNotificationChannel(input: {id: $c}) { deletedNotificationChannelId } }",
            json!({"c": channel}),
            &member_refusals(&[
                (Actor::Restricted, FORBIDDEN),
                (Actor::Reader, FORBIDDEN),
                (Actor::Operator, FORBIDDEN),
                (Actor::Owner, NOT_FOUND),
            ]),
        ),
        // The profile is assigned to tenant A above.
        case(
            "setSchedule",
            "mutation($p: ID!, $t: ID!) { setSchedule(input: {baselineProfileId: $p, tenantId: $t, every: \"PT6H\"}) { every } }",
            json!({"p": profile, "t": tenant_a}),
            &member_refusals(&[
                (Actor::Restricted, FORBIDDEN),
                (Actor::Reader, FORBIDDEN),
                (Actor::Operator, FORBIDDEN),
            ]),
        ),
        case(
            "clearSchedule",
            "mutation($p: ID!, $t: ID!) { clearSchedule(input: {baselineProfileId: $p, tenantId: $t}) { cleared } }",
            json!({"p": profile, "t": tenant_a}),
            &member_refusals(&[
                (Actor::Restricted, FORBIDDEN),
                (Actor::Reader, FORBIDDEN),
                (Actor::Operator, FORBIDDEN),
            ]),
        ),
        case(
            "startBaselineCapture",
            "mutation($p: ID!, $t: ID!) { startBaselineCapture(input: {baselineProfileId: $p, sourceTenantId: $t}) { id } }",
            json!({"p": profile, "t": tenant_a}),
            &member_refusals(&[
                (Actor::Restricted, FORBIDDEN),
                (Actor::Reader, FORBIDDEN),
                (Actor::Operator, FORBIDDEN),
            ]),
        ),
        case(
            "operationRuns",
            "query($t: ID!) { operationRuns(tenantId: $t) { totalCount } }",
            json!({"t": tenant_a}),
            &member_refusals(&[(Actor::Restricted, NOT_FOUND)]),
        ),
        case(
            "startVerification",
            "mutation($t: ID!) { startVerification(input: {tenantId: $t}) { id } }",
            json!({"t": tenant_a}),
            &member_refusals(&[(Actor::Restricted, NOT_FOUND), (Actor::Reader, FORBIDDEN)]),
        ),
        case(
            "acknowledgeFinding",
            "mutation($id: ID!) { acknowledgeFinding(input: {id: $id}) { status } }",
            json!({"id": finding}),
            &member_refusals(&[(Actor::Restricted, NOT_FOUND), (Actor::Reader, FORBIDDEN)]),
        ),
        case(
            "resolveFinding",
            "mutation($id: ID!) { resolveFinding(input: {id: $id, reason: \"accepted\"}) { status } }",
            json!({"id": finding}),
            &member_refusals(&[(Actor::Restricted, NOT_FOUND), (Actor::Reader, FORBIDDEN)]),
        ),
        case(
            "reopenFinding",
            "mutation($id: ID!) { reopenFinding(input: {id: $id}) { status } }",
            json!({"id": finding}),
            &member_refusals(&[(Actor::Restricted, NOT_FOUND), (Actor::Reader, FORBIDDEN)]),
        ),
        case(
            "acceptFinding",
            "mutation($id: ID!) { acceptFinding(input: {findingId: $id, reason: \"matrix\"}) { status } }",
            json!({"id": finding}),
            &member_refusals(&[(Actor::Restricted, NOT_FOUND), (Actor::Reader, FORBIDDEN)]),
        ),
        case(
            "unacceptFinding",
            "mutation($id: ID!) { unacceptFinding(input: {findingId: $id}) { status } }",
            json!({"id": finding}),
            &member_refusals(&[(Actor::Restricted, NOT_FOUND), (Actor::Reader, FORBIDDEN)]),
        ),
        case(
            "startBaselineCompare",
            "mutation($p: ID!, $t: ID!) { startBaselineCompare(input: {baselineProfileId: $p, tenantId: $t}) { id } }",
            json!({"p": profile, "t": tenant_a}),
            &member_refusals(&[(Actor::Restricted, NOT_FOUND), (Actor::Reader, FORBIDDEN)]),
        ),
    ];

    let mut failures = Vec::new();
    let mut seen: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (i, case) in cases.iter().enumerate() {
        for (actor, expected) in &case.expect {
            let mut vars = case.vars.clone();
            // Member additions need a fresh email per call.
            vars["e"] = json!(format!("new-{i}-{actor:?}@example.com").to_lowercase());
            let body = app.gql(tokens[actor].as_deref(), case.query, vars).await;
            let got = error_code(&body);
            let ok = match expected {
                None => got.is_none() && !body["data"][case.root].is_null(),
                Some(code) => got == Some(*code),
            };
            if !ok {
                failures.push(format!(
                    "{} as {actor:?}: expected {expected:?}, got {body}",
                    case.root
                ));
            }
            if let Some(code) = expected {
                seen.entry(case.root).or_default().insert(code);
            }
        }
    }
    assert!(
        failures.is_empty(),
        "authorization matrix failures:\n{}",
        failures.join("\n")
    );

    // Every root field of the schema is in the matrix with all three refusals
    // shown or explained.
    let schema = app
        .gql_ok(
            tokens[&Actor::Owner].as_deref().expect("token"),
            "{ __schema { queryType { fields { name } } mutationType { fields { name } } } }",
            json!({}),
        )
        .await;
    let mut roots = Vec::new();
    for kind in ["queryType", "mutationType"] {
        for field in schema["__schema"][kind]["fields"]
            .as_array()
            .expect("fields")
        {
            roots.push(field["name"].as_str().expect("name").to_owned());
        }
    }
    let mut gaps = Vec::new();
    for root in &roots {
        for code in [UNAUTH, NOT_FOUND, FORBIDDEN] {
            let shown = seen
                .get(root.as_str())
                .is_some_and(|codes| codes.contains(code));
            let explained = NOT_APPLICABLE
                .iter()
                .any(|(r, c, _)| r == root && *c == code);
            if !shown && !explained {
                gaps.push(format!("{root}: {code}"));
            }
        }
    }
    assert!(
        gaps.is_empty(),
        "root fields missing from the matrix: {gaps:?}"
    );

    // A restricted member sees only its tenants in lists, too.
    let data = app
        .gql_ok(
            tokens[&Actor::Restricted].as_deref().expect("token"),
            "query($ws: ID!) { tenants(workspaceId: $ws) { totalCount edges { node { id } } } workspace(id: $ws) { tenants { totalCount } } }",
            json!({"ws": ws}),
        )
        .await;
    assert_eq!(data["tenants"]["totalCount"], 1);
    assert_eq!(data["tenants"]["edges"][0]["node"]["id"], tenant_b.as_str());
    assert_eq!(data["workspace"]["tenants"]["totalCount"], 1);
}
