//! Automatic persisted queries over the real server, as Apollo Client's
//! persisted-queries link speaks them: an unknown hash, the registration,
//! the hash alone over POST and GET, and what is refused.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::common::TestApp;

const QUERY: &str = "query Me { viewer { email } }";

fn ext(hash: &str) -> Value {
    json!({"persistedQuery": {"version": 1, "sha256Hash": hash}})
}

async fn post(app: &TestApp, token: &str, body: Value) -> (u16, Value) {
    let response = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("answer");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON"))
}

#[tokio::test]
async fn a_persisted_query_round_trips_by_hash_over_post_and_get() {
    let app = TestApp::spawn().await;
    let (_, token) = app.user("apq@example.com").await;
    let hash = hex::encode(Sha256::digest(QUERY));

    // Unknown: Apollo's error, so the client sends the query.
    let (status, body) = post(&app, &token, json!({"extensions": ext(&hash)})).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["errors"][0]["message"], "PersistedQueryNotFound",
        "{body}"
    );
    assert_eq!(
        body["errors"][0]["extensions"]["code"],
        "PERSISTED_QUERY_NOT_FOUND"
    );

    // The query with its hash runs and registers it.
    let (status, body) = post(
        &app,
        &token,
        json!({"query": QUERY, "extensions": ext(&hash)}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["viewer"]["email"], "apq@example.com", "{body}");

    // Then the hash alone, over POST and over GET.
    let (_, by_hash) = post(&app, &token, json!({"extensions": ext(&hash)})).await;
    assert_eq!(by_hash, body);
    let response = app
        .client
        .get(app.url("/graphql"))
        .query(&[("extensions", ext(&hash).to_string())])
        .bearer_auth(&token)
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.expect("JSON"), body);

    // A hash that is not the query's, a bad version, a bad hash.
    for (request, says) in [
        (
            json!({"query": "{ viewer { id } }", "extensions": ext(&hash)}),
            "does not match",
        ),
        (
            json!({"extensions": {"persistedQuery": {"version": 2, "sha256Hash": hash}}}),
            "version",
        ),
        (json!({"extensions": ext("abc")}), "64 hexadecimal"),
    ] {
        let (status, body) = post(&app, &token, request.clone()).await;
        assert_eq!(status, 400, "{request}");
        assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .unwrap_or_default()
                .contains(says),
            "{body}"
        );
    }

    // A mutation registered over POST is still refused over GET by hash.
    let mutation = "mutation { createWorkspace(input: {name: \"by hash\"}) { id } }";
    let m_hash = hex::encode(Sha256::digest(mutation));
    let (_, created) = post(
        &app,
        &token,
        json!({"query": mutation, "extensions": ext(&m_hash)}),
    )
    .await;
    assert!(
        created["data"]["createWorkspace"]["id"].is_string(),
        "{created}"
    );
    let response = app
        .client
        .get(app.url("/graphql"))
        .query(&[("extensions", ext(&m_hash).to_string())])
        .bearer_auth(&token)
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status(), 405);
}
