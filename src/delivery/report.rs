//! Findings reports: one tenant's findings against one profile, as CSV,
//! JSON or a printable HTML page, produced as a stream of chunks. Each
//! chunk is one keyset page of findings (ordered by policy type, display
//! name and id, an index walk) with the blobs its setting changes are
//! diffed from, read in one query per page: memory stays at one page
//! however many findings there are, and a consumer that reads slowly (or
//! goes away) holds (or stops) the producer, since pages are read only when
//! the consumer asks for the next chunk.
//!
//! Reports show what the findings API shows to the same caller: setting
//! paths and values as normalized (secrets already replaced by the
//! normalizer's marker), and both sides' provenance.

use std::collections::HashMap;
use std::fmt::Write as _;

use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use entity::enums::{FindingStatus, SnapshotStatus};
use entity::{alignment_point, baseline_profile, baseline_snapshot, finding, tenant};
use futures_util::Stream;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, ExprTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde_json::{Value, json};

use crate::drift::findings::{self, ListedChanges};
use crate::error::{Error, Result};
use crate::evidence::diff::ChangeKind;

/// Findings per page (and so per chunk).
pub const PAGE: u64 = 500;
/// Report format version, in the JSON document.
pub const VERSION: u32 = 1;
/// A value longer than this is cut in the HTML page (CSV and JSON carry it whole).
const HTML_VALUE_CHARS: usize = 400;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Csv,
    Json,
    Html,
}

impl Format {
    pub fn parse(text: &str) -> Result<Self> {
        match text.to_ascii_lowercase().as_str() {
            "csv" => Ok(Format::Csv),
            "json" => Ok(Format::Json),
            "html" => Ok(Format::Html),
            other => Err(Error::bad_input(format!(
                "format must be csv, json or html, not {other:?}"
            ))),
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Json => "application/json",
            Format::Html => "text/html; charset=utf-8",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Json => "json",
            Format::Html => "html",
        }
    }
}

/// The statuses a report lists unless told: every finding not resolved.
pub const DEFAULT_STATUSES: [FindingStatus; 3] = [
    FindingStatus::Open,
    FindingStatus::Acknowledged,
    FindingStatus::Accepted,
];

