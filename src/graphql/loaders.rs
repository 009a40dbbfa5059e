//! DataLoaders: one `IN (...)` query per batch of keys, never a query per
//! row. A fresh set is created for every request, so caches never outlive
//! the request that filled them.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use entity::{baseline_profile, baseline_snapshot, operation_run, tenant, user, workspace};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter};

use crate::evidence::SubjectRef;
use crate::evidence::resolver::{CurrentState, resolve_current_state};

pub struct ByIdLoader {
    db: DatabaseConnection,
}

/// One `Loader` impl per (key, entity): `WHERE id IN (keys)`. Values are
/// shared: every hit on the request's cache hands out the same row, so a
/// run's context JSON is not deep-copied for each finding that names it.
macro_rules! by_id {
    ($key:ident, $entity:ident) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub struct $key(pub i64);

        impl Loader<$key> for ByIdLoader {
            type Value = Arc<$entity::Model>;
            type Error = DbErr;

            async fn load(&self, keys: &[$key]) -> Result<HashMap<$key, Self::Value>, Self::Error> {
                let rows = $entity::Entity::find()
                    .filter($entity::Column::Id.is_in(keys.iter().map(|k| k.0)))
                    .all(&self.db)
                    .await?;
                Ok(rows
                    .into_iter()
                    .map(|m| ($key(m.id), Arc::new(m)))
                    .collect())
            }
        }
    };
}

by_id!(WorkspaceId, workspace);
by_id!(UserId, user);
by_id!(TenantId, tenant);
by_id!(BaselineProfileId, baseline_profile);
by_id!(BaselineSnapshotId, baseline_snapshot);
by_id!(OperationRunId, operation_run);

/// The latest alignment point of (tenant, profile) pairs: one query with
/// `MAX(id)` per pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LatestAlignment {
    pub tenant_id: i64,
    pub baseline_profile_id: i64,
}

impl Loader<LatestAlignment> for ByIdLoader {
    type Value = Arc<entity::alignment_point::Model>;
    type Error = DbErr;

    async fn load(
        &self,
        keys: &[LatestAlignment],
    ) -> Result<HashMap<LatestAlignment, Self::Value>, Self::Error> {
        use entity::alignment_point::{Column, Entity};
        use sea_orm::QuerySelect;
        let latest: Vec<i64> = Entity::find()
            .select_only()
            .column_as(Column::Id.max(), "id")
            .filter(Column::TenantId.is_in(keys.iter().map(|k| k.tenant_id)))
            .filter(Column::BaselineProfileId.is_in(keys.iter().map(|k| k.baseline_profile_id)))
            .group_by(Column::TenantId)
            .group_by(Column::BaselineProfileId)
            .into_tuple()
            .all(&self.db)
            .await?;
        let rows = Entity::find()
            .filter(Column::Id.is_in(latest))
            .all(&self.db)
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                (
                    LatestAlignment {
                        tenant_id: r.tenant_id,
                        baseline_profile_id: r.baseline_profile_id,
                    },
                    Arc::new(r),
                )
            })
            .filter(|(k, _)| keys.contains(k))
            .collect())
    }
}

/// A finding's status history, oldest first: `WHERE finding_id IN (keys)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HistoryOfFinding(pub i64);

impl Loader<HistoryOfFinding> for ByIdLoader {
    type Value = Arc<Vec<entity::finding_event::Model>>;
    type Error = DbErr;

    async fn load(
        &self,
        keys: &[HistoryOfFinding],
    ) -> Result<HashMap<HistoryOfFinding, Self::Value>, Self::Error> {
        use sea_orm::QueryOrder;
        let rows = entity::finding_event::Entity::find()
            .filter(entity::finding_event::Column::FindingId.is_in(keys.iter().map(|k| k.0)))
            .order_by_asc(entity::finding_event::Column::Id)
            .all(&self.db)
            .await?;
        let mut by_finding: HashMap<HistoryOfFinding, Vec<entity::finding_event::Model>> =
            HashMap::new();
        for row in rows {
            by_finding
                .entry(HistoryOfFinding(row.finding_id))
                .or_default()
                .push(row);
        }
        Ok(by_finding
            .into_iter()
            .map(|(k, v)| (k, Arc::new(v)))
            .collect())
    }
}

