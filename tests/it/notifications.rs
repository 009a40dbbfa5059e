//! Notifications through the real server to a webhook receiver of this
//! test's own (axum on 127.0.0.1:0): signed deliveries, one per change of
//! drift and none for the same drift seen again, retries of a target that
//! answers 500, and channels whose target and secret are write-only.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hmac::Mac as _;
use serde_json::{Value, json};

use crate::common::{TestApp, error_code};
use crate::connections::test_key;
use crate::drift::{Policy, Scenario};

const SECRET: &str = "whsec-test-0123456789abcdef";

/// What the receiver got, and what it answers next.
#[derive(Default)]
struct Received {
    /// (signature header, body) of each request, in order.
    requests: Vec<(Option<String>, Vec<u8>)>,
    /// Statuses to answer, first to last; 200 once used up.
    answers: Vec<u16>,
}

struct Receiver {
    url: String,
    state: Arc<Mutex<Received>>,
}

async fn receive(
    State(state): State<Arc<Mutex<Received>>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let mut r = state.lock().expect("state");
    let signature = headers
        .get("x-drift-signature")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    r.requests.push((signature, body.to_vec()));
    let status = if r.answers.is_empty() {
        200
    } else {
        r.answers.remove(0)
    };
    StatusCode::from_u16(status).expect("status")
}

