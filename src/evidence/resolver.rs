//! The provider chain and the batched resolver.
//!
//! One chain (content, then meta) with two ways of selecting the rows it
//! reads:
//! - `resolve_current_state` takes a list of subjects (a GraphQL page) and
//!   issues a fixed number of statements per provider per chunk: one for
//!   content, one for meta (and one more for the reasons, in a chunk whose
//!   newest content did not normalize);
//! - `resolve_present` takes a tenant's policy types (a capture or a
//!   compare) and reads each provider's rows in one streamed statement, so
//!   that resolving 100,000 subjects is two reads rather than 400 probes.
//!
//! Both hand the rows they read to the same provider rules (`Latest`,
//! `content_evidence`, `meta_evidence`) and the same `chain`. Hashes were
//! computed at ingestion, so no payload is read here, and the content rows
//! are answered from their covering index.

use std::collections::HashMap;
use std::pin::Pin;

use chrono::{DateTime, Utc};
use entity::enums::Fidelity;
use entity::{inventory_item, policy_version};
use futures_util::{Stream, TryStreamExt as _};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, FromQueryResult, QueryFilter,
    QueryOrder, QuerySelect, Select, Statement, StreamTrait,
};

use super::{Evidence, EvidenceSource, EvidenceWarning, Provenance, SubjectRef};

/// Subjects per chunk: well under SQLite's and PostgreSQL's bind limits.
pub const CHUNK_SIZE: usize = 500;

/// The current state of one subject.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CurrentState {
    /// The first non-null answer of the chain (content, then meta).
    pub evidence: Evidence,
    /// Meta evidence as well, so a compare against a meta-only side can
    /// compare meta with meta.
    pub meta: Option<Evidence>,
}

#[derive(Clone, Debug, Default)]
pub struct Resolution {
    pub states: HashMap<SubjectRef, CurrentState>,
    pub warnings: Vec<EvidenceWarning>,
}

impl Resolution {
    pub fn get(&self, subject: &SubjectRef) -> Option<&CurrentState> {
        self.states.get(subject)
    }
}

/// Resolves every subject of one tenant. `since`: content captured before it
/// is ignored (`None` accepts any content). Subjects with no evidence from any
/// provider are absent from the result: evidence gaps.
pub async fn resolve_current_state<C: ConnectionTrait>(
    db: &C,
    tenant_id: i64,
    subjects: &[SubjectRef],
    since: Option<DateTime<Utc>>,
) -> Result<Resolution, DbErr> {
    let mut resolution = Resolution::default();
    let mut unique: Vec<&SubjectRef> = subjects.iter().collect();
    unique.sort();
    unique.dedup();
    for chunk in unique.chunks(CHUNK_SIZE) {
        let mut content = ContentProvider { since }
            .resolve(db, tenant_id, chunk, &mut resolution.warnings)
            .await?;
        let mut meta = MetaProvider.resolve(db, tenant_id, chunk).await?;
        for subject in chunk {
            if let Some(state) = chain(content.remove(*subject), meta.remove(*subject)) {
                resolution.states.insert((*subject).clone(), state);
            }
        }
    }
    Ok(resolution)
}

/// A subject the tenant's latest inventory sync listed, with its state.
#[derive(Clone, Debug)]
pub struct PresentSubject {
    pub policy_type: String,
    pub external_id: String,
    pub display_name: String,
    /// The inventory meta document as JSON text, read only when asked for.
    pub meta_text: Option<String>,
    /// `None`: no provider had evidence (an evidence gap).
    pub state: Option<CurrentState>,
}

#[derive(Debug, Default)]
pub struct Presence {
    /// In (policy type, external id) order, which the tenant's subject
    /// indexes yield without a sort (first listed, by id, took SQLite a
    /// sort of every row).
    pub subjects: Vec<PresentSubject>,
    pub warnings: Vec<EvidenceWarning>,
}

/// An inventory item as presence and the meta provider read it: policy
/// type, external id, display name, meta hash, last seen at and by which
/// run, and the meta document as text. Rows of a scan are decoded by
/// position, which spares a column-name lookup per field per row.
type PresentRow = (
    String,
    String,
    String,
    Option<String>,
    DateTime<Utc>,
    Option<i64>,
    Option<String>,
);