/// A tenant's Graph connection, by tenant id: `WHERE tenant_id IN (keys)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConnectionOfTenant(pub i64);

impl Loader<ConnectionOfTenant> for ByIdLoader {
    type Value = Arc<entity::tenant_connection::Model>;
    type Error = DbErr;

    async fn load(
        &self,
        keys: &[ConnectionOfTenant],
    ) -> Result<HashMap<ConnectionOfTenant, Self::Value>, Self::Error> {
        use entity::tenant_connection;
        let rows = tenant_connection::Entity::find()
            .filter(tenant_connection::Column::TenantId.is_in(keys.iter().map(|k| k.0)))
            .all(&self.db)
            .await?;
        Ok(rows
            .into_iter()
            .map(|m| (ConnectionOfTenant(m.tenant_id), Arc::new(m)))
            .collect())
    }
}

/// Evidence blobs by content hash.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BlobHash(pub String);

/// A blob's normalized content, parsed on its own: content that cannot be
/// read (`None`) fails only the field that asked for it, never the other
/// findings of the page.
pub struct BlobContent(pub Option<serde_json::Value>);

impl Loader<BlobHash> for ByIdLoader {
    type Value = Arc<BlobContent>;
    type Error = DbErr;

    async fn load(&self, keys: &[BlobHash]) -> Result<HashMap<BlobHash, Self::Value>, Self::Error> {
        let blobs =
            crate::evidence::blobs::load(&self.db, keys.iter().map(|k| k.0.clone()).collect())
                .await?;
        Ok(blobs
            .into_iter()
            .map(|(hash, content)| (BlobHash(hash), Arc::new(BlobContent(content))))
            .collect())
    }
}

pub type Loaders = DataLoader<ByIdLoader, HashMapCache>;

pub fn new_loaders(db: DatabaseConnection) -> Loaders {
    DataLoader::with_cache(ByIdLoader { db }, tokio::spawn, HashMapCache::default())
}

/// A tenant subject whose current evidence a field wants.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CurrentStateKey {
    pub tenant_id: i64,
    pub subject: SubjectRef,
}

/// The evidence resolver as a DataLoader: the same provider chain the
/// capture and compare jobs use (they select a tenant's types, a page
/// selects its subjects), one resolver call per tenant per batch.
pub struct CurrentStateResolver {
    db: DatabaseConnection,
}

impl Loader<CurrentStateKey> for CurrentStateResolver {
    type Value = CurrentState;
    type Error = DbErr;

    async fn load(
        &self,
        keys: &[CurrentStateKey],
    ) -> Result<HashMap<CurrentStateKey, CurrentState>, DbErr> {
        let mut by_tenant: HashMap<i64, Vec<SubjectRef>> = HashMap::new();
        for key in keys {
            by_tenant
                .entry(key.tenant_id)
                .or_default()
                .push(key.subject.clone());
        }
        let mut out = HashMap::new();
        for (tenant_id, subjects) in by_tenant {
            let resolution = resolve_current_state(&self.db, tenant_id, &subjects, None).await?;
            out.extend(
                resolution
                    .states
                    .into_iter()
                    .map(|(subject, state)| (CurrentStateKey { tenant_id, subject }, state)),
            );
        }
        Ok(out)
    }
}

pub type CurrentStateLoader = DataLoader<CurrentStateResolver, HashMapCache>;

pub fn new_current_state_loader(db: DatabaseConnection) -> CurrentStateLoader {
    DataLoader::with_cache(
        CurrentStateResolver { db },
        tokio::spawn,
        HashMapCache::default(),
    )
}

/// `prime`s the keys `keys` lists when the query selects what they load.
async fn prime_if<K, V>(
    loaders: &Loaders,
    wanted: bool,
    keys: impl FnOnce() -> Vec<K>,
) -> Result<(), DbErr>
where
    K: Send + Sync + std::hash::Hash + Eq + Clone + 'static,
    V: Send + Sync + 'static,
    ByIdLoader: Loader<K, Value = Arc<V>, Error = DbErr>,
{
    if wanted {
        prime(loaders, keys()).await?;
    }
    Ok(())
}

