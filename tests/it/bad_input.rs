//! Bad input gets a clear error with a stable code, never a panic, and the
//! server keeps serving afterwards.

use base64::Engine as _;
use serde_json::{Value, json};

use crate::common::{TestApp, error_code};

async fn post_raw(app: &TestApp, token: &str, body: Vec<u8>) -> (u16, Value) {
    let response = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("sent");
    let status = response.status().as_u16();
    (status, response.json().await.expect("a JSON error body"))
}

fn global_id(kind: &str, id: i64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{kind}:{id}"))
}

#[tokio::test]
async fn bad_requests_get_codes_and_the_server_survives() {
    let app = TestApp::spawn_with(|c| c.max_body_bytes = 16 * 1024).await;
    let (_, token) = app.user("fuzz@example.com").await;
    let ws = app
        .gql_ok(
            &token,
            "mutation { createWorkspace(input: {name: \"W\"}) { id } }",
            json!({}),
        )
        .await["createWorkspace"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let tenant = app
        .gql_ok(
            &token,
            "mutation($ws: ID!) { createTenant(input: {workspaceId: $ws, name: \"T\"}) { id } }",
            json!({"ws": ws}),
        )
        .await["createTenant"]["id"]
        .as_str()
        .expect("id")
        .to_owned();

    // Malformed JSON body.
    let (status, body) =
        post_raw(&app, &token, b"{\"query\": \"{ viewer { id } }\"".to_vec()).await;
    assert_eq!(status, 400);
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"));
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("not a valid GraphQL request")
    );

    // Not even JSON.
    let (status, body) = post_raw(&app, &token, vec![0xff, 0xfe, 0x00]).await;
    assert_eq!(status, 400);
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"));

    // Oversized body: 413 with a message naming the limit.
    let huge = json!({"query": "{ viewer { id } }", "variables": {"pad": "x".repeat(32 * 1024)}});
    let (status, body) = post_raw(&app, &token, serde_json::to_vec(&huge).expect("json")).await;
    assert_eq!(status, 413);
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"));
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("16384 bytes")
    );

    // An unknown (well-formed) global id.
    let body = app
        .gql(
            Some(&token),
            "query($id: ID!) { workspace(id: $id) { name } }",
            json!({"id": global_id("Workspace", 987_654)}),
        )
        .await;
    assert_eq!(error_code(&body), Some("NOT_FOUND"));
    let body = app
        .gql(
            Some(&token),
            "query($id: ID!) { node(id: $id) { id } }",
            json!({"id": global_id("Tenant", 987_654)}),
        )
        .await;
    assert_eq!(error_code(&body), Some("NOT_FOUND"));

    // An id of the wrong type.
    let body = app
        .gql(
            Some(&token),
            "query($id: ID!) { workspace(id: $id) { name } }",
            json!({"id": tenant}),
        )
        .await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"));
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("expected a Workspace id")
    );

    // Garbage ids and cursors.
    for bad in ["", "!!!", "V29ya3NwYWNlOmFiYw", &global_id("Nope", 1)] {
        let body = app
            .gql(
                Some(&token),
                "query($id: ID!) { node(id: $id) { id } }",
                json!({"id": bad}),
            )
            .await;
        assert_eq!(
            error_code(&body),
            Some("BAD_USER_INPUT"),
            "id {bad:?}: {body}"
        );
    }
    let body = app
        .gql(
            Some(&token),
            "query($ws: ID!) { tenants(workspaceId: $ws, after: \"nope\") { totalCount } }",
            json!({"ws": ws}),
        )
        .await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"));
    let body = app
        .gql(
            Some(&token),
            "query($ws: ID!) { tenants(workspaceId: $ws, first: -1) { totalCount } }",
            json!({"ws": ws}),
        )
        .await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"));
    let body = app
        .gql(
            Some(&token),
            "query($ws: ID!) { tenants(workspaceId: $ws, first: 1, last: 1) { totalCount } }",
            json!({"ws": ws}),
        )
        .await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"));

    // A query that is too deep.
    let mut deep = String::from("name");
    for _ in 0..6 {
        deep = format!("workspace {{ tenants(first: 1) {{ edges {{ node {{ {deep} }} }} }} }}");
    }
    let body = app
        .gql(
            Some(&token),
            &format!("query($t: ID!) {{ tenant(id: $t) {{ {deep} }} }}"),
            json!({"t": tenant}),
        )
        .await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("nested too deep"),
        "{body}"
    );

    // Syntax errors, unknown fields and wrong variable types.
    for (query, vars) in [
        ("{ viewer { ", json!({})),
        ("{ viewer { nope } }", json!({})),
        (
            "query($id: ID!) { workspace(id: $id) { name } }",
            json!({"id": {"an": "object"}}),
        ),
        (
            "mutation { createTenant(input: {workspaceId: \"x\", name: \"n\", kind: MAINFRAME}) { id } }",
            json!({}),
        ),
    ] {
        let body = app.gql(Some(&token), query, vars).await;
        assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{query}: {body}");
    }

    // Invalid values in otherwise valid mutations.
    let body = app
        .gql(
            Some(&token),
            "mutation { createWorkspace(input: {name: \"   \"}) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"));
    let body = app
        .gql(
            Some(&token),
            "mutation($ws: ID!) { addWorkspaceMember(input: {workspaceId: $ws, email: \"not-an-email\", role: READER}) { id } }",
            json!({"ws": ws}),
        )
        .await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"));
    let body = app
        .gql(
            Some(&token),
            "mutation($ws: ID!) { addWorkspaceMember(input: {workspaceId: $ws, email: \"fuzz@example.com\", role: READER}) { id } }",
            json!({"ws": ws}),
        )
        .await;
    assert_eq!(
        error_code(&body),
        Some("CONFLICT"),
        "adding an existing member conflicts: {body}"
    );
    let body = app
        .gql(
            Some(&token),
            "mutation($ws: ID!, $t: ID!) { addWorkspaceMember(input: {workspaceId: $ws, email: \"x@example.com\", role: READER, tenantIds: [$t]}) { id } }",
            json!({"ws": ws, "t": global_id("Tenant", 987_654)}),
        )
        .await;
    assert_eq!(
        error_code(&body),
        Some("BAD_USER_INPUT"),
        "tenants of another workspace are refused: {body}"
    );

    // Mutations over GET are refused; queries over GET work.
    let response = app
        .client
        .get(app.url("/graphql"))
        .bearer_auth(&token)
        .query(&[(
            "query",
            "mutation { createWorkspace(input: {name: \"g\"}) { id } }",
        )])
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 405);
    let body: Value = response.json().await.expect("json");
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"));
    let body: Value = app
        .client
        .get(app.url("/graphql"))
        .bearer_auth(&token)
        .query(&[("query", "{ viewer { email } }")])
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    assert_eq!(body["data"]["viewer"]["email"], "fuzz@example.com");

    // Nothing was lost and the server still answers.
    let data = app
        .gql_ok(&token, "query($ws: ID!) { workspace(id: $ws) { tenants { totalCount } members { totalCount } } }", json!({"ws": ws}))
        .await;
    assert_eq!(data["workspace"]["tenants"]["totalCount"], 1);
    assert_eq!(data["workspace"]["members"]["totalCount"], 1);
}

#[tokio::test]
async fn graphql_response_json_answers_request_errors_with_400_and_no_data() {
    let app = TestApp::spawn().await;
    let post = |accept: &'static str, query: &'static str| {
        app.client
            .post(app.url("/graphql"))
            .header("accept", accept)
            .json(&serde_json::json!({"query": query}))
            .send()
    };
    // Unparsable: a request error.
    let response = post("application/graphql-response+json", "{ viewer {")
        .await
        .expect("sent");
    assert_eq!(response.status(), 400);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap_or_default()
            .starts_with("application/graphql-response+json")
    );
    let body: serde_json::Value = response.json().await.expect("json");
    assert!(body.get("data").is_none(), "{body}");
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    // Executed, with a field error (no token): 200 with data.
    let response = post("application/graphql-response+json", "{ viewer { email } }")
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(error_code(&body), Some("UNAUTHENTICATED"), "{body}");
    assert!(body.get("data").is_some(), "{body}");
    // Plain application/json keeps 200 for every GraphQL result.
    let response = post("application/json", "{ viewer {").await.expect("sent");
    assert_eq!(response.status(), 200);
}
