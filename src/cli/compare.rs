//! `drift-engine compare`: starts a compare of a tenant against a profile
//! and, with `--wait`, follows it to the end and prints the findings
//! summary, with an exit code for scripts and CI in the manner of
//! `terraform plan -detailed-exitcode`: 0 no drift (as `--fail-on` counts
//! it), 2 drift, 1 error.
//!
//! Locally it queues the run in the database and runs it on this process
//! (a server's workers may take it first; either way it waits). With
//! `--server` it is a GraphQL client of that server and needs only a token.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use entity::enums::FindingStatus;
use entity::{baseline_profile, tenant};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use crate::drift::{compare, profiles};
use crate::runs::queue;
use crate::runs::worker::WorkerSettings;

/// What counts as drift for the exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailOn {
    /// Never exit 2.
    None,
    /// Exit 2 when the compare found drift not seen before (new or reopened findings).
    New,
    /// Exit 2 when any finding of the tenant and profile is OPEN or
    /// ACKNOWLEDGED after the compare (accepted drift does not count).
    Any,
}

/// How a compare ended, whichever way it was run.
#[derive(Clone, Debug, PartialEq)]
pub struct CompareResult {
    /// The run's global id.
    pub run_id: String,
    /// SUCCEEDED, PARTIALLY_SUCCEEDED or FAILED.
    pub outcome: String,
    pub failure: Option<String>,
    /// The run's counters (`findings_new`, `findings_resolved`, ...).
    pub counts: BTreeMap<String, i64>,
    /// The tenant's findings against the profile after the compare, by
    /// status, and the active ones (open, acknowledged) by severity.
    pub by_status: BTreeMap<String, i64>,
    pub active_by_severity: BTreeMap<String, i64>,
}

impl CompareResult {
    fn count(&self, key: &str) -> i64 {
        self.counts.get(key).copied().unwrap_or(0)
    }

    /// OPEN and ACKNOWLEDGED findings.
    pub fn active(&self) -> i64 {
        ["OPEN", "ACKNOWLEDGED"]
            .iter()
            .map(|s| self.by_status.get(*s).copied().unwrap_or(0))
            .sum()
    }

    /// 0, 2 or 1, as the module says.
    pub fn exit_code(&self, fail_on: FailOn) -> i32 {
        if self.outcome == "FAILED" {
            return 1;
        }
        let drift = match fail_on {
            FailOn::None => false,
            FailOn::New => self.count("findings_new") > 0,
            FailOn::Any => self.active() > 0,
        };
        if drift { 2 } else { 0 }
    }

    pub fn to_json(&self, fail_on: FailOn) -> Value {
        json!({
            "run": {"id": self.run_id, "outcome": self.outcome, "failure": self.failure,
                    "summaryCounts": self.counts},
            "findings": {"byStatus": self.by_status, "activeBySeverity": self.active_by_severity,
                         "active": self.active(), "new": self.count("findings_new"),
                         "resolved": self.count("findings_resolved")},
            "exitCode": self.exit_code(fail_on),
        })
    }

    pub fn table(&self) -> String {
        let mut out = format!(
            "compare {}: {}\n",
            self.run_id,
            self.outcome.to_ascii_lowercase()
        );
        if let Some(failure) = &self.failure {
            out.push_str(&format!("  {failure}\n"));
        }
        out.push_str(&format!(
            "{:<14} {:>8}\n{:<14} {:>8}\n{:<14} {:>8}\n{:<14} {:>8}\n",
            "subjects",
            self.count("subjects_total"),
            "new",
            self.count("findings_new"),
            "resolved",
            self.count("findings_resolved"),
            "active",
            self.active()
        ));
        for (status, n) in &self.by_status {
            out.push_str(&format!("  {:<12} {n:>8}\n", status.to_ascii_lowercase()));
        }
        if !self.active_by_severity.is_empty() {
            out.push_str("active by severity\n");
            for severity in ["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFO"] {
                if let Some(n) = self.active_by_severity.get(severity) {
                    out.push_str(&format!("  {:<12} {n:>8}\n", severity.to_ascii_lowercase()));
                }
            }
        }
        out
    }
}