/// Loads `keys` (deduplicated) straight through the loader and feeds the
/// result into the request's cache, so the fields that ask for them later
/// are answered from it. Returns what it found (shared values: cheap).
async fn prime<K, V>(loaders: &Loaders, keys: Vec<K>) -> Result<HashMap<K, Arc<V>>, DbErr>
where
    K: Send + Sync + std::hash::Hash + Eq + Clone + 'static,
    V: Send + Sync + 'static,
    ByIdLoader: Loader<K, Value = Arc<V>, Error = DbErr>,
{
    let keys: Vec<K> = keys
        .into_iter()
        .collect::<std::collections::HashSet<K>>()
        .into_iter()
        .collect();
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let found = loaders.loader().load(&keys).await?;
    loaders
        .feed_many(found.iter().map(|(k, v)| (k.clone(), v.clone())))
        .await;
    Ok(found)
}

/// Fills the loaders, one statement per relation, with what the selected
/// fields of a page of findings will ask for. The statements go straight to
/// the loader: through `load_many`, each relation waited out the
/// DataLoader's batching window (1 ms) in turn, and without priming a large
/// page could be split into several batches. With it, a page costs the same
/// number of statements at any size. Relations that do not depend on each
/// other load at the same time, on connections of their own, so a page
/// waits for the longest chain (a run, then its tenant), not for the sum.
pub async fn prime_findings(
    ctx: &async_graphql::Context<'_>,
    findings: &[&entity::finding::Model],
) -> Result<(), DbErr> {
    if findings.is_empty() {
        return Ok(());
    }
    let node = ctx.look_ahead().field("edges").field("node");
    let loaders = ctx.data_unchecked::<Loaders>();
    let sides = ["baseline", "current"];
    let wants = |field: &str| node.field(field).exists();
    let run_fields: Vec<_> = sides
        .iter()
        .map(|side| {
            node.field(side)
                .field("provenance")
                .field("observedOperationRun")
        })
        .collect();
    let wants_runs = run_fields.iter().any(|f| f.exists());
    let wants_initiators = run_fields.iter().any(|f| f.field("initiator").exists());

    let tenants = prime_if(loaders, wants("tenant"), || {
        findings.iter().map(|f| TenantId(f.tenant_id)).collect()
    });
    let profiles = prime_if(loaders, wants("baselineProfile"), || {
        findings
            .iter()
            .map(|f| BaselineProfileId(f.baseline_profile_id))
            .collect()
    });
    let snapshots = prime_if(loaders, wants("baselineSnapshot"), || {
        findings
            .iter()
            .map(|f| BaselineSnapshotId(f.baseline_snapshot_id))
            .collect()
    });
    let runs = async {
        if !wants_runs {
            return Ok(());
        }
        let run_ids: Vec<OperationRunId> = findings
            .iter()
            .flat_map(|f| {
                sides.iter().map(|side| {
                    f.evidence_jsonb[side]["provenance"]["observed_operation_run_id"].as_i64()
                })
            })
            .flatten()
            .map(OperationRunId)
            .collect();
        // A run's fields check access to its tenant, and may name its initiator.
        let runs = prime(loaders, run_ids).await?;
        let run_tenants = prime(
            loaders,
            runs.values().map(|r| TenantId(r.tenant_id)).collect(),
        );
        let initiators = prime_if(loaders, wants_initiators, || {
            runs.values()
                .filter_map(|r| r.initiator_user_id)
                .map(UserId)
                .collect()
        });
        futures_util::try_join!(run_tenants, initiators)?;
        Ok(())
    };
    let blobs = prime_if(loaders, wants("settingChanges"), || {
        crate::drift::findings::change_blob_hashes(findings.iter().copied())
            .into_iter()
            .map(BlobHash)
            .collect()
    });
    futures_util::try_join!(tenants, profiles, snapshots, runs, blobs)?;
    Ok(())
}
