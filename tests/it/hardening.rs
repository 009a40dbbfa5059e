//! A hostile client's requests: documents that expand exponentially, batches
//! without end, oversized answers, WebSocket handshakes that never finish.
//! Each answers at once with a stable `extensions.code`.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::common::{TestApp, error_code};
use crate::subscription::{Socket, open_socket};

/// `{ ...Cn }` where each fragment spreads the one before it twice: 1.8 KB
/// at n = 30 that expands to 2^31 selections.
pub fn fragment_bomb(n: usize) -> String {
    let mut q = format!("{{ ...C{n} }} fragment C0 on Query {{ viewer {{ email }} }}");
    for i in 1..=n {
        q.push_str(&format!(
            " fragment C{i} on Query {{ a: viewer {{ id }} ...C{p} ...C{p} }}",
            p = i - 1
        ));
    }
    q
}

async fn post(app: &TestApp, token: Option<&str>, body: &Value) -> (u16, Value) {
    let mut request = app.client.post(app.url("/graphql")).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("sent");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON"))
}

#[tokio::test]
async fn documents_that_expand_are_refused_before_validation() {
    let app = TestApp::spawn_with(|c| c.workers.count = 0).await;
    let (_, token) = app.user("bomb@example.com").await;
    for token in [None, Some(token.as_str())] {
        let body = app.gql(token, &fragment_bomb(30), json!({})).await;
        assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
        let message = body["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.contains("too complex"), "{message}");
        assert!(body["data"].is_null(), "{body}");
    }
    let body = app
        .gql(
            None,
            "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");

    // Without a token, documents and bodies are held to tighter limits.
    let many = format!("{{ {} }}", "__typename ".repeat(2_500));
    let body = app.gql(None, &many, json!({})).await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("tokens")
    );
    let (status, body) = post(
        &app,
        None,
        &json!({"query": "{ __typename }", "variables": {"pad": "x".repeat(70_000)}}),
    )
    .await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"));
    // The same document and body with a token are within its limits.
    let body = app.gql(Some(&token), &many, json!({})).await;
    assert!(body.get("errors").is_none(), "{body}");
    let (status, _) = post(
        &app,
        Some(&token),
        &json!({"query": "{ __typename }", "variables": {"pad": "x".repeat(70_000)}}),
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn batches_are_capped_in_length_and_in_complexity_as_a_whole() {
    let app = TestApp::spawn_with(|c| c.workers.count = 0).await;
    let (_, token) = app.user("batch@example.com").await;
    let (ws, _) = app.workspace_with_tenant(&token).await;
    let query = json!({
        "query": "query($ws: ID!) { tenants(workspaceId: $ws, first: 500) { edges { cursor node { id name kind workspace { id name } } } } }",
        "variables": {"ws": ws},
    });
    let (status, body) = post(&app, Some(&token), &query).await;
    assert_eq!(status, 200);
    assert!(
        body.get("errors").is_none(),
        "one is within the limit: {body}"
    );

    let eleven = Value::Array(vec![query.clone(); 11]);
    let (status, body) = post(&app, Some(&token), &eleven).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"));
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("at most 10")
    );

    let ten = Value::Array(vec![query.clone(); 10]);
    let (status, body) = post(&app, Some(&token), &ten).await;
    assert_eq!(status, 200);
    let answers = body.as_array().expect("a batch answer");
    assert_eq!(answers.len(), 10);
    assert!(
        answers[0].get("errors").is_none(),
        "the first fits: {}",
        answers[0]
    );
    let refused: Vec<&Value> = answers
        .iter()
        .filter(|a| a.get("errors").is_some())
        .collect();
    assert!(!refused.is_empty(), "ten together exceed the budget");
    for answer in refused {
        assert_eq!(error_code(answer), Some("BAD_USER_INPUT"), "{answer}");
        assert!(
            answer["errors"][0]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("batch is too complex"),
            "{answer}"
        );
    }
}

#[tokio::test]
async fn an_answer_past_the_byte_budget_is_refused() {
    let app = TestApp::spawn_with(|c| {
        c.workers.count = 0;
        c.max_response_bytes = 2_000;
    })
    .await;
    let (_, token) = app.user("bytes@example.com").await;
    let body = app
        .gql(Some(&token), "{ viewer { email } }", json!({}))
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    let body = app
        .gql(
            Some(&token),
            "{ __schema { types { name description } } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("2000 bytes")
    );
}

/// The close code the server ends the socket with.
async fn closed_with(socket: &mut Socket) -> Option<u16> {
    loop {
        match tokio::time::timeout(Duration::from_secs(30), socket.next()).await {
            Ok(Some(Ok(Message::Close(frame)))) => return frame.map(|f| u16::from(f.code)),
            Ok(Some(Ok(_))) => continue,
            _ => return None,
        }
    }
}

#[tokio::test]
async fn websocket_handshakes_follow_graphql_transport_ws() {
    let app = TestApp::spawn_with(|c| {
        c.workers.count = 0;
        c.ws_init_timeout = Duration::from_secs(1);
    })
    .await;
    let (_, token) = app.user("ws@example.com").await;
    let init = |payload: Value| {
        Message::text(json!({"type": "connection_init", "payload": payload}).to_string())
    };

    // Never initialised: 4408 once the timeout passes.
    let mut socket = open_socket(&app).await;
    assert_eq!(closed_with(&mut socket).await, Some(4408));

    // Initialised without a token, or with a bad one: 4403.
    for payload in [
        json!({}),
        json!({"Authorization": "Bearer dre_nope"}),
        json!({"Authorization": "Basic x"}),
    ] {
        let mut socket = open_socket(&app).await;
        socket.send(init(payload.clone())).await.expect("init");
        assert_eq!(closed_with(&mut socket).await, Some(4403), "{payload}");
    }
    let mut socket = open_socket(&app).await;
    socket
        .send(Message::text(r#"{"type":"connection_init"}"#))
        .await
        .expect("init");
    assert_eq!(closed_with(&mut socket).await, Some(4403));

    // A subscribe before connection_init: 4401.
    let mut socket = open_socket(&app).await;
    socket
        .send(Message::text(
            json!({"id": "1", "type": "subscribe", "payload": {"query": "subscription { operationRun(id: \"x\") { id } }"}}).to_string(),
        ))
        .await
        .expect("subscribe");
    assert_eq!(closed_with(&mut socket).await, Some(4401));

    // A good token is acknowledged.
    let mut socket = open_socket(&app).await;
    socket
        .send(init(json!({"Authorization": format!("Bearer {token}")})))
        .await
        .expect("init");
    let ack = tokio::time::timeout(Duration::from_secs(30), socket.next())
        .await
        .expect("in time")
        .expect("a message")
        .expect("ok");
    let ack: Value = serde_json::from_str(ack.to_text().expect("text")).expect("JSON");
    assert_eq!(ack["type"], "connection_ack");
}

/// Identical mutations sent at the same moment answer as sequential ones
/// would: the result, or CONFLICT; never INTERNAL, never a deadlock.
#[tokio::test]
async fn concurrent_duplicates_answer_like_sequential_ones() {
    let app = TestApp::spawn_with(|c| c.workers.count = 0).await;
    let s = crate::drift::Scenario::new(
        app,
        json!({"scope": {"policyTypes": ["deviceConfigurations"]}}),
    )
    .await;
    let app = &s.app;

    let assign = "mutation($p: ID!, $t: ID!) { assignBaselineProfile(input: {baselineProfileId: $p, tenantId: $t}) { id } }";
    let answers = futures_util::future::join_all((0..20).map(|_| {
        app.gql(
            Some(&s.token),
            assign,
            json!({"p": s.profile, "t": s.source}),
        )
    }))
    .await;
    for body in &answers {
        assert!(body.get("errors").is_none(), "{body}");
        assert_eq!(
            body["data"]["assignBaselineProfile"]["id"],
            json!(s.profile)
        );
    }

    // The same 300 items in ten different orders.
    let items: Vec<Value> = (0..300)
        .map(|i| json!({
            "policyType": "deviceConfigurations",
            "externalId": format!("p{i:03}"),
            "displayName": format!("Policy {i}"),
            "meta": {"@odata.type": "#microsoft.graph.windows10GeneralConfiguration", "displayName": format!("Policy {i}")},
        }))
        .collect();
    let sync =
        "mutation($i: RecordInventorySyncInput!) { recordInventorySync(input: $i) { id outcome } }";
    let answers = futures_util::future::join_all((0..10).map(|k| {
        let mut order = items.clone();
        order.rotate_left(k * 29);
        if k % 2 == 1 {
            order.reverse();
        }
        let input = json!({
            "tenantId": s.target,
            "policyTypes": [{"policyType": "deviceConfigurations", "status": "SUCCEEDED"}],
            "items": order,
        });
        app.gql(Some(&s.token), sync, json!({"i": input}))
    }))
    .await;
    for body in &answers {
        assert!(body.get("errors").is_none(), "{body}");
        assert_eq!(body["data"]["recordInventorySync"]["outcome"], "SUCCEEDED");
    }

    let workspace = app
        .gql_ok(
            &s.token,
            "{ workspaces { edges { node { id } } } }",
            json!({}),
        )
        .await["workspaces"]["edges"][0]["node"]["id"]
        .clone();
    let add = "mutation($ws: ID!) { addWorkspaceMember(input: {workspaceId: $ws, email: \"twin@example.com\", role: READER}) { id } }";
    let answers = futures_util::future::join_all(
        (0..8).map(|_| app.gql(Some(&s.token), add, json!({"ws": workspace}))),
    )
    .await;
    let added = answers.iter().filter(|b| b.get("errors").is_none()).count();
    assert_eq!(added, 1, "one request adds the member: {answers:#?}");
    for body in answers.iter().filter(|b| b.get("errors").is_some()) {
        assert_eq!(error_code(body), Some("CONFLICT"), "{body}");
    }
}

/// JSON text for a leaf: values that are fine, values PostgreSQL cannot
/// hold (NUL), values serde_json refuses (lone surrogates, 1e400), and
/// numbers at the edges of f64 that must come back exactly.
fn poison_leaf() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    prop::sample::select(vec![
        r#""plain""#,
        r#""caf\u00e9 \ud83d\ude00""#,
        r#""a\u0000b""#,
        r#""\ud800""#,
        r#""x\udc00""#,
        "1.7976931348623157e308",
        "-1.7976931348623157e308",
        "5e-324",
        "-4.9e-324",
        "2.2250738585072014e-308",
        "-0.0",
        "-0",
        "0",
        "1e400",
        "-1e400",
        "12345678901234567890123",
        "18446744073709551615",
        "-9223372036854775808",
        "0.1",
        "1e-7",
        "123456789.123456789",
        "true",
        "null",
    ])
    .prop_map(str::to_owned)
}

/// An object as raw text, with repeated keys (the last one counts, as
/// serde_json reads them) and a key that holds a NUL now and then.
fn poison_object() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    let key = prop::sample::select(vec!["a", "b", "a", "displayName", r#"k\u0000"#]);
    let value = poison_leaf().prop_recursive(3, 24, 4, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec(
                (
                    prop::sample::select(vec!["a", "b", "a", r#"k\u0000"#]),
                    inner
                ),
                0..4
            )
            .prop_map(|kv| format!(
                "{{{}}}",
                kv.iter()
                    .map(|(k, v)| format!("\"{k}\":{v}"))
                    .collect::<Vec<_>>()
                    .join(",")
            )),
        ]
    });
    prop::collection::vec((key, value), 0..6).prop_map(|kv| {
        let fields: Vec<String> = kv.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
        format!(
            "{{\"@odata.type\":\"#microsoft.graph.example\",{}}}",
            fields.join(",")
        )
        .replace(",}", "}")
    })
}

fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
        _ => false,
    }
}

/// Ingestion of hostile documents through the real HTTP server: never
/// INTERNAL; what serde_json or PostgreSQL cannot hold is refused as
/// BAD_USER_INPUT; every accepted document reads back equal, raw and
/// normalized, as content and as inventory meta.
#[tokio::test]
async fn hostile_documents_are_refused_or_read_back_equal() {
    use drift_engine::graphql::ids::{NodeKind, decode_as};
    use entity::{evidence_blob, inventory_item, policy_version};
    use proptest::strategy::{Strategy, ValueTree};
    use proptest::test_runner::TestRunner;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

    let app = TestApp::spawn_with(|c| c.workers.count = 0).await;
    let (_, token) = app.user("poison@example.com").await;
    let (_, tenant) = app.workspace_with_tenant(&token).await;
    let tenant_id = decode_as(&async_graphql::ID(tenant.clone()), NodeKind::Tenant).expect("id");
    let mut runner = TestRunner::deterministic();
    let (mut accepted, mut refused) = (0, 0);
    for case in 0..96 {
        let doc = poison_object()
            .new_tree(&mut runner)
            .expect("a case")
            .current();
        let external_id = format!("p{case}");
        let versions = format!(
            r#"{{"query":"mutation($i: RecordPolicyVersionsInput!) {{ recordPolicyVersions(input: $i) {{ id }} }}","variables":{{"i":{{"tenantId":"{tenant}","capturedAt":"2026-11-30T10:00:00Z","versions":[{{"policyType":"deviceConfigurations","externalId":"{external_id}","content":{doc}}}]}}}}}}"#
        );
        let sync = format!(
            r#"{{"query":"mutation($i: RecordInventorySyncInput!) {{ recordInventorySync(input: $i) {{ id }} }}","variables":{{"i":{{"tenantId":"{tenant}","observedAt":"2026-11-30T10:00:00Z","policyTypes":[{{"policyType":"p{case}","status":"SUCCEEDED"}}],"items":[{{"policyType":"p{case}","externalId":"{external_id}","displayName":"P","meta":{doc}}}]}}}}}}"#
        );
        let expected: Option<Value> = serde_json::from_str::<Value>(&doc)
            .ok()
            .filter(|v| !holds_nul(v));
        for body in [versions, sync] {
            let response = app
                .client
                .post(app.url("/graphql"))
                .bearer_auth(&token)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .expect("sent");
            let answer: Value = response.json().await.expect("JSON");
            match (&expected, error_code(&answer)) {
                (Some(_), None) => accepted += 1,
                (None, Some("BAD_USER_INPUT")) => refused += 1,
                (_, code) => panic!(
                    "case {case}: {doc}\nexpected {}, got {code:?}: {answer}",
                    if expected.is_some() {
                        "acceptance"
                    } else {
                        "BAD_USER_INPUT"
                    }
                ),
            }
        }
        let Some(expected) = expected else { continue };
        let version = policy_version::Entity::find()
            .filter(policy_version::Column::TenantId.eq(tenant_id))
            .filter(policy_version::Column::ExternalId.eq(&external_id))
            .one(&app.db)
            .await
            .expect("reads back")
            .expect("stored");
        assert_eq!(version.content, expected, "case {case}: raw content, {doc}");
        let normalized =
            drift_engine::evidence::normalize::normalize("deviceConfigurations", &expected)
                .expect("normalizes");
        assert_eq!(
            version.content_hash.as_deref(),
            Some(normalized.hash.as_str())
        );
        let blob = evidence_blob::Entity::find_by_id(normalized.hash.clone())
            .one(&app.db)
            .await
            .expect("reads back")
            .expect("stored");
        // A blob is the canonical form (JCS writes -0.0 as 0), so it reads
        // back as the same canonical bytes.
        assert_eq!(
            drift_engine::evidence::hash::canonical_bytes(&blob.content),
            normalized.canonical,
            "case {case}: normalized, {doc}"
        );
        let item = inventory_item::Entity::find()
            .filter(inventory_item::Column::TenantId.eq(tenant_id))
            .filter(inventory_item::Column::PolicyType.eq(format!("p{case}")))
            .one(&app.db)
            .await
            .expect("reads back")
            .expect("stored");
        assert_eq!(item.meta_jsonb, expected, "case {case}: meta, {doc}");
    }
    assert!(
        accepted > 20 && refused > 20,
        "both kinds were tried: {accepted} accepted, {refused} refused"
    );
}

/// A settings-catalog secret (`valueState: notEncrypted` too) is redacted by
/// its type in the stored raw payload and in the blob, and a changed secret
/// is a DIFFERENT_VERSION whose change shows both sides redacted.
#[tokio::test]
async fn settings_catalog_secrets_are_never_stored_or_shown() {
    use entity::{evidence_blob, policy_version};
    use sea_orm::EntityTrait;

    let app = TestApp::spawn().await;
    let s = crate::drift::Scenario::new(
        app,
        json!({"scope": {"policyTypes": ["configurationPolicies"]}}),
    )
    .await;
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/intune/configurationPolicies/acsc/edge/policies/ACSC Edge Hardening Guidelines.json");
    let real: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("corpus file")).expect("JSON");
    let with_secret = |secret: &str| {
        let mut policy = real.clone();
        policy["settings"].as_array_mut().expect("settings").push(json!({"settingInstance": {
            "@odata.type": "#microsoft.graph.deviceManagementConfigurationSimpleSettingInstance",
            "settingDefinitionId": "device_vendor_msft_wifi_profile_presharedkey",
            "settingInstanceTemplateReference": null,
            "simpleSettingValue": {
                "@odata.type": "#microsoft.graph.deviceManagementConfigurationSecretSettingValue",
                "value": secret,
                "valueState": "notEncrypted",
                "settingValueTemplateReference": null,
            },
        }}));
        vec![(
            "configurationPolicies".to_owned(),
            "edge".to_owned(),
            policy,
        )]
    };
    let baseline = with_secret("correct horse battery staple");
    let current = with_secret("Tr0ub4dor&3");
    s.sync(&s.source, &baseline, &[]).await;
    s.versions(&s.source, &baseline).await;
    s.capture().await;
    s.sync(&s.target, &current, &[]).await;
    s.versions(&s.target, &current).await;
    s.compare().await;

    for secret in ["correct horse", "Tr0ub4dor"] {
        for version in policy_version::Entity::find()
            .all(&s.app.db)
            .await
            .expect("versions")
        {
            assert!(
                !version.content.to_string().contains(secret),
                "raw payload holds the secret"
            );
        }
        for blob in evidence_blob::Entity::find()
            .all(&s.app.db)
            .await
            .expect("blobs")
        {
            assert!(
                !blob.content.to_string().contains(secret),
                "blob holds the secret"
            );
        }
    }
    let body = s
        .app
        .gql_ok(
            &s.token,
            "query($t: ID!) { findings(tenantId: $t, first: 10) { edges { node { findingType settingChanges { changes { path change baseline current } } } } } }",
            json!({"t": s.target}),
        )
        .await;
    let text = body.to_string();
    assert!(
        !text.contains("correct horse") && !text.contains("Tr0ub4dor") && !text.contains("sha256:"),
        "{text}"
    );
    let node = &body["findings"]["edges"][0]["node"];
    assert_eq!(node["findingType"], "DIFFERENT_VERSION", "{body}");
    let changes = node["settingChanges"]["changes"]
        .as_array()
        .expect("changes");
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0]["change"], "MODIFIED");
    assert_eq!(changes[0]["baseline"], "<redacted:secret>");
    assert_eq!(changes[0]["current"], "<redacted:secret>");
    assert!(
        changes[0]["path"]
            .as_str()
            .unwrap_or_default()
            .contains("presharedkey")
    );
}