/// A `PresentRow` without the meta document.
type MetaTuple = (
    String,
    String,
    String,
    Option<String>,
    DateTime<Utc>,
    Option<i64>,
);

/// A policy version as the content provider reads it, by position.
type VersionTuple = (
    i64,
    String,
    String,
    DateTime<Utc>,
    Option<i64>,
    Option<String>,
    Option<String>,
);

impl From<VersionTuple> for VersionRow {
    fn from(
        (
            id,
            policy_type,
            external_id,
            captured_at,
            operation_run_id,
            content_hash,
            assignments_hash,
        ): VersionTuple,
    ) -> Self {
        VersionRow {
            id,
            policy_type,
            external_id,
            captured_at,
            operation_run_id,
            content_hash,
            assignments_hash,
        }
    }
}

/// Resolves every present subject of `policy_types` of one tenant: one
/// streamed read of its inventory (presence, and the meta provider's rows),
/// one of its policy versions captured at or after `since` (the content
/// provider's rows), and one per 500 subjects whose newest version did not
/// normalize. `with_meta_text`: also read each item's meta document.
pub async fn resolve_present<C: ConnectionTrait + StreamTrait>(
    db: &C,
    tenant_id: i64,
    policy_types: &[String],
    since: Option<DateTime<Utc>>,
    with_meta_text: bool,
) -> Result<Presence, DbErr> {
    let mut presence = Presence::default();
    if policy_types.is_empty() {
        return Ok(presence);
    }
    let inventory = inventory_item::Entity::find()
        .select_only()
        .columns([
            inventory_item::Column::PolicyType,
            inventory_item::Column::ExternalId,
            inventory_item::Column::DisplayName,
            inventory_item::Column::MetaHash,
            inventory_item::Column::LastSeenAt,
            inventory_item::Column::LastSeenOperationRunId,
        ])
        .filter(inventory_item::Column::TenantId.eq(tenant_id))
        .filter(inventory_item::Column::PolicyType.is_in(policy_types.iter().cloned()))
        .filter(inventory_item::Column::RemovedAt.is_null())
        .order_by_asc(inventory_item::Column::PolicyType)
        .order_by_asc(inventory_item::Column::ExternalId);
    // The meta document is a column only when asked for: even a NULL costs
    // the driver an allocation, and sea-orm an error message, per row.
    let mut rows: Pin<Box<dyn Stream<Item = Result<PresentRow, DbErr>> + Send + '_>> =
        if with_meta_text {
            Box::pin(
                inventory
                    .expr_as(Expr::cust("CAST(meta_jsonb AS TEXT)"), "meta_text")
                    .into_tuple::<PresentRow>()
                    .stream(db)
                    .await?,
            )
        } else {
            Box::pin(
                inventory
                    .into_tuple::<MetaTuple>()
                    .stream(db)
                    .await?
                    .map_ok(|(t, e, name, hash, at, by)| (t, e, name, hash, at, by, None)),
            )
        };
    let mut meta = Vec::new();
    while let Some(row) = rows.try_next().await? {
        let (policy_type, external_id, display_name, meta_hash, seen_at, seen_by, meta_text) = row;
        meta.push(meta_evidence(meta_hash, seen_at, seen_by));
        presence.subjects.push(PresentSubject {
            policy_type,
            external_id,
            display_name,
            meta_text,
            state: None,
        });
    }
    drop(rows);

    let position: HashMap<(&str, &str), usize, foldhash::quality::RandomState> = presence
        .subjects
        .iter()
        .enumerate()
        .map(|(i, s)| ((s.policy_type.as_str(), s.external_id.as_str()), i))
        .collect();
    let mut latest: Vec<Latest> = std::iter::repeat_with(Latest::default)
        .take(presence.subjects.len())
        .collect();
    let mut versions = version_rows(tenant_id, since)
        .filter(policy_version::Column::PolicyType.is_in(policy_types.iter().cloned()))
        .into_tuple::<VersionTuple>()
        .stream(db)
        .await?;
    while let Some(row) = versions.try_next().await? {
        // Versions of subjects the inventory no longer lists are not current.
        if let Some(&i) = position.get(&(row.1.as_str(), row.2.as_str())) {
            latest[i].offer(row.into());
        }
    }
    drop(versions);
    drop(position);

    let content = content_evidence(
        db,
        tenant_id,
        presence
            .subjects
            .iter()
            .map(|s| (s.policy_type.as_str(), s.external_id.as_str())),
        latest,
        &mut presence.warnings,
    )
    .await?;
    for ((subject, content), meta) in presence.subjects.iter_mut().zip(content).zip(meta) {
        subject.state = chain(content, meta);
    }
    Ok(presence)
}

