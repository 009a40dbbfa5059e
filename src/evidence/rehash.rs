//! Re-derives stored hashes, once, when the normalization rules change.
//!
//! A hash is a function of the content and of the rules. When the rules
//! change (version 2 made a declared-type `@odata.type` and a null member
//! the same as none), a baseline captured under the old rules and a tenant
//! captured under the new ones would differ for every policy that held
//! either, which is false drift for a whole fleet on the day of an upgrade.
//! So the server re-derives, in batches, from what it stores:
//! - each policy version's content hash from its stored (redacted) payload;
//! - each snapshot item's content hash from its stored normalized blob;
//! - each inventory item's meta hash from its stored meta.
//!
//! Findings need nothing: the next compare sees the new hashes. It runs
//! inside `db::migrate`, so on PostgreSQL it holds the migration lock and
//! replicas that start together do it once.

use std::collections::HashMap;

use entity::{baseline_snapshot_item, evidence_blob, inventory_item, policy_version};
use sea_orm::sea_query::{Alias, CaseStatement, Expr, OnConflict, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, ExprTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde_json::Value;

use super::ingest::{self, Blob};
use super::{meta, normalize};

/// The version of the rules every stored hash was derived under.
/// 1: until 2026-12; 2: declared `@odata.type`s and null members are absent.
pub const RULES_VERSION: i64 = 2;
const STATE_KEY: &str = "evidence_rules_version";
/// Rows read per statement.
const CHUNK: u64 = 500;

/// Rows whose hash changed, per table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rehashed {
    pub policy_versions: u64,
    pub snapshot_items: u64,
    pub inventory_items: u64,
}

/// Re-derives every stored hash when the database's rules version is older
/// than [`RULES_VERSION`]; `None` when it is current.
pub async fn upgrade<C: ConnectionTrait>(db: &C) -> Result<Option<Rehashed>, DbErr> {
    if stored_version(db).await? >= RULES_VERSION {
        return Ok(None);
    }
    let done = Rehashed {
        policy_versions: policy_versions(db).await?,
        snapshot_items: snapshot_items(db).await?,
        inventory_items: inventory_items(db).await?,
    };
    write_version(db).await?;
    tracing::info!(
        rules_version = RULES_VERSION,
        policy_versions = done.policy_versions,
        snapshot_items = done.snapshot_items,
        inventory_items = done.inventory_items,
        "stored hashes re-derived under the current evidence rules"
    );
    Ok(Some(done))
}

/// The rules version of the stored hashes; a database from before the
/// version was kept is at 1.
pub async fn stored_version<C: ConnectionTrait>(db: &C) -> Result<i64, DbErr> {
    let select = Query::select()
        .column(Alias::new("value"))
        .from(Alias::new("engine_state"))
        .and_where(Expr::col(Alias::new("key")).eq(STATE_KEY))
        .to_owned();
    let row = db.query_one(&select).await?;
    Ok(row
        .map(|r| r.try_get::<String>("", "value"))
        .transpose()?
        .and_then(|v| v.parse().ok())
        .unwrap_or(1))
}

/// Sets the stored rules version (tests use it to stand for an old
/// database).
pub async fn write_version_as<C: ConnectionTrait>(db: &C, version: i64) -> Result<(), DbErr> {
    let insert = Query::insert()
        .into_table(Alias::new("engine_state"))
        .columns([Alias::new("key"), Alias::new("value")])
        .values_panic([STATE_KEY.into(), version.to_string().into()])
        .on_conflict(
            OnConflict::column(Alias::new("key"))
                .update_column(Alias::new("value"))
                .to_owned(),
        )
        .to_owned();
    db.execute(&insert).await?;
    Ok(())
}

async fn write_version<C: ConnectionTrait>(db: &C) -> Result<(), DbErr> {
    write_version_as(db, RULES_VERSION).await
}

fn internal(e: impl std::fmt::Display) -> DbErr {
    DbErr::Custom(format!("re-deriving hashes: {e}"))
}

/// `UPDATE table SET column = CASE id WHEN .. THEN .. END WHERE id IN (..)`
/// for one chunk of changed rows.
async fn set_by_id<C, E>(
    db: &C,
    entity: E,
    id: impl sea_orm::sea_query::IntoColumnRef + Copy,
    column: impl sea_orm::sea_query::IntoIden,
    changed: Vec<(i64, Option<String>)>,
) -> Result<u64, DbErr>
where
    C: ConnectionTrait,
    E: sea_orm::sea_query::IntoTableRef,
{
    if changed.is_empty() {
        return Ok(0);
    }
    let ids: Vec<i64> = changed.iter().map(|(id, _)| *id).collect();
    let mut case = CaseStatement::new();
    for (row, value) in changed {
        case = case.case(Expr::col(id).eq(row), Expr::val(value));
    }
    let update = Query::update()
        .table(entity)
        .value(column, case)
        .and_where(Expr::col(id).is_in(ids))
        .to_owned();
    Ok(db.execute(&update).await?.rows_affected())
}

/// Normalizes one stored document under the current rules: its new hash
/// and the blob that stores it, or `None` when it no longer normalizes.
fn renormalized(
    backend: sea_orm::DbBackend,
    policy_type: &str,
    document: &Value,
) -> Option<(String, Blob)> {
    let n = normalize::normalize(policy_type, document).ok()?;
    let hash = n.hash.clone();
    ingest::blob_of(backend, n).ok().map(|blob| (hash, blob))
}