/// `OPEN,ACKNOWLEDGED` (the API's names, any case) as statuses.
pub fn parse_statuses(text: &str) -> Result<Vec<FindingStatus>> {
    let statuses = text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            serde_json::from_value::<FindingStatus>(json!(s.to_ascii_lowercase())).map_err(|_| {
                Error::bad_input(format!(
                    "status {s:?} is not one of OPEN, ACKNOWLEDGED, ACCEPTED, RESOLVED"
                ))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    if statuses.is_empty() {
        return Err(Error::bad_input("status names no status"));
    }
    Ok(statuses)
}

/// How the front door names things in what it hands out (global ids).
#[derive(Clone, Copy)]
pub struct Ids {
    pub finding: fn(i64) -> String,
    pub run: fn(i64) -> String,
    pub tenant: fn(i64) -> String,
    pub profile: fn(i64) -> String,
}

/// What a report covers, after the caller's access to the tenant was checked.
#[derive(Clone)]
pub struct Scope {
    pub tenant: tenant::Model,
    pub profile: baseline_profile::Model,
    pub statuses: Vec<FindingStatus>,
}

/// The profile `profile_id` as seen from `tenant`: NOT_FOUND unless it is a
/// profile of the tenant's workspace.
pub async fn scope(
    db: &DatabaseConnection,
    tenant: tenant::Model,
    profile_id: i64,
    statuses: Vec<FindingStatus>,
) -> Result<Scope> {
    let profile = baseline_profile::Entity::find_by_id(profile_id)
        .filter(baseline_profile::Column::WorkspaceId.eq(tenant.workspace_id))
        .one(db)
        .await?
        .ok_or(Error::NotFound("baseline profile"))?;
    Ok(Scope {
        tenant,
        profile,
        statuses,
    })
}

/// The top of a report.
struct Header {
    snapshot: Option<baseline_snapshot::Model>,
    alignment: Option<alignment_point::Model>,
    generated_at: DateTime<Utc>,
}

async fn header(db: &DatabaseConnection, scope: &Scope) -> Result<Header> {
    let snapshot = baseline_snapshot::Entity::find()
        .filter(baseline_snapshot::Column::BaselineProfileId.eq(scope.profile.id))
        .filter(baseline_snapshot::Column::Status.eq(SnapshotStatus::Complete))
        .order_by_desc(baseline_snapshot::Column::Id)
        .one(db);
    let alignment = alignment_point::Entity::find()
        .filter(alignment_point::Column::TenantId.eq(scope.tenant.id))
        .filter(alignment_point::Column::BaselineProfileId.eq(scope.profile.id))
        .order_by_desc(alignment_point::Column::Id)
        .one(db);
    let (snapshot, alignment) = futures_util::try_join!(snapshot, alignment)?;
    Ok(Header {
        snapshot,
        alignment,
        generated_at: Utc::now(),
    })
}

/// One side of a finding, as its evidence recorded it.
struct Side {
    source: String,
    fidelity: String,
    observed_at: String,
    run_id: Option<i64>,
    hash: String,
}

fn side(evidence: &Value, key: &str) -> Option<Side> {
    let s = evidence.get(key).filter(|v| !v.is_null())?;
    let p = &s["provenance"];
    Some(Side {
        source: p["source"].as_str().unwrap_or_default().to_owned(),
        fidelity: p["fidelity"].as_str().unwrap_or_default().to_owned(),
        observed_at: p["observed_at"].as_str().unwrap_or_default().to_owned(),
        run_id: p["observed_operation_run_id"].as_i64(),
        hash: s["hash"].as_str().unwrap_or_default().to_owned(),
    })
}

fn change_name(kind: ChangeKind) -> &'static str {
    match kind {
        ChangeKind::Added => "ADDED",
        ChangeKind::Removed => "REMOVED",
        ChangeKind::Modified => "MODIFIED",
    }
}

fn upper(text: &str) -> String {
    text.to_ascii_uppercase()
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A finding with what a report shows of it.
struct Row<'a> {
    f: &'a finding::Model,
    changes: ListedChanges,
    aspects: Vec<&'static str>,
    baseline: Option<Side>,
    current: Option<Side>,
}

impl Row<'_> {
    fn paths(&self) -> Vec<&str> {
        match &self.changes {
            ListedChanges::Listed { changes, .. } => {
                changes.iter().map(|c| c.path.as_str()).collect()
            }
            ListedChanges::Unavailable(_) => Vec::new(),
        }
    }

    fn changes_json(&self) -> Value {
        match &self.changes {
            ListedChanges::Listed { changes, excluded } => json!({
                "available": true,
                "excluded": excluded,
                "changes": changes.iter().map(|c| json!({
                    "path": c.path, "change": change_name(c.change),
                    "baseline": c.baseline, "current": c.current,
                })).collect::<Vec<_>>(),
            }),
            ListedChanges::Unavailable(reason) => json!({"available": false, "reason": reason}),
        }
    }

    fn side_json(&self, side: &Option<Side>, ids: &Ids) -> Value {
        match side {
            None => Value::Null,
            Some(s) => json!({
                "source": s.source, "fidelity": upper(&s.fidelity), "observedAt": s.observed_at,
                "observedOperationRunId": s.run_id.map(ids.run), "hash": s.hash,
            }),
        }
    }
}

/// Renders rows in one format, keeping what it needs between pages.
struct Renderer {
    format: Format,
    ids: Ids,
    /// Findings rendered so far.
    count: u64,
    /// HTML: the policy type whose section is open.
    section: Option<String>,
}

/// A spreadsheet must not run a cell as a formula (OWASP's CSV injection):
/// text that starts like one is prefixed with `'`.
fn cell(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    }
}

const CSV_COLUMNS: [&str; 21] = [
    "finding_id",
    "policy_type",
    "display_name",
    "subject_key",
    "finding_type",
    "status",
    "severity",
    "fidelity",
    "changed_aspects",
    "paths",
    "setting_changes",
    "first_seen_at",
    "last_seen_at",
    "times_seen",
    "baseline_source",
    "baseline_observed_at",
    "baseline_run_id",
    "current_source",
    "current_observed_at",
    "current_run_id",
    "accepted_reason",
];

fn esc(text: &str) -> String {
    html_escape::encode_text(text).into_owned()
}