impl Receiver {
    async fn start(answers: Vec<u16>) -> Self {
        let state = Arc::new(Mutex::new(Received {
            requests: Vec::new(),
            answers,
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the receiver");
        let url = format!(
            "http://{}/hooks/drift",
            listener.local_addr().expect("addr")
        );
        let app = axum::Router::new()
            .route("/hooks/drift", post(receive))
            .with_state(state.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { url, state }
    }

    fn requests(&self) -> Vec<(Option<String>, Vec<u8>)> {
        self.state.lock().expect("state").requests.clone()
    }

    /// Waits until `n` requests arrived (and a little more, for extras).
    async fn wait_for(&self, n: usize) -> Vec<(Option<String>, Vec<u8>)> {
        for _ in 0..200 {
            if self.requests().len() >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.requests()
    }
}

/// Checks a Stripe-style signature the way a receiver would.
fn verify(signature: &str, body: &[u8]) -> bool {
    let mut t = None;
    let mut v1 = None;
    for part in signature.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => t = Some(value.to_owned()),
            Some(("v1", value)) => v1 = Some(value.to_owned()),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    let Ok(expected) = hex::decode(v1) else {
        return false;
    };
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).expect("key");
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

fn policy(min_length: i64) -> Vec<Policy> {
    vec![(
        "deviceConfigurations".into(),
        "dc-1".into(),
        json!({"@odata.type": "#microsoft.graph.windows10GeneralConfiguration",
               "displayName": "Passwords", "passwordMinimumLength": min_length,
               "description": "kept in the baseline"}),
    )]
}

async fn scenario() -> Scenario {
    scenario_with_smtp(None).await
}

async fn scenario_with_smtp(smtp_url: Option<String>) -> Scenario {
    let app = TestApp::spawn_with(|c| {
        c.secret_key = Some(test_key());
        c.delivery.smtp = smtp_url.map(|url| drift_engine::delivery::deliver::SmtpSettings {
            url,
            from: "drift-engine <drift@ops.example>".into(),
        });
        c.delivery.interval = Duration::from_millis(50);
        c.delivery.backoff_base = Duration::from_millis(100);
        c.delivery.timeout = Duration::from_secs(5);
    })
    .await;
    let s = Scenario::new(app, json!({"captureMode": "OPPORTUNISTIC"})).await;
    s.sync(&s.source, &policy(8), &[]).await;
    s.versions(&s.source, &policy(8)).await;
    s.capture().await;
    s.sync(&s.target, &policy(8), &[]).await;
    s
}

/// `createNotificationChannel` with `base` and `input` merged is refused
/// with BAD_USER_INPUT, saying `says`.
async fn assert_refused(s: &Scenario, base: Value, input: Value, says: &str) {
    let mut i = base;
    for (k, v) in input.as_object().expect("an object") {
        i[k] = v.clone();
    }
    let body = s
        .app
        .gql(
            Some(&s.token),
            "mutation($i: CreateNotificationChannelInput!) { createNotificationChannel(input: $i) { id } }",
            json!({"i": i}),
        )
        .await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{input}: {body}");
    let message = body["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains(says), "{input}: {message}");
}

/// `testNotificationChannel`'s answer for `channel`.
async fn test_channel(s: &Scenario, channel: &Value) -> Value {
    s.app
        .gql_ok(
            &s.token,
            "mutation($id: ID!) { testNotificationChannel(input: {id: $id}) { delivered httpStatus error } }",
            json!({"id": channel["id"]}),
        )
        .await["testNotificationChannel"]
        .clone()
}

/// Every stored channel and audit entry, as text, to search for what must
/// not be there.
async fn stored_channels_and_audit(s: &Scenario) -> String {
    format!(
        "{:?}{:?}",
        <entity::notification_channel::Entity as sea_orm::EntityTrait>::find()
            .all(&s.app.db)
            .await
            .expect("channels"),
        <entity::audit_log::Entity as sea_orm::EntityTrait>::find()
            .all(&s.app.db)
            .await
            .expect("audit")
    )
}

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

async fn create_channel(s: &Scenario, url: &str) -> Value {
    let ws = workspace_of(s).await;
    s.app
        .gql_ok(
            &s.token,
            "mutation($i: CreateNotificationChannelInput!) { createNotificationChannel(input: $i) {
                id name kind targetHost hasSecret minSeverity findingTypes tenantIds } }",
            json!({"i": {"workspaceId": ws, "name": "SOC", "kind": "WEBHOOK", "target": url, "secret": SECRET}}),
        )
        .await["createNotificationChannel"]
        .clone()
}

#[tokio::test]
async fn a_webhook_gets_one_signed_notification_per_change_of_drift() {
    let s = scenario().await;
    let receiver = Receiver::start(vec![]).await;
    let channel = create_channel(&s, &receiver.url).await;
    assert_eq!(channel["hasSecret"], true);
    assert!(
        receiver
            .url
            .contains(channel["targetHost"].as_str().expect("host")),
        "{channel}"
    );
    // No drift yet: nothing to say.
    s.versions(&s.target, &policy(8)).await;
    s.compare().await;
    assert!(receiver.wait_for(1).await.is_empty());

    // A new drift: one notification, signed, naming the path, not the values.
    s.versions(&s.target, &policy(4)).await;
    s.compare().await;
    let got = receiver.wait_for(1).await;
    assert_eq!(got.len(), 1, "one notification for the new drift");
    let (signature, body) = &got[0];
    let signature = signature.as_deref().expect("signed");
    assert!(verify(signature, body), "the signature checks: {signature}");
    let mut forged = body.clone();
    forged.push(b' ');
    assert!(
        !verify(signature, &forged),
        "and would not for another body"
    );
    let payload: Value = serde_json::from_slice(body).expect("json");
    assert_eq!(payload["version"], 1);
    assert_eq!(payload["event"], "drift.changed");
    assert_eq!(
        payload["counts"],
        json!({"new": 1, "resolved": 0, "open": 1})
    );
    assert_eq!(payload["findings"][0]["display_name"], "Passwords");
    assert_eq!(
        payload["findings"][0]["paths"],
        json!(["passwordMinimumLength"])
    );
    let text = String::from_utf8_lossy(body);
    assert!(
        !text.contains("kept in the baseline") && !text.contains(SECRET),
        "no setting values or secrets: {text}"
    );

    // The same drift seen again: nothing.
    s.compare().await;
    assert_eq!(
        receiver.wait_for(2).await.len(),
        1,
        "none for the same drift"
    );

    // Resolved: one more, saying so.
    s.versions(&s.target, &policy(8)).await;
    s.compare().await;
    let got = receiver.wait_for(2).await;
    assert_eq!(got.len(), 2, "one when it is resolved");
    let payload: Value = serde_json::from_slice(&got[1].1).expect("json");
    assert_eq!(
        payload["counts"],
        json!({"new": 0, "resolved": 1, "open": 0})
    );

    // The deliveries as the API shows them; target and secret never.
    let data = s
        .app
        .gql_ok(
            &s.token,
            "query($id: ID!) { node(id: $id) { ... on NotificationChannel { deliveries { totalCount edges { node {
                status attempts lastError deliveredAt run { type } } } } } } }",
            json!({"id": channel["id"]}),
        )
        .await;
    let deliveries = &data["node"]["deliveries"];
    assert_eq!(deliveries["totalCount"], 2, "{data}");
    for edge in deliveries["edges"].as_array().expect("edges") {
        assert_eq!(edge["node"]["status"], "DELIVERED");
        assert_eq!(edge["node"]["attempts"], 1);
        assert_eq!(edge["node"]["run"]["type"], "BASELINE_COMPARE");
    }
    let stored = stored_channels_and_audit(&s).await;
    assert!(
        !stored.contains(SECRET) && !stored.contains("/hooks/drift"),
        "sealed: {stored}"
    );
}

#[tokio::test]
async fn a_target_that_fails_twice_gets_the_delivery_on_the_third_attempt() {
    let s = scenario().await;
    let receiver = Receiver::start(vec![500, 503]).await;
    let channel = create_channel(&s, &receiver.url).await;
    s.versions(&s.target, &policy(4)).await;
    let done = s.compare().await;
    assert_eq!(
        done["outcome"], "SUCCEEDED",
        "a dead target never holds a compare"
    );
    let got = receiver.wait_for(3).await;
    assert_eq!(got.len(), 3, "two failures, then the delivery");
    assert_eq!(got[0].1, got[2].1, "the same notification each time");
    let data = s
        .app
        .gql_ok(
            &s.token,
            "query($id: ID!) { node(id: $id) { ... on NotificationChannel { deliveries { edges { node {
                status attempts lastError deliveredAt } } } } } }",
            json!({"id": channel["id"]}),
        )
        .await;
    let delivery = &data["node"]["deliveries"]["edges"][0]["node"];
    assert_eq!(delivery["status"], "DELIVERED", "{data}");
    assert_eq!(delivery["attempts"], 3);
    assert!(delivery["lastError"].is_null());
}

