//! `drift-engine compare` as a CI job runs it: the real binary, against the
//! real server over HTTP (`--server`, `DRIFT_TOKEN`) and against the same
//! database directly, with the exit codes scripts depend on.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::TestApp;
use crate::drift::{Policy, Scenario};

fn policy(min_length: i64) -> Vec<Policy> {
    vec![(
        "deviceConfigurations".into(),
        "dc-1".into(),
        json!({"@odata.type": "#microsoft.graph.windows10GeneralConfiguration",
               "displayName": "Passwords", "passwordMinimumLength": min_length}),
    )]
}

struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Ran {
    fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("JSON on stdout ({e}): {}\n{}", self.stdout, self.stderr))
    }
}

/// Runs `drift-engine compare` with `args`; `server` adds `--server` and
/// passes the token through `DRIFT_TOKEN`.
async fn compare(s: &Scenario, server: Option<&str>, args: &[&str]) -> Ran {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_drift-engine"));
    command
        .arg("compare")
        .args(["--tenant", &s.target, "--profile", &s.profile])
        .args(args)
        .env_remove("DRIFT_TOKEN")
        .env_remove("DRIFT_SERVER")
        .env("RUST_LOG", "warn")
        .env("DATABASE_URL", &s.app.test_db.url)
        .kill_on_drop(true);
    if let Some(token) = server {
        command
            .args(["--server", &s.app.base])
            .env("DRIFT_TOKEN", token);
    }
    let output = tokio::time::timeout(Duration::from_secs(120), command.output())
        .await
        .expect("the command ends")
        .expect("drift-engine runs");
    Ran {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[tokio::test]
async fn compare_wait_fail_on_exits_2_with_drift_and_0_without_against_a_server_and_locally() {
    let s = Scenario::new(
        TestApp::spawn().await,
        json!({"captureMode": "OPPORTUNISTIC"}),
    )
    .await;
    s.sync(&s.source, &policy(8), &[]).await;
    s.versions(&s.source, &policy(8)).await;
    s.capture().await;
    s.sync(&s.target, &policy(8), &[]).await;
    s.versions(&s.target, &policy(8)).await;
    let wait = ["--wait", "--fail-on", "any", "--format", "json"];

    // No drift: 0, both ways.
    let remote = compare(&s, Some(&s.token), &wait).await;
    assert_eq!(remote.code, Some(0), "{}\n{}", remote.stdout, remote.stderr);
    let summary = remote.json();
    assert_eq!(summary["run"]["outcome"], "SUCCEEDED", "{summary}");
    assert_eq!(summary["findings"]["active"], 0);
    let local = compare(&s, None, &wait).await;
    assert_eq!(local.code, Some(0), "{}\n{}", local.stdout, local.stderr);
    assert_ne!(
        local.json()["run"]["id"],
        summary["run"]["id"],
        "a compare of its own"
    );

    // Drift: 2, both ways, with the summary saying what.
    s.versions(&s.target, &policy(4)).await;
    let remote = compare(&s, Some(&s.token), &wait).await;
    assert_eq!(remote.code, Some(2), "{}\n{}", remote.stdout, remote.stderr);
    let summary = remote.json();
    assert_eq!(summary["findings"]["active"], 1, "{summary}");
    assert_eq!(summary["findings"]["new"], 1);
    assert_eq!(summary["findings"]["byStatus"], json!({"OPEN": 1}));
    assert_eq!(
        summary["findings"]["activeBySeverity"],
        json!({"MEDIUM": 1})
    );
    assert_eq!(summary["exitCode"], 2);
    let local = compare(&s, None, &wait).await;
    assert_eq!(local.code, Some(2), "{}\n{}", local.stdout, local.stderr);
    assert_eq!(local.json()["findings"]["active"], 1);
    // What the summary reads: findingsSummary filtered by status.
    let counts = s
        .app
        .gql_ok(
            &s.token,
            "query($t: ID!) { all: findingsSummary(tenantId: $t) { total }
                resolved: findingsSummary(tenantId: $t, status: [RESOLVED]) { total } }",
            json!({"t": s.target}),
        )
        .await;
    assert_eq!(
        counts,
        json!({"all": {"total": 1}, "resolved": {"total": 0}})
    );

    // The same drift is not new: --fail-on new passes, --fail-on none too;
    // the table says what it found.
    let again = compare(&s, None, &["--wait", "--fail-on", "new"]).await;
    assert_eq!(again.code, Some(0), "{}\n{}", again.stdout, again.stderr);
    assert!(again.stdout.contains("active"), "{}", again.stdout);
    let none = compare(&s, Some(&s.token), &["--wait"]).await;
    assert_eq!(none.code, Some(0), "{}\n{}", none.stdout, none.stderr);

    // Without --wait the compare is queued and the command says which.
    let queued = compare(&s, Some(&s.token), &["--format", "json"]).await;
    assert_eq!(queued.code, Some(0), "{}", queued.stderr);
    assert!(queued.json()["run"]["id"].is_string());

    // Errors are 1: a token the server refuses, a read-only token (starting
    // a compare is a mutation), no token, --fail-on without --wait.
    let refused = compare(&s, Some("dre_not-a-token"), &wait).await;
    assert_eq!(refused.code, Some(1));
    assert!(
        refused.stderr.contains("UNAUTHENTICATED"),
        "{}",
        refused.stderr
    );
    let read_only = s
        .app
        .gql_ok(
            &s.token,
            "mutation { createApiToken(input: {name: \"ci\", readOnly: true}) { token } }",
            json!({}),
        )
        .await["createApiToken"]["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let forbidden = compare(&s, Some(&read_only), &wait).await;
    assert_eq!(forbidden.code, Some(1));
    assert!(
        forbidden.stderr.contains("FORBIDDEN"),
        "{}",
        forbidden.stderr
    );
    let no_token = compare(&s, None, &["--server", &s.app.base, "--wait"]).await;
    assert_eq!(no_token.code, Some(1));
    assert!(
        no_token.stderr.contains("DRIFT_TOKEN"),
        "{}",
        no_token.stderr
    );
    let no_wait = compare(&s, None, &["--fail-on", "any"]).await;
    assert_eq!(no_wait.code, Some(1));
    assert!(
        no_wait.stderr.contains("needs --wait"),
        "{}",
        no_wait.stderr
    );
}
