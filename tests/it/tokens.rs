//! API token management through the real server and the CLI: tokens shown
//! once and listed without themselves, read-only tokens refused every
//! mutation, and revoked or expired tokens refused altogether.

use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use serde_json::{Value, json};

use crate::common::{TestApp, error_code};

const CREATE: &str = "mutation($i: CreateApiTokenInput!) { createApiToken(input: $i) {
    token apiToken { id name readOnly expiresAt revokedAt active } } }";
const LIST: &str =
    "{ viewer { apiTokens { id name readOnly expiresAt lastUsedAt revokedAt active } } }";
const MUTATE: &str = "mutation { createWorkspace(input: {name: \"W\"}) { id } }";

async fn create(app: &TestApp, token: &str, input: Value) -> (String, Value) {
    let data = app.gql_ok(token, CREATE, json!({"i": input})).await;
    let created = &data["createApiToken"];
    (
        created["token"].as_str().expect("the token").to_owned(),
        created["apiToken"].clone(),
    )
}

#[tokio::test]
async fn tokens_are_shown_once_listed_without_themselves_and_revocable() {
    let app = TestApp::spawn().await;
    let (_, owner) = app.user("tokens@example.com").await;
    let (ci, row) = create(&app, &owner, json!({"name": "ci pipeline"})).await;
    assert!(ci.starts_with("dre_"));
    assert_eq!(row["readOnly"], false);
    assert_eq!(row["active"], true);
    // The new token works, and the list never holds a token.
    app.gql_ok(&ci, MUTATE, json!({})).await;
    let list = app.gql_ok(&owner, LIST, json!({})).await;
    let text = list.to_string();
    assert!(!text.contains(&ci) && !text.contains(&owner), "{text}");
    let names: Vec<&str> = list["viewer"]["apiTokens"]
        .as_array()
        .expect("tokens")
        .iter()
        .map(|t| t["name"].as_str().expect("name"))
        .collect();
    assert!(names.contains(&"ci pipeline"), "{names:?}");

    // Someone else can neither see nor revoke it.
    let (_, stranger) = app.user("stranger@example.com").await;
    let revoke = "mutation($id: ID!) { revokeApiToken(input: {id: $id}) { revokedAt active } }";
    let body = app
        .gql(Some(&stranger), revoke, json!({"id": row["id"]}))
        .await;
    assert_eq!(error_code(&body), Some("NOT_FOUND"), "{body}");
    let theirs = app.gql_ok(&stranger, LIST, json!({})).await;
    assert!(!theirs.to_string().contains("ci pipeline"));

    // Revoked: refused at once.
    let revoked = app.gql_ok(&owner, revoke, json!({"id": row["id"]})).await;
    assert_eq!(revoked["revokeApiToken"]["active"], false);
    let body = app.gql(Some(&ci), "{ viewer { email } }", json!({})).await;
    assert_eq!(error_code(&body), Some("UNAUTHENTICATED"), "{body}");
    let audit: Vec<String> = entity::audit_log::Entity::find()
        .all(&app.db)
        .await
        .expect("audit")
        .into_iter()
        .filter(|a| a.action.starts_with("api_token."))
        .map(|a| {
            assert!(!a.metadata.to_string().contains("dre_"), "{:?}", a.metadata);
            a.action
        })
        .collect();
    assert_eq!(audit, ["api_token.create", "api_token.revoke"]);
}

#[tokio::test]
async fn a_read_only_token_reads_and_is_refused_every_mutation() {
    let app = TestApp::spawn().await;
    let (_, owner) = app.user("ro@example.com").await;
    let (read_only, row) =
        create(&app, &owner, json!({"name": "dashboard", "readOnly": true})).await;
    assert_eq!(row["readOnly"], true);
    let me = app
        .gql_ok(&read_only, "{ viewer { email } }", json!({}))
        .await;
    assert_eq!(me["viewer"]["email"], "ro@example.com");
    for mutation in [
        MUTATE,
        "mutation { createApiToken(input: {name: \"escalate\"}) { token } }",
    ] {
        let body = app.gql(Some(&read_only), mutation, json!({})).await;
        assert_eq!(error_code(&body), Some("FORBIDDEN"), "{mutation}: {body}");
    }
    // Also when the mutation is one operation of several, chosen by name.
    let body = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(&read_only)
        .json(&json!({"query": "query Read { viewer { email } } mutation Write { createWorkspace(input: {name: \"W\"}) { id } }",
                      "operationName": "Write"}))
        .send()
        .await
        .expect("request")
        .json::<Value>()
        .await
        .expect("json");
    assert_eq!(error_code(&body), Some("FORBIDDEN"), "{body}");
    let workspaces = app
        .gql_ok(&owner, "{ workspaces { totalCount } }", json!({}))
        .await;
    assert_eq!(
        workspaces["workspaces"]["totalCount"], 0,
        "nothing was created"
    );
}

#[tokio::test]
async fn an_expired_token_is_unauthenticated_and_a_past_expiry_is_refused() {
    let app = TestApp::spawn().await;
    let (_, owner) = app.user("exp@example.com").await;
    let body = app
        .gql(
            Some(&owner),
            CREATE,
            json!({"i": {"name": "old", "expiresAt": "2020-01-01T00:00:00Z"}}),
        )
        .await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    let soon = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let (token, row) = create(&app, &owner, json!({"name": "short", "expiresAt": soon})).await;
    app.gql_ok(&token, "{ viewer { email } }", json!({})).await;
    // An hour passes.
    let id = drift_engine::graphql::ids::decode_as(
        &async_graphql::ID(row["id"].as_str().expect("id").to_owned()),
        drift_engine::graphql::ids::NodeKind::ApiToken,
    )
    .expect("id");
    let stored = entity::api_token::Entity::find_by_id(id)
        .one(&app.db)
        .await
        .expect("read")
        .expect("token");
    let mut expired: entity::api_token::ActiveModel = stored.into();
    expired.expires_at = Set(Some(chrono::Utc::now() - chrono::Duration::seconds(1)));
    expired.update(&app.db).await.expect("expire");
    let body = app
        .gql(Some(&token), "{ viewer { email } }", json!({}))
        .await;
    assert_eq!(error_code(&body), Some("UNAUTHENTICATED"), "{body}");
    let list = app.gql_ok(&owner, LIST, json!({})).await;
    let short = list["viewer"]["apiTokens"]
        .as_array()
        .expect("tokens")
        .iter()
        .find(|t| t["name"] == "short")
        .cloned()
        .expect("listed");
    assert_eq!(short["active"], false);
}

#[tokio::test]
async fn the_cli_creates_read_only_tokens_that_expire() {
    let app = TestApp::spawn().await;
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_drift-engine"))
        .args([
            "token",
            "create",
            "--email",
            "cli@example.com",
            "--name",
            "reports",
            "--read-only",
            "--expires",
            "P30D",
        ])
        .env("DATABASE_URL", &app.test_db.url)
        .env("RUST_LOG", "warn")
        .output()
        .await
        .expect("run drift-engine token create");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let token = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let list = app.gql_ok(&token, LIST, json!({})).await;
    let row = &list["viewer"]["apiTokens"][0];
    assert_eq!(row["readOnly"], true);
    let expires: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(row["expiresAt"].clone()).expect("an expiry");
    let days = (expires - chrono::Utc::now()).num_hours() as f64 / 24.0;
    assert!((29.9..=30.0).contains(&days), "{days}");
    let body = app.gql(Some(&token), MUTATE, json!({})).await;
    assert_eq!(error_code(&body), Some("FORBIDDEN"), "{body}");
}
