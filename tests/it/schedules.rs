//! Schedules through the real server: validation, what the profile shows,
//! a due schedule that compares once even after missed periods, and
//! clearing. The chain after a collection is in `collector`; firing once
//! across processes is in `processes`.

use std::time::Duration;

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use crate::common::{TestApp, error_code};
use crate::drift::{Policy, Scenario};

const SET: &str = "mutation($i: SetScheduleInput!) { setSchedule(input: $i) {
    baselineProfileId tenant { id } every everySeconds collect nextRunAt lastRunAt lastRun { id } } }";

const SCHEDULES: &str = "query($p: ID!) { baselineProfile(id: $p) { schedules {
    tenant { id } every collect nextRunAt lastRunAt lastRun { id type status outcome } } } }";

async fn scenario(interval: Duration) -> Scenario {
    let app = TestApp::spawn_with(|c| c.workers.schedule_interval = interval).await;
    let s = Scenario::new(app, json!({"captureMode": "OPPORTUNISTIC"})).await;
    let policies: Vec<Policy> = vec![(
        "deviceConfigurations".into(),
        "dc-1".into(),
        json!({"@odata.type": "#microsoft.graph.windows10GeneralConfiguration", "displayName": "Passwords", "passwordMinimumLength": 8}),
    )];
    s.sync(&s.source, &policies, &[]).await;
    s.versions(&s.source, &policies).await;
    s.capture().await;
    s.sync(&s.target, &policies, &[]).await;
    s
}

fn input(s: &Scenario, every: &str, extra: Value) -> Value {
    let mut i = json!({"baselineProfileId": s.profile, "tenantId": s.target, "every": every});
    for (k, v) in extra.as_object().expect("object") {
        i[k] = v.clone();
    }
    json!({"i": i})
}

#[tokio::test]
async fn bad_schedules_are_refused_with_the_reason_and_nothing_is_stored() {
    let s = scenario(Duration::from_secs(3600)).await;
    for (every, extra, says) in [
        ("PT1M", json!({}), "minimum of 5 minutes"),
        ("P1M", json!({}), "months"),
        ("every six hours", json!({}), "ISO 8601"),
        ("PT6H", json!({"collect": true}), "tenant connection"),
    ] {
        let body = s
            .app
            .gql(Some(&s.token), SET, input(&s, every, extra))
            .await;
        assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{every}: {body}");
        let message = body["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{every}: {message}");
    }
    // The source tenant is not assigned to the profile.
    let mut unassigned = input(&s, "PT6H", json!({}));
    unassigned["i"]["tenantId"] = json!(s.source);
    let body = s.app.gql(Some(&s.token), SET, unassigned).await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    let data = s
        .app
        .gql_ok(&s.token, SCHEDULES, json!({"p": s.profile}))
        .await;
    assert_eq!(data["baselineProfile"]["schedules"], json!([]));
}

#[tokio::test]
async fn a_schedule_is_shown_replaced_and_cleared_and_audited() {
    let s = scenario(Duration::from_secs(3600)).await;
    let set = s
        .app
        .gql_ok(&s.token, SET, input(&s, "PT6H", json!({})))
        .await["setSchedule"]
        .clone();
    assert_eq!(set["every"], "PT6H");
    assert_eq!(set["everySeconds"], 6 * 3600);
    assert_eq!(set["collect"], false);
    assert!(set["lastRun"].is_null());
    let next: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(set["nextRunAt"].clone()).expect("a time");
    let from_now = next - chrono::Utc::now();
    assert!(
        from_now > chrono::Duration::minutes(359) && from_now <= chrono::Duration::hours(6),
        "one period from now by default: {from_now}"
    );
    // Setting it again replaces it.
    s.app
        .gql_ok(&s.token, SET, input(&s, "P1D", json!({})))
        .await;
    let shown = s
        .app
        .gql_ok(&s.token, SCHEDULES, json!({"p": s.profile}))
        .await;
    let schedules = shown["baselineProfile"]["schedules"]
        .as_array()
        .expect("schedules");
    assert_eq!(schedules.len(), 1, "{shown}");
    assert_eq!(schedules[0]["every"], "P1D");
    assert_eq!(schedules[0]["tenant"]["id"], s.target.as_str());

    let clear = "mutation($p: ID!, $t: ID!) { clearSchedule(input: {baselineProfileId: $p, tenantId: $t}) { cleared } }";
    let vars = json!({"p": s.profile, "t": s.target});
    assert_eq!(
        s.app.gql_ok(&s.token, clear, vars.clone()).await["clearSchedule"]["cleared"],
        true
    );
    assert_eq!(
        s.app.gql_ok(&s.token, clear, vars).await["clearSchedule"]["cleared"],
        false
    );
    let actions: Vec<String> = entity::audit_log::Entity::find()
        .filter(entity::audit_log::Column::Action.starts_with("schedule."))
        .all(&s.app.db)
        .await
        .expect("audit")
        .into_iter()
        .map(|a| a.action)
        .collect();
    assert_eq!(actions, ["schedule.set", "schedule.set", "schedule.clear"]);
}

#[tokio::test]
async fn a_due_schedule_compares_once_even_after_missed_periods() {
    let s = scenario(Duration::from_millis(100)).await;
    // Started three days ago every six hours: twelve periods missed.
    let start = chrono::Utc::now() - chrono::Duration::days(3);
    s.app
        .gql_ok(
            &s.token,
            SET,
            input(&s, "PT6H", json!({"startAt": start.to_rfc3339()})),
        )
        .await;
    let mut last = Value::Null;
    for _ in 0..300 {
        let data = s
            .app
            .gql_ok(&s.token, SCHEDULES, json!({"p": s.profile}))
            .await;
        last = data["baselineProfile"]["schedules"][0].clone();
        if last["lastRun"]["status"] == "COMPLETED" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(last["lastRun"]["type"], "BASELINE_COMPARE", "{last}");
    assert_eq!(last["lastRun"]["outcome"], "SUCCEEDED", "{last}");
    // Ticks go on; nothing more is due.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let target = drift_engine::graphql::ids::decode_as(
        &async_graphql::ID(s.target.clone()),
        drift_engine::graphql::ids::NodeKind::Tenant,
    )
    .expect("id");
    let compares = entity::operation_run::Entity::find()
        .filter(entity::operation_run::Column::TenantId.eq(target))
        .filter(entity::operation_run::Column::RunType.eq(entity::enums::RunType::BaselineCompare))
        .all(&s.app.db)
        .await
        .expect("runs");
    assert_eq!(compares.len(), 1, "once, not once per missed period");
    let next: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(last["nextRunAt"].clone()).expect("a time");
    let last_at: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(last["lastRunAt"].clone()).expect("a time");
    assert_eq!(next - last_at, chrono::Duration::hours(6));
}