/// A progress bar on stderr (hidden when it is not a terminal).
fn bar() -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("compare [{bar:30}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

/// What `start` handed back when not waiting.
pub enum Started {
    Queued { run_id: String, created: bool },
    Done(CompareResult),
}

/// The compare on the local database.
pub async fn local(
    db: &DatabaseConnection,
    settings: &WorkerSettings,
    tenant_id: i64,
    profile_id: i64,
    wait: Option<Duration>,
    run_gid: fn(i64) -> String,
) -> anyhow::Result<Started> {
    let tenant = tenant::Entity::find_by_id(tenant_id)
        .one(db)
        .await?
        .ok_or_else(|| anyhow::anyhow!("tenant {tenant_id} does not exist"))?;
    let profile = baseline_profile::Entity::find_by_id(profile_id)
        .filter(baseline_profile::Column::WorkspaceId.eq(tenant.workspace_id))
        .one(db)
        .await?
        .ok_or_else(|| {
            anyhow::anyhow!("baseline profile {profile_id} is not one of the tenant's workspace")
        })?;
    if profiles::assignment(db, profile.id, tenant.id)
        .await?
        .is_none()
    {
        anyhow::bail!("the profile is not assigned to this tenant; assign it first");
    }
    let (run, created) = queue::enqueue(db, compare::new_run(&profile, &tenant, None)).await?;
    let Some(limit) = wait else {
        return Ok(Started::Queued {
            run_id: run_gid(run.id),
            created,
        });
    };
    let done = super::collect::follow(db, settings, run, "compare", limit).await?;
    let summary = crate::governance::summary::summarize(
        db,
        &crate::governance::summary::Filter {
            tenant_id: Some(tenant.id),
            baseline_profile_id: Some(profile.id),
            ..Default::default()
        },
    )
    .await?;
    Ok(Started::Done(CompareResult {
        run_id: run_gid(done.id),
        outcome: done.outcome.as_str().to_ascii_uppercase(),
        failure: failure_message(done.failure_summary.as_ref()),
        counts: counters(&done.summary_counts),
        by_status: upper_keys(summary.by_status.clone()),
        active_by_severity: active_by_severity(db, tenant.id, profile.id).await?,
    }))
}

async fn active_by_severity(
    db: &DatabaseConnection,
    tenant_id: i64,
    profile_id: i64,
) -> anyhow::Result<BTreeMap<String, i64>> {
    let summary = crate::governance::summary::summarize(
        db,
        &crate::governance::summary::Filter {
            tenant_id: Some(tenant_id),
            baseline_profile_id: Some(profile_id),
            statuses: Some(vec![FindingStatus::Open, FindingStatus::Acknowledged]),
            ..Default::default()
        },
    )
    .await?;
    Ok(upper_keys(summary.by_severity))
}

fn upper_keys(map: BTreeMap<String, i64>) -> BTreeMap<String, i64> {
    map.into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| (k.to_ascii_uppercase(), n))
        .collect()
}

fn counters(value: &Value) -> BTreeMap<String, i64> {
    value
        .as_object()
        .map(|o| {
            o.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_i64()?)))
                .collect()
        })
        .unwrap_or_default()
}

/// A run's failure as one line: its message, or its reason code.
pub(crate) fn failure_message(failure: Option<&Value>) -> Option<String> {
    let f = failure?;
    f["message"]
        .as_str()
        .or_else(|| f["reason_code"].as_str())
        .map(str::to_owned)
}

/// A GraphQL client of a drift-engine server.
pub struct Remote {
    http: reqwest::Client,
    endpoint: String,
    token: String,
}