/// NOT_FOUND reads exactly the same for an object that exists in another
/// workspace as for one that does not exist, for every kind of node; and an
/// id has one spelling only.
#[tokio::test]
async fn not_found_reads_the_same_whether_the_object_exists_elsewhere_or_not() {
    use base64::Engine as _;
    use drift_engine::graphql::ids::{NodeKind, encode};
    use sea_orm::EntityTrait;

    let app = TestApp::spawn_with(|c| c.workers.count = 0).await;
    // Two workspaces on one server: the owner's and a stranger's.
    let s = crate::drift::Scenario::new(
        app,
        json!({"scope": {"policyTypes": ["deviceConfigurations"]}}),
    )
    .await;
    let policies = vec![(
        "deviceConfigurations".to_owned(),
        "p1".to_owned(),
        json!({"@odata.type": "#microsoft.graph.windows10GeneralConfiguration", "displayName": "P1"}),
    )];
    s.sync(&s.source, &policies, &[]).await;
    s.versions(&s.source, &policies).await;
    let (_, stranger) = s.app.user("stranger@example.com").await;
    s.app.workspace_with_tenant(&stranger).await;
    let item = entity::inventory_item::Entity::find()
        .one(&s.app.db)
        .await
        .expect("items")
        .expect("an item");
    let run = entity::operation_run::Entity::find()
        .one(&s.app.db)
        .await
        .expect("runs")
        .expect("a run");
    let query = "query($id: ID!) { node(id: $id) { id } }";
    let message = |body: &Value| {
        assert_eq!(error_code(body), Some("NOT_FOUND"), "{body}");
        body["errors"][0]["message"].clone()
    };
    for (kind, existing) in [
        (NodeKind::InventoryItem, item.id),
        (NodeKind::OperationRun, run.id),
        (NodeKind::Tenant, item.tenant_id),
    ] {
        let elsewhere = s
            .app
            .gql(
                Some(&stranger),
                query,
                json!({"id": encode(kind, existing).0}),
            )
            .await;
        let nowhere = s
            .app
            .gql(
                Some(&stranger),
                query,
                json!({"id": encode(kind, 9_999_999).0}),
            )
            .await;
        assert_eq!(message(&elsewhere), message(&nowhere), "{kind:?}");
    }
    // Another spelling of an existing id is no id at all.
    let padded = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(format!("Tenant:000{}", item.tenant_id));
    let body = s
        .app
        .gql(Some(&s.token), query, json!({"id": padded}))
        .await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    let body = s
        .app
        .gql(
            Some(&s.token),
            query,
            json!({"id": encode(NodeKind::Tenant, item.tenant_id).0}),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
}

/// At debug level a request is logged by its path and operation name; the
/// query string, where a GET carries its variables, never reaches the log.
#[tokio::test]
async fn debug_logs_name_the_path_and_operation_never_the_variables() {
    use tokio::io::AsyncBufReadExt as _;

    let test_db = crate::common::TestDb::new().await;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_drift-engine"))
        .args(["serve", "--bind", "127.0.0.1:0", "--workers", "0"])
        .env("DATABASE_URL", &test_db.url)
        .env("RUST_LOG", "debug")
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start drift-engine serve");
    let mut lines = tokio::io::BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut log = Vec::new();
    let address = tokio::time::timeout(Duration::from_secs(120), async {
        while let Ok(Some(line)) = lines.next_line().await {
            log.push(line.clone());
            if line.contains("drift-engine listening")
                && let Some(at) = line.split("address=").nth(1)
            {
                return at.split_whitespace().next().map(str::to_owned);
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
    .unwrap_or_else(|| panic!("the server did not come up: {log:#?}"));
    let marker = "s3cret-variable-value";
    let response = reqwest::Client::new()
        .get(format!("http://{address}/graphql"))
        .query(&[
            ("query", "query Probe($m: String) { __typename }"),
            ("operationName", "Probe"),
            ("variables", &json!({"m": marker}).to_string()),
        ])
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    let _ = response.text().await;
    // The request's last log line (the response) names the route.
    let mut request_lines = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        while let Ok(Some(line)) = lines.next_line().await {
            let done = line.contains("finished processing request");
            request_lines.push(line);
            if done {
                break;
            }
        }
    })
    .await;
    let _ = child.kill().await;
    let text = request_lines.join("\n");
    assert!(text.contains("finished processing request"), "{text}");
    assert!(text.contains("path=/graphql"), "{text}");
    assert!(text.contains("operation=Probe"), "{text}");
    assert!(
        !text.contains(marker) && !text.contains("variables"),
        "{text}"
    );
}
