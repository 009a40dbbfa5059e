use entity::audit_log;
use sea_orm::{EntityTrait, QueryOrder};
use serde_json::json;

use crate::common::TestApp;

/// Over real HTTP with a real token: create a workspace and a tenant, then
/// read both back through every query that shows them.
#[tokio::test]
async fn create_workspace_and_tenant_over_http_and_read_them_back() {
    let app = TestApp::spawn().await;
    let (_, token) = app.user("ops@example.com").await;

    let health = app
        .client
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status(), 200);
    let ready: serde_json::Value = app
        .client
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("readyz")
        .json()
        .await
        .expect("json");
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["migrations"], "current");

    let data = app
        .gql_ok(
            &token,
            "mutation($name: String!) { createWorkspace(input: {name: $name}) { id name viewerRole } }",
            json!({"name": "Contoso MSP"}),
        )
        .await;
    let ws = &data["createWorkspace"];
    assert_eq!(ws["name"], "Contoso MSP");
    assert_eq!(ws["viewerRole"], "OWNER");
    let ws_id = ws["id"].as_str().expect("id").to_owned();

    let data = app
        .gql_ok(
            &token,
            "mutation($ws: ID!) { createTenant(input: {workspaceId: $ws, name: \"Fabrikam\", kind: INTUNE, externalRef: \"fabrikam.onmicrosoft.com\"}) { id name kind externalRef workspace { id } } }",
            json!({"ws": ws_id}),
        )
        .await;
    let tenant = &data["createTenant"];
    assert_eq!(tenant["name"], "Fabrikam");
    assert_eq!(tenant["kind"], "INTUNE");
    assert_eq!(tenant["workspace"]["id"], ws_id.as_str());
    let tenant_id = tenant["id"].as_str().expect("id").to_owned();

    let data = app
        .gql_ok(
            &token,
            r#"query($ws: ID!, $t: ID!) {
                viewer { email }
                workspace(id: $ws) { name tenants { totalCount edges { node { id name } } } }
                tenant(id: $t) { name externalRef }
                workspaces { totalCount edges { node { id } } }
                tenants(workspaceId: $ws) { totalCount edges { cursor node { name } } pageInfo { hasNextPage } }
                node(id: $t) { id ... on Tenant { name } }
            }"#,
            json!({"ws": ws_id, "t": tenant_id}),
        )
        .await;
    assert_eq!(data["viewer"]["email"], "ops@example.com");
    assert_eq!(data["workspace"]["name"], "Contoso MSP");
    assert_eq!(data["workspace"]["tenants"]["totalCount"], 1);
    assert_eq!(
        data["workspace"]["tenants"]["edges"][0]["node"]["id"],
        tenant_id.as_str()
    );
    assert_eq!(data["tenant"]["externalRef"], "fabrikam.onmicrosoft.com");
    assert_eq!(data["workspaces"]["totalCount"], 1);
    assert_eq!(data["workspaces"]["edges"][0]["node"]["id"], ws_id.as_str());
    assert_eq!(data["tenants"]["edges"][0]["node"]["name"], "Fabrikam");
    assert_eq!(data["tenants"]["pageInfo"]["hasNextPage"], false);
    assert_eq!(data["node"]["name"], "Fabrikam");

    // Each mutation left one sanitized audit entry.
    let entries = audit_log::Entity::find()
        .order_by_asc(audit_log::Column::Id)
        .all(&app.db)
        .await
        .expect("audit");
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["workspace.create", "tenant.create"]);
    for entry in &entries {
        assert!(
            !entry.metadata.to_string().contains("dre_"),
            "no token in audit metadata"
        );
        assert!(entry.actor_user_id.is_some());
    }
}

/// Keyset pagination walks forward and back without gaps or repeats.
#[tokio::test]
async fn tenants_paginate_forward_and_backward() {
    let app = TestApp::spawn().await;
    let (_, token) = app.user("pager@example.com").await;
    let ws = app
        .gql_ok(
            &token,
            "mutation { createWorkspace(input: {name: \"P\"}) { id } }",
            json!({}),
        )
        .await["createWorkspace"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    for i in 0..5 {
        app.gql_ok(
            &token,
            "mutation($ws: ID!, $n: String!) { createTenant(input: {workspaceId: $ws, name: $n}) { id } }",
            json!({"ws": ws, "n": format!("t{i}")}),
        )
        .await;
    }
    let page = |first: i32, after: Option<String>| {
        let ws = ws.clone();
        let app = &app;
        let token = token.clone();
        async move {
            app.gql_ok(
                &token,
                "query($ws: ID!, $first: Int, $after: String) { tenants(workspaceId: $ws, first: $first, after: $after) { totalCount edges { cursor node { name } } pageInfo { hasNextPage hasPreviousPage endCursor } } }",
                json!({"ws": ws, "first": first, "after": after}),
            )
            .await["tenants"]
                .clone()
        }
    };
    let p1 = page(2, None).await;
    assert_eq!(p1["totalCount"], 5);
    assert_eq!(p1["edges"].as_array().map(Vec::len), Some(2));
    assert_eq!(p1["pageInfo"]["hasNextPage"], true);
    let p2 = page(2, p1["pageInfo"]["endCursor"].as_str().map(String::from)).await;
    let p3 = page(2, p2["pageInfo"]["endCursor"].as_str().map(String::from)).await;
    assert_eq!(p3["pageInfo"]["hasNextPage"], false);
    let names: Vec<String> = [&p1, &p2, &p3]
        .iter()
        .flat_map(|p| p["edges"].as_array().cloned().unwrap_or_default())
        .map(|e| e["node"]["name"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(names, ["t0", "t1", "t2", "t3", "t4"]);

    let back = app
        .gql_ok(
            &token,
            "query($ws: ID!, $before: String) { tenants(workspaceId: $ws, last: 2, before: $before) { edges { node { name } } pageInfo { hasPreviousPage } } }",
            json!({"ws": ws, "before": p3["edges"][0]["cursor"]}),
        )
        .await;
    let names: Vec<&str> = back["tenants"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .filter_map(|e| e["node"]["name"].as_str())
        .collect();
    assert_eq!(names, ["t2", "t3"]);
    assert_eq!(back["tenants"]["pageInfo"]["hasPreviousPage"], true);
}