/// Splits a chunk into the two `IN` lists that select it. The product of the
/// lists can be wider than the chunk, so rows are matched exactly afterwards.
fn in_lists(chunk: &[&SubjectRef]) -> (Vec<String>, Vec<String>) {
    let mut types: Vec<String> = chunk.iter().map(|s| s.policy_type.clone()).collect();
    let mut ids: Vec<String> = chunk.iter().map(|s| s.external_id.clone()).collect();
    types.sort();
    types.dedup();
    ids.sort();
    ids.dedup();
    (types, ids)
}

/// The chunk as one JSON parameter, `[{"t": policy type, "e": external id}]`.
fn subjects_json(chunk: &[&SubjectRef]) -> serde_json::Value {
    serde_json::Value::Array(
        chunk
            .iter()
            .map(|s| serde_json::json!({"t": s.policy_type, "e": s.external_id}))
            .collect(),
    )
}

/// `SELECT columns` of a tenant table's rows for the chunk's subjects
/// (`$1` tenant, `$2` the subjects as JSON): one index probe per subject.
/// PostgreSQL planned the `IN` lists that SQLite searches well (500
/// parameters each) as a filter over every row of the tenant's type, and a
/// plain join as a hash join over all the tenant's rows, whenever its
/// statistics lagged a bulk ingestion: a compare of 100,000 subjects took
/// minutes. A LATERAL subquery (kept apart by OFFSET 0) can only be probed.
fn pg_subject_lookup(table: &str, columns: &str, condition: &str) -> String {
    format!(
        "SELECT {columns} FROM jsonb_to_recordset($2::jsonb) AS s(t text, e text) \
         CROSS JOIN LATERAL (SELECT {columns} FROM {table} x \
         WHERE x.tenant_id = $1 AND x.policy_type = s.t AND x.external_id = s.e {condition} \
         OFFSET 0) x"
    )
}

/// The content provider for a list of subjects.
struct ContentProvider {
    since: Option<DateTime<Utc>>,
}

impl ContentProvider {
    async fn resolve<C: ConnectionTrait>(
        &self,
        db: &C,
        tenant_id: i64,
        chunk: &[&SubjectRef],
        warnings: &mut Vec<EvidenceWarning>,
    ) -> Result<HashMap<SubjectRef, Evidence>, DbErr> {
        let rows: Vec<VersionRow> = if db.get_database_backend() == DbBackend::Postgres {
            let sql = pg_subject_lookup(
                "policy_versions",
                "id, policy_type, external_id, captured_at, operation_run_id, content_hash, \
                 assignments_hash",
                "AND ($3::timestamptz IS NULL OR x.captured_at >= $3)",
            );
            let values: [sea_orm::Value; 3] = [
                tenant_id.into(),
                subjects_json(chunk).into(),
                self.since.into(),
            ];
            VersionRow::find_by_statement(Statement::from_sql_and_values(
                DbBackend::Postgres,
                sql,
                values,
            ))
            .all(db)
            .await?
        } else {
            let (types, ids) = in_lists(chunk);
            version_rows(tenant_id, self.since)
                .filter(policy_version::Column::PolicyType.is_in(types))
                .filter(policy_version::Column::ExternalId.is_in(ids))
                .into_model()
                .all(db)
                .await?
        };
        let wanted: std::collections::HashSet<&SubjectRef> = chunk.iter().copied().collect();
        let mut latest: HashMap<SubjectRef, Latest> = HashMap::new();
        for row in rows {
            let subject = SubjectRef::new(row.policy_type.clone(), row.external_id.clone());
            if wanted.contains(&subject) {
                latest.entry(subject).or_default().offer(row);
            }
        }
        let (subjects, latest): (Vec<SubjectRef>, Vec<Latest>) = latest.into_iter().unzip();
        let evidence = content_evidence(
            db,
            tenant_id,
            subjects
                .iter()
                .map(|s| (s.policy_type.as_str(), s.external_id.as_str())),
            latest,
            warnings,
        )
        .await?;
        Ok(subjects
            .into_iter()
            .zip(evidence)
            .filter_map(|(subject, evidence)| Some((subject, evidence?)))
            .collect())
    }
}