impl Remote {
    pub fn new(server: &str, token: &str) -> anyhow::Result<Self> {
        let base = reqwest::Url::parse(server)
            .map_err(|e| anyhow::anyhow!("--server {server:?} is not a URL ({e})"))?;
        let endpoint = base
            .join("/graphql")
            .map_err(|e| anyhow::anyhow!("--server: {e}"))?;
        Ok(Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .user_agent(concat!("drift-engine-cli/", env!("CARGO_PKG_VERSION")))
                .build()?,
            endpoint: endpoint.to_string(),
            token: token.to_owned(),
        })
    }

    /// `data`, or the first error with its code.
    async fn gql(&self, query: &str, variables: Value) -> anyhow::Result<Value> {
        let response = self
            .http
            .post(&self.endpoint)
            .bearer_auth(&self.token)
            .json(&json!({"query": query, "variables": variables}))
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("{} did not answer: {e}", self.endpoint))?;
        let status = response.status();
        let body: Value = response.json().await.map_err(|e| {
            anyhow::anyhow!(
                "{} answered HTTP {status} without GraphQL JSON ({e})",
                self.endpoint
            )
        })?;
        if let Some(error) = body["errors"].as_array().and_then(|e| e.first()) {
            anyhow::bail!(
                "{} ({})",
                error["message"].as_str().unwrap_or("error"),
                error["extensions"]["code"].as_str().unwrap_or("no code")
            );
        }
        Ok(body["data"].clone())
    }

    /// Starts the compare and, with `wait`, follows it by polling.
    pub async fn compare(
        &self,
        tenant: &str,
        profile: &str,
        wait: Option<Duration>,
    ) -> anyhow::Result<Started> {
        let data = self
            .gql(
                "mutation($i: StartBaselineCompareInput!) { startBaselineCompare(input: $i) { id status } }",
                json!({"i": {"tenantId": tenant, "baselineProfileId": profile}}),
            )
            .await?;
        let run_id = data["startBaselineCompare"]["id"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("the server returned no run"))?
            .to_owned();
        let Some(limit) = wait else {
            return Ok(Started::Queued {
                run_id,
                created: true,
            });
        };
        let bar = bar();
        let started = Instant::now();
        let run = loop {
            let data = self
                .gql(
                    "query($id: ID!) { node(id: $id) { ... on OperationRun { status outcome progress { done total } summaryCounts failureSummary } } }",
                    json!({"id": run_id}),
                )
                .await?;
            let run = data["node"].clone();
            bar.set_length(run["progress"]["total"].as_u64().unwrap_or(0));
            bar.set_position(run["progress"]["done"].as_u64().unwrap_or(0));
            bar.set_message(run["status"].as_str().unwrap_or("").to_ascii_lowercase());
            if run["status"] == "COMPLETED" {
                break run;
            }
            if started.elapsed() > limit {
                bar.finish_and_clear();
                anyhow::bail!(
                    "compare {run_id} did not complete within {} s (--timeout)",
                    limit.as_secs()
                );
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        bar.finish_and_clear();
        let data = self
            .gql(
                "query($t: ID!, $p: ID!) {
                    all: findingsSummary(tenantId: $t, baselineProfileId: $p) { byStatus { key count } }
                    active: findingsSummary(tenantId: $t, baselineProfileId: $p, status: [OPEN, ACKNOWLEDGED]) { bySeverity { key count } }
                }",
                json!({"t": tenant, "p": profile}),
            )
            .await?;
        let by_key = |value: &Value| -> BTreeMap<String, i64> {
            upper_keys(
                value
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|c| Some((c["key"].as_str()?.to_owned(), c["count"].as_i64()?)))
                    .collect(),
            )
        };
        Ok(Started::Done(CompareResult {
            run_id,
            outcome: run["outcome"].as_str().unwrap_or("FAILED").to_owned(),
            failure: failure_message(Some(&run["failureSummary"])),
            counts: counters(&run["summaryCounts"]),
            by_status: by_key(&data["all"]["byStatus"]),
            active_by_severity: by_key(&data["active"]["bySeverity"]),
        }))
    }
}