#[tokio::test]
async fn channels_refuse_bad_input_and_test_sends_once() {
    let s = scenario().await;
    let receiver = Receiver::start(vec![]).await;
    let ws = workspace_of(&s).await;
    for (input, says) in [
        (
            json!({"kind": "WEBHOOK", "target": receiver.url}),
            "needs a secret",
        ),
        (
            json!({"kind": "WEBHOOK", "target": "ftp://x.example/", "secret": SECRET}),
            "http or https",
        ),
        (json!({"kind": "SLACK", "target": "not a url"}), "not a URL"),
        (
            json!({"kind": "WEBHOOK", "target": receiver.url, "secret": "short"}),
            "16 to 512",
        ),
        (
            json!({"kind": "EMAIL", "target": "soc@contoso.example"}),
            "no SMTP relay",
        ),
    ] {
        assert_refused(&s, json!({"workspaceId": ws, "name": "x"}), input, says).await;
    }
    let channel = create_channel(&s, &receiver.url).await;
    assert_eq!(
        test_channel(&s, &channel).await,
        json!({"delivered": true, "httpStatus": 200, "error": null})
    );
    let got = receiver.wait_for(1).await;
    assert_eq!(got.len(), 1);
    let payload: Value = serde_json::from_slice(&got[0].1).expect("json");
    assert_eq!(payload["event"], "test");
    assert!(verify(got[0].0.as_deref().expect("signed"), &got[0].1));
}

#[tokio::test]
async fn an_email_channel_gets_drift_through_smtp_and_a_451_is_tried_again() {
    let relay = crate::smtp_server::SmtpServer::start(&["451 4.3.0 Try again later"]).await;
    let s = scenario_with_smtp(Some(relay.url.clone())).await;
    let ws = workspace_of(&s).await;
    let create =
        "mutation($i: CreateNotificationChannelInput!) { createNotificationChannel(input: $i) {
        id kind targetHost hasSecret } }";
    for (input, says) in [
        (
            json!({"target": "soc@contoso.example, not-an-address"}),
            "not an email address",
        ),
        (json!({"target": " , "}), "1 to 20 addresses"),
        (
            json!({"target": "soc@contoso.example", "secret": SECRET}),
            "has no secret",
        ),
    ] {
        let base = json!({"workspaceId": ws, "name": "mail", "kind": "EMAIL"});
        assert_refused(&s, base, input, says).await;
    }
    let channel = s
        .app
        .gql_ok(
            &s.token,
            create,
            json!({"i": {"workspaceId": ws, "name": "SOC mail", "kind": "EMAIL",
                         "target": "soc@contoso.example,lead@fabrikam.example"}}),
        )
        .await["createNotificationChannel"]
        .clone();
    assert_eq!(
        channel,
        json!({"id": channel["id"], "kind": "EMAIL",
               "targetHost": "contoso.example, fabrikam.example", "hasSecret": false})
    );

    s.versions(&s.target, &policy(4)).await;
    assert_eq!(s.compare().await["outcome"], "SUCCEEDED");
    let mails = relay.wait_for(1).await;
    assert_eq!(relay.refused(), 1, "the relay said 451 once");
    assert_eq!(mails.len(), 1, "then took the message: {mails:?}");
    let mail = &mails[0];
    assert_eq!(mail.from, "drift@ops.example");
    assert_eq!(mail.to, ["soc@contoso.example", "lead@fabrikam.example"]);
    assert!(mail.data.contains("Subject: Drift on "), "{}", mail.data);
    assert!(
        mail.data.contains("1 new, 0 resolved, 1 open"),
        "{}",
        mail.data
    );
    assert!(
        mail.data.contains("    passwordMinimumLength"),
        "{}",
        mail.data
    );
    assert!(
        !mail.data.contains("kept in the baseline"),
        "no setting values: {}",
        mail.data
    );

    let data = s
        .app
        .gql_ok(
            &s.token,
            "query($id: ID!) { node(id: $id) { ... on NotificationChannel { deliveries { edges { node {
                status attempts lastError } } } } } }",
            json!({"id": channel["id"]}),
        )
        .await;
    assert_eq!(
        data["node"]["deliveries"]["edges"][0]["node"],
        json!({"status": "DELIVERED", "attempts": 2, "lastError": null}),
        "{data}"
    );
    let stored = stored_channels_and_audit(&s).await;
    assert!(
        !stored.contains("soc@contoso"),
        "addresses are sealed: {stored}"
    );

    // The test mutation answers with the relay's reply code.
    assert_eq!(
        test_channel(&s, &channel).await,
        json!({"delivered": true, "httpStatus": 250, "error": null})
    );
    assert_eq!(relay.wait_for(2).await.len(), 2);
}