/// The first answer of the chain: content, then meta. Meta is kept beside
/// it so that a compare against a meta-only side can compare meta with meta.
fn chain(content: Option<Evidence>, meta: Option<Evidence>) -> Option<CurrentState> {
    let evidence = content.or_else(|| meta.clone())?;
    Some(CurrentState { evidence, meta })
}

/// The content provider's view of one subject's versions: the newest of
/// them and the newest whose content normalized.
#[derive(Default)]
struct Latest {
    newest: Option<(DateTime<Utc>, i64)>,
    newest_normalized: bool,
    usable: Option<VersionRow>,
}

impl Latest {
    fn offer(&mut self, row: VersionRow) {
        let order = row.order();
        if self.newest.is_none_or(|newest| order > newest) {
            self.newest = Some(order);
            self.newest_normalized = row.content_hash.is_some();
        }
        if row.content_hash.is_some() && self.usable.as_ref().is_none_or(|u| order > u.order()) {
            self.usable = Some(row);
        }
    }
}

/// 1. Content: the latest policy version captured at or after `since` whose
///    content normalized, for each subject (given in the order of `latest`).
///    A subject whose newest version did not normalize gets a warning with
///    the reason, read for those versions only (rarely any), so that the
///    main read stays inside its covering index.
async fn content_evidence<'a, C: ConnectionTrait>(
    db: &C,
    tenant_id: i64,
    subjects: impl Iterator<Item = (&'a str, &'a str)>,
    latest: Vec<Latest>,
    warnings: &mut Vec<EvidenceWarning>,
) -> Result<Vec<Option<Evidence>>, DbErr> {
    let unusable: Vec<i64> = latest
        .iter()
        .filter(|l| !l.newest_normalized)
        .filter_map(|l| l.newest.map(|(_, id)| id))
        .collect();
    let mut reasons: HashMap<i64, Option<String>> = HashMap::new();
    for ids in unusable.chunks(CHUNK_SIZE) {
        reasons.extend(
            policy_version::Entity::find()
                .select_only()
                .columns([
                    policy_version::Column::Id,
                    policy_version::Column::NormalizeWarning,
                ])
                .filter(policy_version::Column::TenantId.eq(tenant_id))
                .filter(policy_version::Column::Id.is_in(ids.iter().copied()))
                .into_tuple::<(i64, Option<String>)>()
                .all(db)
                .await?,
        );
    }
    Ok(subjects
        .zip(latest)
        .map(|((policy_type, external_id), latest)| {
            if let (Some((captured_at, id)), false) = (latest.newest, latest.newest_normalized) {
                warnings.push(EvidenceWarning {
                    code: None,
                    policy_type: policy_type.to_owned(),
                    external_id: Some(external_id.to_owned()),
                    reason: format!(
                        "the policy version captured at {} is not normalizable ({}); {}",
                        captured_at.to_rfc3339(),
                        reasons
                            .get(&id)
                            .and_then(Option::as_deref)
                            .unwrap_or("no reason recorded"),
                        if latest.usable.is_some() {
                            "an older normalizable version was used"
                        } else {
                            "fell back to meta evidence"
                        }
                    ),
                });
            }
            let row = latest.usable?;
            Some(Evidence {
                hash: row.content_hash?,
                provenance: Provenance {
                    fidelity: Fidelity::Content,
                    source: EvidenceSource::PolicyVersion,
                    observed_at: row.captured_at,
                    observed_operation_run_id: row.operation_run_id,
                },
                assignments_hash: row.assignments_hash,
            })
        })
        .collect())
}

