//! The provider chain and the batched resolver.
//!
//! `resolve_current_state` takes a whole batch of subjects and issues a fixed
//! number of statements per provider per chunk: one for content, one for
//! meta (and one more for the reasons, in a chunk whose newest content did
//! not normalize). Hashes were computed at ingestion, so no payload is read
//! here, and the content query is answered from its covering index.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::enums::Fidelity;
use entity::{inventory_item, policy_version};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, FromQueryResult, QueryFilter,
    QuerySelect, Statement,
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
        let content = ContentProvider { since }
            .resolve(db, tenant_id, chunk, &mut resolution.warnings)
            .await?;
        let mut meta = MetaProvider.resolve(db, tenant_id, chunk).await?;
        for subject in chunk {
            let meta_evidence = meta.remove(*subject);
            let chosen = content
                .get(*subject)
                .cloned()
                .or_else(|| meta_evidence.clone());
            if let Some(evidence) = chosen {
                resolution.states.insert(
                    (*subject).clone(),
                    CurrentState {
                        evidence,
                        meta: meta_evidence,
                    },
                );
            }
        }
    }
    Ok(resolution)
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

/// 1. Content: the latest policy version captured at or after `since` whose
///    content normalized.
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
                "id, policy_type, external_id, captured_at, operation_run_id, content_hash",
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
            let mut query = policy_version::Entity::find()
                .select_only()
                .columns([
                    policy_version::Column::Id,
                    policy_version::Column::PolicyType,
                    policy_version::Column::ExternalId,
                    policy_version::Column::CapturedAt,
                    policy_version::Column::OperationRunId,
                    policy_version::Column::ContentHash,
                ])
                .filter(policy_version::Column::TenantId.eq(tenant_id))
                .filter(policy_version::Column::PolicyType.is_in(types))
                .filter(policy_version::Column::ExternalId.is_in(ids));
            if let Some(since) = self.since {
                query = query.filter(policy_version::Column::CapturedAt.gte(since));
            }
            query.into_model().all(db).await?
        };
        let wanted: std::collections::HashSet<&SubjectRef> = chunk.iter().copied().collect();

        // Per subject: the latest version overall and the latest that normalized.
        let mut latest: HashMap<SubjectRef, (VersionRow, Option<VersionRow>)> = HashMap::new();
        for row in rows {
            let subject = SubjectRef::new(row.policy_type.clone(), row.external_id.clone());
            if !wanted.contains(&subject) {
                continue;
            }
            let entry = latest.entry(subject).or_insert_with(|| (row.clone(), None));
            if row.order() > entry.0.order() {
                entry.0 = row.clone();
            }
            if row.content_hash.is_some()
                && entry
                    .1
                    .as_ref()
                    .is_none_or(|best| row.order() > best.order())
            {
                entry.1 = Some(row);
            }
        }
        // Why the newest version of a subject did not normalize: read only
        // for those (rarely any), so the main query stays inside its index.
        let unusable: Vec<i64> = latest
            .values()
            .filter(|(newest, _)| newest.content_hash.is_none())
            .map(|(newest, _)| newest.id)
            .collect();
        let reasons: HashMap<i64, Option<String>> = if unusable.is_empty() {
            HashMap::new()
        } else {
            policy_version::Entity::find()
                .select_only()
                .columns([
                    policy_version::Column::Id,
                    policy_version::Column::NormalizeWarning,
                ])
                .filter(policy_version::Column::TenantId.eq(tenant_id))
                .filter(policy_version::Column::Id.is_in(unusable))
                .into_tuple::<(i64, Option<String>)>()
                .all(db)
                .await?
                .into_iter()
                .collect()
        };
        let mut out = HashMap::new();
        for (subject, (newest, usable)) in latest {
            if newest.content_hash.is_none() {
                warnings.push(EvidenceWarning {
                    policy_type: subject.policy_type.clone(),
                    external_id: Some(subject.external_id.clone()),
                    reason: format!(
                        "the policy version captured at {} is not normalizable ({}); {}",
                        newest.captured_at.to_rfc3339(),
                        reasons
                            .get(&newest.id)
                            .and_then(Option::as_deref)
                            .unwrap_or("no reason recorded"),
                        if usable.is_some() {
                            "an older normalizable version was used"
                        } else {
                            "fell back to meta evidence"
                        }
                    ),
                });
            }
            if let Some(row) = usable {
                out.insert(
                    subject,
                    Evidence {
                        hash: row.content_hash.unwrap_or_default(),
                        provenance: Provenance {
                            fidelity: Fidelity::Content,
                            source: EvidenceSource::PolicyVersion,
                            observed_at: row.captured_at,
                            observed_operation_run_id: row.operation_run_id,
                        },
                    },
                );
            }
        }
        Ok(out)
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

/// 2. Meta: the inventory item's meta contract hash.
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
            let Some(hash) = row.meta_hash else { continue };
            if wanted.contains(&subject) {
                out.insert(
                    subject,
                    Evidence {
                        hash,
                        provenance: Provenance {
                            fidelity: Fidelity::Meta,
                            source: EvidenceSource::Inventory,
                            observed_at: row.last_seen_at,
                            observed_operation_run_id: row.last_seen_operation_run_id,
                        },
                    },
                );
            }
        }
        Ok(out)
    }
}
