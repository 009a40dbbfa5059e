//! Finding counters and the summaries built on them. A compare recounts
//! its scope (tenant × profile) in its last transaction, from the findings
//! themselves; triage and the acceptance sweep move single findings and
//! apply deltas in their own transactions. Summaries and the findings
//! list's `totalCount` then read a few counter rows, never the findings.

use std::collections::BTreeMap;

use entity::enums::{Fidelity, FindingStatus, FindingType, Severity};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};

/// The dimensions a counter counts by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Dims {
    pub tenant_id: i64,
    pub workspace_id: i64,
    pub baseline_profile_id: i64,
    pub status: FindingStatus,
    pub finding_type: FindingType,
    pub fidelity: Fidelity,
    pub severity: Severity,
}

impl Dims {
    pub fn of(f: &entity::finding::Model) -> Self {
        Dims {
            tenant_id: f.tenant_id,
            workspace_id: f.workspace_id,
            baseline_profile_id: f.baseline_profile_id,
            status: f.status,
            finding_type: f.finding_type,
            fidelity: f.evidence_fidelity,
            severity: f.severity,
        }
    }
}

fn placeholders(backend: DbBackend, from: usize, n: usize) -> Vec<String> {
    (from..from + n)
        .map(|i| {
            if backend == DbBackend::Postgres {
                format!("${i}")
            } else {
                "?".to_owned()
            }
        })
        .collect()
}

/// Recounts one scope from its findings: two statements.
pub async fn recount_scope<C: ConnectionTrait>(
    db: &C,
    tenant_id: i64,
    baseline_profile_id: i64,
) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    let p = placeholders(backend, 1, 2);
    db.execute_raw(Statement::from_sql_and_values(
        backend,
        format!(
            "DELETE FROM finding_counters WHERE tenant_id = {} AND baseline_profile_id = {}",
            p[0], p[1]
        ),
        [tenant_id.into(), baseline_profile_id.into()],
    ))
    .await?;
    db.execute_raw(Statement::from_sql_and_values(
        backend,
        format!(
            "INSERT INTO finding_counters (tenant_id, workspace_id, baseline_profile_id, status, finding_type, fidelity, severity, count) \
             SELECT tenant_id, workspace_id, baseline_profile_id, status, finding_type, evidence_fidelity, severity, COUNT(*) \
             FROM findings WHERE tenant_id = {} AND baseline_profile_id = {} \
             GROUP BY tenant_id, workspace_id, baseline_profile_id, status, finding_type, evidence_fidelity, severity",
            p[0], p[1]
        ),
        [tenant_id.into(), baseline_profile_id.into()],
    ))
    .await?;
    Ok(())
}

/// Moves findings between counters: each `(from, to)` is one finding whose
/// dimensions changed. Deltas are summed first, then one upsert per
/// counter that changed.
pub async fn apply_moves<C: ConnectionTrait>(db: &C, moves: &[(Dims, Dims)]) -> Result<(), DbErr> {
    let mut delta: BTreeMap<Dims, i64> = BTreeMap::new();
    for (from, to) in moves {
        if from == to {
            continue;
        }
        *delta.entry(*from).or_default() -= 1;
        *delta.entry(*to).or_default() += 1;
    }
    let backend = db.get_database_backend();
    for (d, n) in delta.into_iter().filter(|(_, n)| *n != 0) {
        let p = placeholders(backend, 1, 8);
        db.execute_raw(Statement::from_sql_and_values(
            backend,
            format!(
                "INSERT INTO finding_counters (tenant_id, workspace_id, baseline_profile_id, status, finding_type, fidelity, severity, count) \
                 VALUES ({}) ON CONFLICT (tenant_id, baseline_profile_id, status, finding_type, fidelity, severity) \
                 DO UPDATE SET count = finding_counters.count + excluded.count",
                p.join(", ")
            ),
            [
                d.tenant_id.into(),
                d.workspace_id.into(),
                d.baseline_profile_id.into(),
                d.status.as_str().into(),
                d.finding_type.as_str().into(),
                d.fidelity.as_str().into(),
                d.severity.as_str().into(),
                n.into(),
            ],
        ))
        .await?;
    }
    Ok(())
}

/// Counts by each dimension, and the total.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub total: i64,
    pub by_status: BTreeMap<String, i64>,
    pub by_finding_type: BTreeMap<String, i64>,
    pub by_fidelity: BTreeMap<String, i64>,
    pub by_severity: BTreeMap<String, i64>,
}

/// Which counters a summary or a total reads.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Exactly one of tenant or workspace.
    pub tenant_id: Option<i64>,
    pub workspace_id: Option<i64>,
    /// With `workspace_id`: only these tenants (a member limited to some).
    pub tenant_ids: Option<Vec<i64>>,
    pub baseline_profile_id: Option<i64>,
    pub statuses: Option<Vec<FindingStatus>>,
    pub finding_types: Option<Vec<FindingType>>,
    pub fidelity: Option<Fidelity>,
}

/// One statement over the counters.
pub async fn summarize<C: ConnectionTrait>(db: &C, filter: &Filter) -> Result<Summary, DbErr> {
    let backend = db.get_database_backend();
    let mut clauses: Vec<String> = Vec::new();
    let mut values: Vec<sea_orm::Value> = Vec::new();
    let mut push = |clause: &str, vals: Vec<sea_orm::Value>| {
        let p = placeholders(backend, values.len() + 1, vals.len());
        clauses.push(clause.replace("{}", &p.join(", ")));
        values.extend(vals);
    };
    if let Some(t) = filter.tenant_id {
        push("tenant_id = {}", vec![t.into()]);
    }
    if let Some(w) = filter.workspace_id {
        push("workspace_id = {}", vec![w.into()]);
    }
    if let Some(ids) = &filter.tenant_ids {
        if ids.is_empty() {
            return Ok(Summary::default());
        }
        push(
            "tenant_id IN ({})",
            ids.iter().map(|i| (*i).into()).collect(),
        );
    }
    if let Some(p) = filter.baseline_profile_id {
        push("baseline_profile_id = {}", vec![p.into()]);
    }
    if let Some(s) = &filter.statuses {
        if s.is_empty() {
            return Ok(Summary::default());
        }
        push(
            "status IN ({})",
            s.iter().map(|x| x.as_str().into()).collect(),
        );
    }
    if let Some(t) = &filter.finding_types {
        if t.is_empty() {
            return Ok(Summary::default());
        }
        push(
            "finding_type IN ({})",
            t.iter().map(|x| x.as_str().into()).collect(),
        );
    }
    if let Some(f) = filter.fidelity {
        push("fidelity = {}", vec![f.as_str().into()]);
    }
    let sql = format!(
        "SELECT status, finding_type, fidelity, severity, CAST(SUM(count) AS BIGINT) AS n FROM finding_counters \
         WHERE {} GROUP BY status, finding_type, fidelity, severity",
        if clauses.is_empty() {
            "1 = 1".to_owned()
        } else {
            clauses.join(" AND ")
        }
    );
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    let mut out = Summary::default();
    for row in rows {
        let n: i64 = row.try_get("", "n")?;
        if n == 0 {
            continue;
        }
        let get = |c: &str| row.try_get::<String>("", c);
        out.total += n;
        *out.by_status.entry(get("status")?).or_default() += n;
        *out.by_finding_type.entry(get("finding_type")?).or_default() += n;
        *out.by_fidelity.entry(get("fidelity")?).or_default() += n;
        *out.by_severity.entry(get("severity")?).or_default() += n;
    }
    Ok(out)
}
