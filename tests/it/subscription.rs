//! The operationRun subscription over graphql-transport-ws, following a
//! compare that another server process runs.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::common::TestApp;
use crate::drift::{Policy, Scenario};
use crate::processes::Server;

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A WebSocket to `/graphql/ws` speaking graphql-transport-ws, not yet
/// initialised.
pub async fn open_socket(app: &TestApp) -> Socket {
    let mut request = format!("{}/graphql/ws", app.base.replace("http://", "ws://"))
        .into_client_request()
        .expect("request");
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().expect("header"),
    );
    let (socket, response) = tokio_tungstenite::connect_async(request)
        .await
        .expect("connect");
    assert_eq!(
        response.headers()["sec-websocket-protocol"],
        "graphql-transport-ws"
    );
    socket
}

async fn connect(app: &TestApp, token: Option<&str>) -> Socket {
    let mut socket = open_socket(app).await;
    let payload = token.map_or(
        json!({}),
        |t| json!({"Authorization": format!("Bearer {t}")}),
    );
    socket
        .send(Message::text(
            json!({"type": "connection_init", "payload": payload}).to_string(),
        ))
        .await
        .expect("init");
    socket
}

async fn next_json(
    socket: &mut (impl StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin),
) -> Option<Value> {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(60), socket.next())
            .await
            .ok()??
            .ok()?;
        match message {
            Message::Text(text) => return serde_json::from_str(&text).ok(),
            Message::Close(_) => return None,
            _ => continue,
        }
    }
}

/// A compare of 1,200 subjects, queued while no worker runs anywhere: the
/// HTTP server has none, and the process that ran the capture is gone.
/// Start `Server::start(&s.app.test_db.url, 60)` to run it elsewhere.
pub async fn queued_compare_in_no_process() -> (Scenario, Value) {
    // This process serves HTTP only; a second process runs the jobs.
    let app = TestApp::spawn_with(|c| c.workers.count = 0).await;
    let s = Scenario::new(
        app,
        json!({"scope": {"policyTypes": ["deviceConfigurations"]}}),
    )
    .await;
    let policies: Vec<Policy> = (0..1_200)
        .map(|i| {
            (
                "deviceConfigurations".into(),
                format!("p{i:04}"),
                json!({"displayName": format!("Policy {i}"), "@odata.type": "#x"}),
            )
        })
        .collect();
    s.sync(&s.source, &policies, &[]).await;
    let mut drifted = policies.clone();
    drifted[0].2["displayName"] = json!("Edited");
    s.sync(&s.target, &drifted, &[]).await;
    let mut worker = Server::start(&s.app.test_db.url, 60);
    s.capture().await;
    worker.kill();
    let run = s.start_compare().await;
    (s, run)
}

#[tokio::test]
async fn subscription_follows_a_compare_run_in_another_process() {
    // Queued while no worker runs anywhere: the first event is QUEUED.
    let (s, run) = queued_compare_in_no_process().await;
    let mut socket = connect(&s.app, Some(&s.token)).await;
    assert_eq!(
        next_json(&mut socket).await.expect("ack")["type"],
        "connection_ack"
    );
    socket
        .send(Message::text(
            json!({"id": "1", "type": "subscribe", "payload": {
                "query": "subscription($id: ID!) { operationRun(id: $id) { id status outcome progress { done total } } }",
                "variables": {"id": run["id"]},
            }})
            .to_string(),
        ))
        .await
        .expect("subscribe");
    let first = next_json(&mut socket).await.expect("first event");
    assert_eq!(first["type"], "next", "{first}");
    assert_eq!(first["payload"]["data"]["operationRun"]["status"], "QUEUED");

    let _worker = Server::start(&s.app.test_db.url, 60);
    let mut events = vec![first["payload"]["data"]["operationRun"].clone()];
    loop {
        let message = next_json(&mut socket)
            .await
            .expect("an event or completion");
        match message["type"].as_str() {
            Some("next") => events.push(message["payload"]["data"]["operationRun"].clone()),
            Some("complete") => break,
            other => panic!("unexpected message {other:?}: {message}"),
        }
    }
    assert_follows_the_run(&events);
}

/// The events of one run, as a subscriber saw them: status never goes back,
/// and the last one is the successful completion of all 1,200 subjects.
pub fn assert_follows_the_run(events: &[Value]) {
    assert_eq!(
        events.first().map(|e| &e["status"]),
        Some(&json!("QUEUED")),
        "{events:?}"
    );
    let rank = |s: &Value| match s.as_str() {
        Some("QUEUED") => 0,
        Some("RUNNING") => 1,
        _ => 2,
    };
    let ranks: Vec<i32> = events.iter().map(|e| rank(&e["status"])).collect();
    assert!(
        ranks.windows(2).all(|w| w[0] <= w[1]),
        "status never goes back: {events:?}"
    );
    let done: Vec<i64> = events
        .iter()
        .map(|e| e["progress"]["done"].as_i64().unwrap_or_default())
        .collect();
    assert!(
        done.windows(2).all(|w| w[0] <= w[1]),
        "progress never goes back: {events:?}"
    );
    let last = events.last().expect("events");
    assert_eq!(last["status"], "COMPLETED", "{events:?}");
    assert_eq!(last["outcome"], "SUCCEEDED");
    assert_eq!(last["progress"]["done"], 1_200);
    assert!(
        events.len() >= 2,
        "queued and completed at least: {events:?}"
    );
}

#[tokio::test]
async fn subscription_requires_a_valid_token() {
    let app = TestApp::spawn().await;
    // A bad token closes the connection instead of acknowledging it.
    let mut socket = connect(&app, Some("dre_not-a-token")).await;
    let reply = next_json(&mut socket).await;
    assert!(
        reply.as_ref().is_none_or(|m| m["type"] != "connection_ack"),
        "{reply:?}"
    );
    // No token: subscriptions need a viewer, so it is not acknowledged
    // either (graphql-transport-ws closes with 4403; see hardening.rs).
    let mut socket = connect(&app, None).await;
    let reply = next_json(&mut socket).await;
    assert!(reply.is_none(), "{reply:?}");
}