/// 2. Meta: the inventory item's meta contract hash.
fn meta_evidence(
    meta_hash: Option<String>,
    last_seen_at: DateTime<Utc>,
    last_seen_operation_run_id: Option<i64>,
) -> Option<Evidence> {
    Some(Evidence {
        hash: meta_hash?,
        provenance: Provenance {
            fidelity: Fidelity::Meta,
            source: EvidenceSource::Inventory,
            observed_at: last_seen_at,
            observed_operation_run_id: last_seen_operation_run_id,
        },
        assignments_hash: None,
    })
}

/// The content provider's columns of a tenant's versions captured at or
/// after `since`; each selection adds which subjects.
fn version_rows(tenant_id: i64, since: Option<DateTime<Utc>>) -> Select<policy_version::Entity> {
    let query = policy_version::Entity::find()
        .select_only()
        .columns([
            policy_version::Column::Id,
            policy_version::Column::PolicyType,
            policy_version::Column::ExternalId,
            policy_version::Column::CapturedAt,
            policy_version::Column::OperationRunId,
            policy_version::Column::ContentHash,
            policy_version::Column::AssignmentsHash,
        ])
        .filter(policy_version::Column::TenantId.eq(tenant_id));
    match since {
        Some(since) => query.filter(policy_version::Column::CapturedAt.gte(since)),
        None => query,
    }
}

/// A policy version without its payload.
#[derive(Clone, Debug, FromQueryResult)]
struct VersionRow {
    id: i64,
    policy_type: String,
    external_id: String,
    captured_at: DateTime<Utc>,
    operation_run_id: Option<i64>,
    content_hash: Option<String>,
    assignments_hash: Option<String>,
}

impl VersionRow {
    fn order(&self) -> (DateTime<Utc>, i64) {
        (self.captured_at, self.id)
    }
}

/// An inventory item without its meta document.
#[derive(FromQueryResult)]
struct MetaRow {
    policy_type: String,
    external_id: String,
    meta_hash: Option<String>,
    last_seen_at: DateTime<Utc>,
    last_seen_operation_run_id: Option<i64>,
}

/// The meta provider for a list of subjects.
struct MetaProvider;

impl MetaProvider {
    async fn resolve<C: ConnectionTrait>(
        &self,
        db: &C,
        tenant_id: i64,
        chunk: &[&SubjectRef],
    ) -> Result<HashMap<SubjectRef, Evidence>, DbErr> {
        let rows: Vec<MetaRow> = if db.get_database_backend() == DbBackend::Postgres {
            let sql = pg_subject_lookup(
                "inventory_items",
                "policy_type, external_id, meta_hash, last_seen_at, last_seen_operation_run_id",
                "",
            );
            let values: [sea_orm::Value; 2] = [tenant_id.into(), subjects_json(chunk).into()];
            MetaRow::find_by_statement(Statement::from_sql_and_values(
                DbBackend::Postgres,
                sql,
                values,
            ))
            .all(db)
            .await?
        } else {
            let (types, ids) = in_lists(chunk);
            inventory_item::Entity::find()
                .select_only()
                .columns([
                    inventory_item::Column::PolicyType,
                    inventory_item::Column::ExternalId,
                    inventory_item::Column::MetaHash,
                    inventory_item::Column::LastSeenAt,
                    inventory_item::Column::LastSeenOperationRunId,
                ])
                .filter(inventory_item::Column::TenantId.eq(tenant_id))
                .filter(inventory_item::Column::PolicyType.is_in(types))
                .filter(inventory_item::Column::ExternalId.is_in(ids))
                .into_model()
                .all(db)
                .await?
        };
        let wanted: std::collections::HashSet<&SubjectRef> = chunk.iter().copied().collect();
        let mut out = HashMap::new();
        for row in rows {
            let subject = SubjectRef::new(row.policy_type, row.external_id);
            if !wanted.contains(&subject) {
                continue;
            }
            if let Some(evidence) = meta_evidence(
                row.meta_hash,
                row.last_seen_at,
                row.last_seen_operation_run_id,
            ) {
                out.insert(subject, evidence);
            }
        }
        Ok(out)
    }
}