async fn policy_versions<C: ConnectionTrait>(db: &C) -> Result<u64, DbErr> {
    let backend = db.get_database_backend();
    let (mut after, mut changed_total) = (0i64, 0u64);
    loop {
        let rows: Vec<(i64, String, Value, Option<String>)> = policy_version::Entity::find()
            .select_only()
            .columns([
                policy_version::Column::Id,
                policy_version::Column::PolicyType,
                policy_version::Column::Content,
                policy_version::Column::ContentHash,
            ])
            .filter(policy_version::Column::Id.gt(after))
            .filter(policy_version::Column::ContentHash.is_not_null())
            .order_by_asc(policy_version::Column::Id)
            .limit(CHUNK)
            .into_tuple()
            .all(db)
            .await?;
        let Some(last) = rows.last() else { break };
        after = last.0;
        let (mut blobs, mut changed) = (Vec::new(), Vec::new());
        for (id, policy_type, content, old) in rows {
            // A version that no longer normalizes keeps its hash: losing
            // evidence is worse than one stale hash.
            let Some((hash, blob)) = renormalized(backend, &policy_type, &content) else {
                continue;
            };
            if old.as_deref() != Some(hash.as_str()) {
                changed.push((id, Some(hash)));
                blobs.push(blob);
            }
        }
        store(db, blobs).await?;
        changed_total += set_by_id(
            db,
            policy_version::Entity,
            policy_version::Column::Id,
            policy_version::Column::ContentHash,
            changed,
        )
        .await?;
    }
    Ok(changed_total)
}

async fn snapshot_items<C: ConnectionTrait>(db: &C) -> Result<u64, DbErr> {
    let backend = db.get_database_backend();
    let (mut after, mut changed_total) = (0i64, 0u64);
    loop {
        let rows: Vec<(i64, String, String)> = baseline_snapshot_item::Entity::find()
            .select_only()
            .columns([
                baseline_snapshot_item::Column::Id,
                baseline_snapshot_item::Column::PolicyType,
                baseline_snapshot_item::Column::BaselineHash,
            ])
            .filter(baseline_snapshot_item::Column::Id.gt(after))
            .filter(baseline_snapshot_item::Column::BaselineHash.is_not_null())
            .order_by_asc(baseline_snapshot_item::Column::Id)
            .limit(CHUNK)
            .into_tuple()
            .all(db)
            .await?;
        let Some(last) = rows.last() else { break };
        after = last.0;
        // Content hashes have a blob; meta hashes (meta-fidelity items) do
        // not, and are left as they are.
        let mut wanted: Vec<&str> = rows.iter().map(|(_, _, h)| h.as_str()).collect();
        wanted.sort_unstable();
        wanted.dedup();
        let stored: HashMap<String, Value> = evidence_blob::Entity::find()
            .select_only()
            .columns([evidence_blob::Column::Hash, evidence_blob::Column::Content])
            .filter(evidence_blob::Column::Hash.is_in(wanted))
            .into_tuple::<(String, Value)>()
            .all(db)
            .await?
            .into_iter()
            .collect();
        let (mut blobs, mut changed) = (Vec::new(), Vec::new());
        let mut done: HashMap<(&str, &str), Option<String>> = HashMap::new();
        for (id, policy_type, old) in &rows {
            let Some(content) = stored.get(old) else {
                continue;
            };
            let new = done
                .entry((policy_type.as_str(), old.as_str()))
                .or_insert_with(|| {
                    renormalized(backend, policy_type, content).map(|(hash, blob)| {
                        blobs.push(blob);
                        hash
                    })
                })
                .clone();
            if let Some(hash) = new
                && hash != *old
            {
                changed.push((*id, Some(hash)));
            }
        }
        store(db, blobs).await?;
        changed_total += set_by_id(
            db,
            baseline_snapshot_item::Entity,
            baseline_snapshot_item::Column::Id,
            baseline_snapshot_item::Column::BaselineHash,
            changed,
        )
        .await?;
    }
    Ok(changed_total)
}

async fn inventory_items<C: ConnectionTrait>(db: &C) -> Result<u64, DbErr> {
    let (mut after, mut changed_total) = (0i64, 0u64);
    loop {
        let rows: Vec<(i64, String, Value, Option<String>)> = inventory_item::Entity::find()
            .select_only()
            .columns([
                inventory_item::Column::Id,
                inventory_item::Column::PolicyType,
                inventory_item::Column::MetaJsonb,
                inventory_item::Column::MetaHash,
            ])
            .filter(inventory_item::Column::Id.gt(after))
            .order_by_asc(inventory_item::Column::Id)
            .limit(CHUNK)
            .into_tuple()
            .all(db)
            .await?;
        let Some(last) = rows.last() else { break };
        after = last.0;
        let changed: Vec<(i64, Option<String>)> = rows
            .into_iter()
            .filter_map(|(id, policy_type, meta_doc, old)| {
                let new = meta::meta_hash(&policy_type, &meta_doc);
                (new != old).then_some((id, new))
            })
            .collect();
        changed_total += set_by_id(
            db,
            inventory_item::Entity,
            inventory_item::Column::Id,
            inventory_item::Column::MetaHash,
            changed,
        )
        .await?;
    }
    Ok(changed_total)
}

async fn store<C: ConnectionTrait>(db: &C, mut blobs: Vec<Blob>) -> Result<(), DbErr> {
    blobs.sort_unstable_by(|a, b| a.hash.cmp(&b.hash));
    blobs.dedup_by(|a, b| a.hash == b.hash);
    ingest::store_blobs(db, db.get_database_backend(), blobs, chrono::Utc::now())
        .await
        .map_err(internal)?;
    Ok(())
}