fn value_text(value: &Option<Value>) -> String {
    match value {
        None => "—".to_owned(),
        Some(v) => {
            let text = serde_json::to_string(v).unwrap_or_default();
            if text.chars().count() > HTML_VALUE_CHARS {
                let cut: String = text.chars().take(HTML_VALUE_CHARS).collect();
                format!("{cut}…")
            } else {
                text
            }
        }
    }
}

const HTML_STYLE: &str = "
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;color:#1d2330;margin:2rem auto;max-width:1100px;padding:0 1.5rem}
h1{font-size:1.6rem;margin:0 0 .25rem}h2{font-size:1.2rem;border-bottom:2px solid #d5d9e2;padding-bottom:.2rem;margin-top:2rem}
h3{font-size:1rem;margin:0}.meta{color:#5b6475}dl.summary{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem;margin:1rem 0}
dl.summary dt{font-weight:600}section.finding{border:1px solid #d5d9e2;border-radius:6px;padding:.75rem 1rem;margin:.75rem 0;break-inside:avoid}
.badge{display:inline-block;font-size:.75rem;font-weight:600;padding:.05rem .45rem;border-radius:3px;margin-left:.35rem;background:#eef0f4}
.sev-critical,.sev-high{background:#fde2e1;color:#8a1c14}.sev-medium{background:#fff1d6;color:#7a4b00}.sev-low,.sev-info{background:#e3f0ff;color:#17467d}
table{border-collapse:collapse;width:100%;margin-top:.5rem;font-size:.85rem}th,td{text-align:left;vertical-align:top;border-top:1px solid #e6e8ee;padding:.25rem .4rem}
td code{word-break:break-all}table.changes td:first-child{width:30%}th{font-weight:600;color:#5b6475}.none{color:#5b6475;font-style:italic;margin:.4rem 0 0}
@media print{body{margin:0;max-width:none}section.finding{border-color:#999}}
";

impl Renderer {
    fn preamble(&self, scope: &Scope, header: &Header) -> String {
        let statuses: Vec<String> = scope.statuses.iter().map(|s| upper(&s.as_str())).collect();
        match self.format {
            Format::Csv => {
                let mut out = Vec::new();
                {
                    let mut w = csv::Writer::from_writer(&mut out);
                    let _ = w.write_record(CSV_COLUMNS);
                    let _ = w.flush();
                }
                String::from_utf8(out).unwrap_or_default()
            }
            Format::Json => {
                let report = json!({
                    "tenant": {"id": (self.ids.tenant)(scope.tenant.id), "name": scope.tenant.name},
                    "baselineProfile": {"id": (self.ids.profile)(scope.profile.id), "name": scope.profile.name},
                    "snapshotCapturedAt": header.snapshot.as_ref().map(|s| rfc3339(s.captured_at)),
                    "alignment": header.alignment.as_ref().map(|a| json!({
                        "alignedPercent": a.aligned_percent,
                        "contentVerifiedPercent": a.content_verified_percent,
                        "applicable": a.applicable, "compliant": a.compliant, "asOf": rfc3339(a.as_of),
                    })),
                    "statuses": statuses,
                    "generatedAt": rfc3339(header.generated_at),
                });
                format!("{{\"version\":{VERSION},\"report\":{report},\"findings\":[")
            }
            Format::Html => {
                let title = format!(
                    "Drift report: {} against {}",
                    scope.tenant.name, scope.profile.name
                );
                let mut out = String::new();
                let _ = write!(
                    out,
                    "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{HTML_STYLE}</style></head><body><header><h1>{}</h1><p class=\"meta\">drift-engine findings report, generated {}</p><dl class=\"summary\">",
                    esc(&title),
                    esc(&title),
                    rfc3339(header.generated_at)
                );
                let mut row = |term: &str, value: String| {
                    let _ = write!(out, "<dt>{}</dt><dd>{}</dd>", esc(term), esc(&value));
                };
                row("Tenant", scope.tenant.name.clone());
                row("Baseline profile", scope.profile.name.clone());
                row(
                    "Baseline snapshot",
                    header.snapshot.as_ref().map_or_else(
                        || "none captured".to_owned(),
                        |s| {
                            format!(
                                "captured {}, {} items",
                                rfc3339(s.captured_at),
                                s.item_count
                            )
                        },
                    ),
                );
                row(
                    "Alignment",
                    header.alignment.as_ref().map_or_else(
                        || "no compare yet".to_owned(),
                        |a| {
                            let pct = |p: Option<f64>| {
                                p.map_or_else(|| "n/a".to_owned(), |p| format!("{p:.2} %"))
                            };
                            format!(
                                "{} aligned ({} of {} subjects), {} content-verified, as of {}",
                                pct(a.aligned_percent),
                                a.compliant,
                                a.applicable,
                                pct(a.content_verified_percent),
                                rfc3339(a.as_of)
                            )
                        },
                    ),
                );
                row("Statuses listed", statuses.join(", "));
                out.push_str("</dl></header><main>");
                out
            }
        }
    }

    fn rows(&mut self, rows: &[Row<'_>]) -> String {
        match self.format {
            Format::Csv => {
                let mut out = Vec::new();
                {
                    let mut w = csv::Writer::from_writer(&mut out);
                    for r in rows {
                        let b = r.baseline.as_ref();
                        let c = r.current.as_ref();
                        let run = |s: Option<&Side>| {
                            s.and_then(|s| s.run_id)
                                .map(self.ids.run)
                                .unwrap_or_default()
                        };
                        let record = [
                            (self.ids.finding)(r.f.id),
                            cell(&r.f.policy_type),
                            cell(&r.f.display_name),
                            cell(&r.f.subject_key),
                            upper(&r.f.finding_type.as_str()),
                            upper(&r.f.status.as_str()),
                            upper(&r.f.severity.as_str()),
                            upper(&r.f.evidence_fidelity.as_str()),
                            upper(&r.aspects.join(";")),
                            cell(&r.paths().join("; ")),
                            match &r.changes {
                                ListedChanges::Listed { .. } => {
                                    cell(&r.changes_json()["changes"].to_string())
                                }
                                ListedChanges::Unavailable(_) => String::new(),
                            },
                            rfc3339(r.f.first_seen_at),
                            rfc3339(r.f.last_seen_at),
                            r.f.times_seen.to_string(),
                            b.map(|s| s.source.clone()).unwrap_or_default(),
                            b.map(|s| s.observed_at.clone()).unwrap_or_default(),
                            run(b),
                            c.map(|s| s.source.clone()).unwrap_or_default(),
                            c.map(|s| s.observed_at.clone()).unwrap_or_default(),
                            run(c),
                            cell(r.f.accepted_reason.as_deref().unwrap_or_default()),
                        ];
                        let _ = w.write_record(&record);
                    }
                    let _ = w.flush();
                }
                self.count += rows.len() as u64;
                String::from_utf8(out).unwrap_or_default()
            }
            Format::Json => {
                let mut out = String::new();
                for r in rows {
                    if self.count > 0 {
                        out.push(',');
                    }
                    self.count += 1;
                    let item = json!({
                        "id": (self.ids.finding)(r.f.id),
                        "subject": {"policyType": r.f.policy_type, "displayName": r.f.display_name,
                                    "subjectKey": r.f.subject_key},
                        "findingType": upper(&r.f.finding_type.as_str()),
                        "status": upper(&r.f.status.as_str()),
                        "severity": upper(&r.f.severity.as_str()),
                        "fidelity": upper(&r.f.evidence_fidelity.as_str()),
                        "changedAspects": r.aspects.iter().map(|a| upper(a)).collect::<Vec<_>>(),
                        "settingChanges": r.changes_json(),
                        "baseline": r.side_json(&r.baseline, &self.ids),
                        "current": r.side_json(&r.current, &self.ids),
                        "firstSeenAt": rfc3339(r.f.first_seen_at),
                        "lastSeenAt": rfc3339(r.f.last_seen_at),
                        "timesSeen": r.f.times_seen,
                        "acceptedReason": r.f.accepted_reason,
                        "acceptedUntil": r.f.accepted_until.map(rfc3339),
                    });
                    out.push_str(&item.to_string());
                }
                out
            }
            Format::Html => {
                let mut out = String::new();
                for r in rows {
                    self.count += 1;
                    if self.section.as_deref() != Some(r.f.policy_type.as_str()) {
                        if self.section.is_some() {
                            out.push_str("</section>");
                        }
                        let _ = write!(
                            out,
                            "<section class=\"policy-type\"><h2>{}</h2>",
                            esc(&r.f.policy_type)
                        );
                        self.section = Some(r.f.policy_type.clone());
                    }
                    html_finding(&mut out, r, &self.ids);
                }
                out
            }
        }
    }

    fn epilogue(&self) -> String {
        match self.format {
            Format::Csv => String::new(),
            Format::Json => format!("],\"count\":{}}}\n", self.count),
            Format::Html => {
                let mut out = String::new();
                if self.section.is_some() {
                    out.push_str("</section>");
                } else {
                    out.push_str("<p class=\"none\">No findings with these statuses.</p>");
                }
                let _ = writeln!(
                    out,
                    "</main><footer><p class=\"meta\">{} findings.</p></footer></body></html>",
                    self.count
                );
                out
            }
        }
    }
}

fn html_finding(out: &mut String, r: &Row<'_>, ids: &Ids) {
    let severity = r.f.severity.as_str();
    let _ = write!(
        out,
        "<section class=\"finding\" id=\"{}\"><h3>{}<span class=\"badge sev-{}\">{}</span><span class=\"badge\">{}</span><span class=\"badge\">{}</span><span class=\"badge\">{}</span></h3><p class=\"meta\">{} · first seen {} · last seen {} · seen {} times</p>",
        html_escape::encode_double_quoted_attribute(&(ids.finding)(r.f.id)),
        esc(&r.f.display_name),
        esc(&severity),
        esc(&upper(&severity)),
        esc(&upper(&r.f.finding_type.as_str())),
        esc(&upper(&r.f.status.as_str())),
        esc(&upper(&r.f.evidence_fidelity.as_str())),
        esc(&r.f.subject_key),
        rfc3339(r.f.first_seen_at),
        rfc3339(r.f.last_seen_at),
        r.f.times_seen
    );
    if let Some(reason) = &r.f.accepted_reason {
        let _ = write!(out, "<p class=\"meta\">Accepted: {}</p>", esc(reason));
    }
    match &r.changes {
        ListedChanges::Listed { changes, excluded } => {
            out.push_str("<table class=\"changes\"><thead><tr><th>Setting</th><th>Change</th><th>Baseline</th><th>Current</th></tr></thead><tbody>");
            for c in changes {
                let _ = write!(
                    out,
                    "<tr><td><code>{}</code></td><td>{}</td><td><code>{}</code></td><td><code>{}</code></td></tr>",
                    esc(&c.path),
                    change_name(c.change),
                    esc(&value_text(&c.baseline)),
                    esc(&value_text(&c.current))
                );
            }
            out.push_str("</tbody></table>");
            if *excluded > 0 {
                let _ = write!(
                    out,
                    "<p class=\"none\">{excluded} more changes are excluded by the profile.</p>"
                );
            }
        }
        ListedChanges::Unavailable(reason) => {
            let _ = write!(
                out,
                "<p class=\"none\">No setting changes: {}.</p>",
                esc(reason)
            );
        }
    }
    out.push_str("<table class=\"provenance\"><thead><tr><th>Side</th><th>Source</th><th>Fidelity</th><th>Observed</th><th>Run</th></tr></thead><tbody>");
    for (name, s) in [("Baseline", &r.baseline), ("Current", &r.current)] {
        match s {
            Some(s) => {
                let _ = write!(
                    out,
                    "<tr><td>{name}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(&s.source),
                    esc(&upper(&s.fidelity)),
                    esc(&s.observed_at),
                    s.run_id
                        .map(|id| esc(&(ids.run)(id)))
                        .unwrap_or_else(|| "—".into())
                );
            }
            None => {
                let _ = write!(
                    out,
                    "<tr><td>{name}</td><td colspan=\"4\" class=\"none\">absent</td></tr>"
                );
            }
        }
    }
    out.push_str("</tbody></table></section>");
}

/// Where the producer is.
enum Stage {
    Start,
    /// The next page starts after this (policy type, display name, id).
    Page(Option<(String, String, i64)>),
    Done,
}

struct Producer {
    db: DatabaseConnection,
    scope: Scope,
    renderer: Renderer,
    stage: Stage,
}

impl Producer {
    async fn page(&self, after: &Option<(String, String, i64)>) -> Result<Vec<finding::Model>> {
        let mut select = finding::Entity::find()
            .filter(finding::Column::TenantId.eq(self.scope.tenant.id))
            .filter(finding::Column::BaselineProfileId.eq(self.scope.profile.id))
            .filter(finding::Column::Status.is_in(self.scope.statuses.clone()));
        if let Some((policy_type, display_name, id)) = after {
            select = select.filter(
                Expr::tuple([
                    Expr::col(finding::Column::PolicyType),
                    Expr::col(finding::Column::DisplayName),
                    Expr::col(finding::Column::Id),
                ])
                .gt(Expr::tuple([
                    Expr::val(policy_type.clone()),
                    Expr::val(display_name.clone()),
                    Expr::val(*id),
                ])),
            );
        }
        Ok(select
            .order_by_asc(finding::Column::PolicyType)
            .order_by_asc(finding::Column::DisplayName)
            .order_by_asc(finding::Column::Id)
            .limit(PAGE)
            .all(&self.db)
            .await?)
    }

    async fn next_chunk(&mut self) -> Result<Option<Bytes>> {
        match std::mem::replace(&mut self.stage, Stage::Done) {
            Stage::Done => Ok(None),
            Stage::Start => {
                let header = header(&self.db, &self.scope).await?;
                self.stage = Stage::Page(None);
                Ok(Some(Bytes::from(
                    self.renderer.preamble(&self.scope, &header),
                )))
            }
            Stage::Page(after) => {
                let page = self.page(&after).await?;
                let hashes = findings::change_blob_hashes(&page);
                let blobs: HashMap<String, Option<Value>> = if hashes.is_empty() {
                    HashMap::new()
                } else {
                    crate::evidence::blobs::load(&self.db, hashes).await?
                };
                let rows = page
                    .iter()
                    .map(|f| {
                        Ok(Row {
                            f,
                            changes: findings::listed_changes(f, &blobs)?,
                            aspects: findings::changed_aspects(f),
                            baseline: side(&f.evidence_jsonb, "baseline"),
                            current: side(&f.evidence_jsonb, "current"),
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                let mut chunk = self.renderer.rows(&rows);
                if (page.len() as u64) < PAGE {
                    chunk.push_str(&self.renderer.epilogue());
                } else if let Some(last) = page.last() {
                    self.stage = Stage::Page(Some((
                        last.policy_type.clone(),
                        last.display_name.clone(),
                        last.id,
                    )));
                }
                Ok(Some(Bytes::from(chunk)))
            }
        }
    }
}

/// The report, as chunks read one page at a time while they are consumed.
/// An error ends the stream early: an HTTP response is then cut off (never
/// silently short), and the CLI exits non-zero.
pub fn stream(
    db: DatabaseConnection,
    scope: Scope,
    format: Format,
    ids: Ids,
) -> impl Stream<Item = Result<Bytes>> + Send + 'static {
    let producer = Producer {
        db,
        scope,
        renderer: Renderer {
            format,
            ids,
            count: 0,
            section: None,
        },
        stage: Stage::Start,
    };
    futures_util::stream::try_unfold(producer, |mut p| async move {
        Ok(p.next_chunk().await?.map(|chunk| (chunk, p)))
    })
}

/// A file name for the report: `drift-findings-<tenant>-<profile>.<ext>`.
pub fn file_name(scope: &Scope, format: Format) -> String {
    format!(
        "drift-findings-{}-{}.{}",
        scope.tenant.id,
        scope.profile.id,
        format.extension()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_that_look_like_formulas_are_quoted() {
        assert_eq!(cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(cell("+1"), "'+1");
        assert_eq!(cell("@SUM"), "'@SUM");
        assert_eq!(cell("Passwords"), "Passwords");
    }

    #[test]
    fn statuses_and_formats_parse_or_say_why_not() {
        assert_eq!(
            parse_statuses("open, RESOLVED").expect("parses"),
            [FindingStatus::Open, FindingStatus::Resolved]
        );
        assert!(parse_statuses("closed").is_err());
        assert!(parse_statuses(" , ").is_err());
        assert_eq!(Format::parse("HTML").expect("parses"), Format::Html);
        assert!(Format::parse("pdf").is_err());
    }
}
