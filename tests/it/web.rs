//! The browser and protocol front doors, checked with other people's
//! clients against the real server: GraphiQL in headless Chromium, the
//! graphql-http audit suite, and the graphql-ws reference client.
//!
//! The Node tools come from `npm ci --prefix web` and Chromium from Debian's
//! `chromium` package; `.ci/run` installs both. Without them these tests
//! fail under CI (`CI` set) and say what to install otherwise.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use drift_engine::demo::{self, Outcome, Report};
use drift_engine::graphql::ids::{NodeKind, encode};
use drift_engine::http::graphiql;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::common::TestApp;
use crate::processes::Server;
use crate::subscription::{assert_follows_the_run, queued_compare_in_no_process};

fn web_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("web")
}

/// Whether the tools a test needs are installed; under CI their absence is
/// a failure, elsewhere the test says what to install and passes over.
fn tools_present(what: &str, needs_chromium: bool) -> bool {
    let mut missing = Vec::new();
    if !web_dir().join("node_modules/.package-lock.json").is_file() {
        missing.push("the Node tools (`npm ci --prefix web`)");
    }
    if needs_chromium && !chromium().is_file() {
        missing.push("Chromium (`apt-get install chromium`)");
    }
    if missing.is_empty() {
        return true;
    }
    let message = format!("{what} needs {}", missing.join(" and "));
    if std::env::var_os("CI").is_some() {
        panic!("{message}; .ci/run installs them");
    }
    eprintln!("SKIPPED: {message}");
    false
}

/// Where CI keeps a screenshot: `$CARGO_TARGET_DIR/e2e/<name>-<backend>.png`,
/// removed first so that a stale one never passes.
fn screenshot_path(app: &TestApp, name: &str) -> PathBuf {
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(
            || Path::new(env!("CARGO_MANIFEST_DIR")).join("target"),
            PathBuf::from,
        )
        .join("e2e");
    std::fs::create_dir_all(&dir).expect("screenshot folder");
    let backend = if app.test_db.is_postgres {
        "postgres"
    } else {
        "sqlite"
    };
    let path = dir.join(format!("{name}-{backend}.png"));
    let _ = std::fs::remove_file(&path);
    path
}

fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from)
}

fn node(script: &str) -> Command {
    let mut command = Command::new("node");
    command
        .arg(web_dir().join("e2e").join(script))
        .current_dir(web_dir())
        .kill_on_drop(true)
        .stdin(Stdio::null());
    command
}

async fn output(mut command: Command, limit: Duration) -> (bool, String, String) {
    let out = tokio::time::timeout(limit, command.output())
        .await
        .expect("the tool finished in time")
        .expect("node runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn demo_app() -> (TestApp, Report, String) {
    let app = TestApp::spawn_with(|c| c.workers.count = 0).await;
    let report = match demo::load(&app.db).await.expect("demo loads") {
        Outcome::Loaded(report) => report,
        other => panic!("fresh database: {other:?}"),
    };
    let token = report.new_owner_token.clone().expect("token");
    (app, report, token)
}

#[tokio::test]
async fn graphiql_page_loads_only_from_this_server_when_assets_are_embedded() {
    let app = TestApp::spawn().await;
    let page = app
        .client
        .get(app.url("/graphql"))
        .header("accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .expect("page");
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap_or_default()
            .starts_with("text/html")
    );
    let policy = page.headers()["content-security-policy"]
        .to_str()
        .unwrap_or_default()
        .to_owned();
    let html = page.text().await.expect("html");
    assert!(html.contains(r#"id="graphiql""#), "{html}");
    let scripts: Vec<&str> = html
        .split("src=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .collect();
    assert_eq!(scripts.len(), 5, "{html}");

    if std::env::var_os("CI").is_some() {
        assert!(
            graphiql::assets_embedded(),
            "CI runs `npm ci --prefix web` before building"
        );
    }
    if graphiql::assets_embedded() {
        assert!(!html.contains("://"), "no other host: {html}");
        assert!(policy.contains("script-src 'self';"), "{policy}");
        for src in scripts {
            let asset = app.client.get(app.url(src)).send().await.expect("asset");
            assert_eq!(asset.status(), 200, "{src}");
            assert!(
                asset.headers()["content-type"]
                    .to_str()
                    .unwrap_or_default()
                    .starts_with("text/javascript"),
                "{src}"
            );
            assert!(asset.bytes().await.expect("body").len() > 1_000, "{src}");
        }
    } else {
        assert!(
            html.contains("https://cdn.jsdelivr.net/npm/graphiql@"),
            "{html}"
        );
    }
    let unknown = app
        .client
        .get(app.url("/graphql/assets/nothing.js"))
        .send()
        .await
        .expect("asset");
    assert_eq!(unknown.status(), 404);
    // A GraphQL client's GET without a query still gets a GraphQL error.
    let client = app
        .client
        .get(app.url("/graphql"))
        .send()
        .await
        .expect("get");
    assert_eq!(client.status(), 400);
}

#[tokio::test]
async fn graphiql_in_headless_chromium_runs_a_findings_query_and_a_subscription() {
    if !tools_present("the GraphiQL browser test", true) {
        return;
    }
    let (app, report, token) = demo_app().await;
    let screenshot = screenshot_path(&app, "graphiql");

    let mut command = node("graphiql.mjs");
    command
        .arg(&app.base)
        .arg(&token)
        .arg(encode(NodeKind::Tenant, report.branch_tenant_id).0)
        .arg(encode(NodeKind::OperationRun, report.compare_run_id).0)
        .arg(&screenshot)
        .env("CHROMIUM", chromium());
    let (ok, stdout, stderr) = output(command, Duration::from_secs(120)).await;
    assert!(ok, "GraphiQL check failed:\n{stdout}\n{stderr}");
    let summary: Value = serde_json::from_str(stdout.trim()).expect("summary line");
    assert_eq!(summary["findings"], 4, "{summary}");
    let png = std::fs::read(&screenshot).expect("screenshot written");
    assert!(png.starts_with(b"\x89PNG"), "a PNG file");
}

#[tokio::test]
async fn the_html_findings_report_renders_in_headless_chromium() {
    if !tools_present("the report browser test", true) {
        return;
    }
    let (app, report, token) = demo_app().await;
    let screenshot = screenshot_path(&app, "report");
    let url = format!(
        "{}/reports/findings?tenantId={}&baselineProfileId={}&format=html",
        app.base,
        encode(NodeKind::Tenant, report.branch_tenant_id).0,
        encode(NodeKind::BaselineProfile, report.baseline_profile_id).0
    );
    let mut command = node("report.mjs");
    command
        .arg(&url)
        .arg(&token)
        .arg(&screenshot)
        .env("CHROMIUM", chromium());
    let (ok, stdout, stderr) = output(command, Duration::from_secs(120)).await;
    assert!(ok, "report check failed:\n{stdout}\n{stderr}");
    let summary: Value = serde_json::from_str(stdout.trim()).expect("summary line");
    // The demo's branch tenant: its four findings, in their policy types.
    assert_eq!(summary["findings"], 4, "{summary}");
    assert!(
        summary["sections"].as_u64().unwrap_or_default() >= 2,
        "{summary}"
    );
    let png = std::fs::read(&screenshot).expect("screenshot written");
    assert!(png.starts_with(b"\x89PNG"), "a PNG file");
}

#[tokio::test]
async fn graphql_http_audit_suite_has_no_must_failure() {
    if !tools_present("the graphql-http audit", false) {
        return;
    }
    let (app, _report, token) = demo_app().await;
    let mut command = node("audit.mjs");
    command.arg(&app.base).arg(&token);
    let (ok, stdout, stderr) = output(command, Duration::from_secs(120)).await;
    assert!(ok, "graphql-http audit:\n{stdout}\n{stderr}");
    let summary: Value =
        serde_json::from_str(stdout.lines().last().unwrap_or_default()).expect("summary");
    assert_eq!(summary["mustFailures"], 0, "{stdout}");
    assert_eq!(summary["error"], 0, "{stdout}");
    assert!(summary["ok"].as_u64().unwrap_or_default() >= 40, "{stdout}");
}

#[tokio::test]
async fn graphql_ws_reference_client_follows_a_compare_run_in_another_process() {
    if !tools_present("the graphql-ws client test", false) {
        return;
    }
    let (s, run) = queued_compare_in_no_process().await;
    let ws = format!("{}/graphql/ws", s.app.base.replace("http://", "ws://"));
    let mut command = node("subscribe.mjs");
    command
        .arg(&ws)
        .arg(&s.token)
        .arg(run["id"].as_str().expect("run id"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("node runs");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let next = async |lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>| {
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("an event in time")
            .expect("read")
            .expect("a line before the client exits");
        serde_json::from_str::<Value>(&line).expect("JSON line")
    };

    // The first event arrives while the run is still queued; only then does
    // another process start and execute it.
    let first = next(&mut lines).await;
    assert_eq!(first["data"]["operationRun"]["status"], "QUEUED", "{first}");
    let _worker = Server::start(&s.app.test_db.url, 60);
    let mut events = vec![first["data"]["operationRun"].clone()];
    loop {
        let event = next(&mut lines).await;
        if event["complete"] == true {
            break;
        }
        assert!(event.get("errors").is_none(), "{event}");
        events.push(event["data"]["operationRun"].clone());
    }
    let status = child.wait().await.expect("client exits");
    assert!(status.success());
    assert_follows_the_run(&events);
}

/// The introspection query of the pinned `graphql` package, as GraphiQL,
/// graphql-codegen and Apollo tooling send it, passes the depth limit (its
/// `ofType` chain is set by the specification), with and without a token.
#[tokio::test]
async fn the_introspection_queries_of_graphql_js_pass_the_limits() {
    if !tools_present("the introspection query test", false) {
        return;
    }
    let (ok, stdout, stderr) =
        output(node("introspection-queries.mjs"), Duration::from_secs(60)).await;
    assert!(ok, "{stderr}");
    let queries: Vec<String> = serde_json::from_str(&stdout).expect("a JSON list of queries");
    assert_eq!(queries.len(), 2);
    let app = TestApp::spawn_with(|c| c.workers.count = 0).await;
    let (_, token) = app.user("introspection@example.com").await;
    for query in &queries {
        for token in [None, Some(token.as_str())] {
            let body = app.gql(token, query, serde_json::json!({})).await;
            assert!(body.get("errors").is_none(), "{body}");
            let types = body["data"]["__schema"]["types"].as_array().expect("types");
            assert!(types.iter().any(|t| t["name"] == "Finding"));
        }
    }
}

/// A CORS preflight as a browser sends it for a POST with a bearer token.
async fn preflight(app: &TestApp, origin: &str) -> reqwest::Response {
    app.client
        .request(reqwest::Method::OPTIONS, app.url("/graphql"))
        .header("Origin", origin)
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "authorization,content-type",
        )
        .send()
        .await
        .expect("preflight")
}

#[tokio::test]
async fn cors_preflights_are_answered_for_listed_origins_only() {
    let allowed = "https://app.example.com";
    let app = TestApp::spawn_with(|c| {
        c.cors_origins = vec![axum::http::HeaderValue::from_static(allowed)];
    })
    .await;
    let ok = preflight(&app, allowed).await;
    assert!(ok.status().is_success(), "{}", ok.status());
    let headers = ok.headers();
    assert_eq!(
        headers
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some(allowed)
    );
    let allow_headers = headers
        .get("access-control-allow-headers")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_lowercase();
    assert!(allow_headers.contains("authorization"), "{allow_headers}");
    // A refused origin gets no Allow-Origin: the browser stops there.
    let refused = preflight(&app, "https://evil.example").await;
    assert!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .is_none(),
        "{:?}",
        refused.headers()
    );
    // An allowed origin's actual request carries it too.
    let answer = app
        .client
        .post(app.url("/graphql"))
        .header("Origin", allowed)
        .json(&serde_json::json!({"query": "{ __typename }"}))
        .send()
        .await
        .expect("request");
    assert_eq!(
        answer
            .headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some(allowed)
    );

    // By default, same-origin only: no origin is allowed.
    let default = TestApp::spawn().await;
    let refused = preflight(&default, allowed).await;
    assert!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}
