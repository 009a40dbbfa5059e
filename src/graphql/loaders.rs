//! DataLoaders: one `IN (...)` query per batch of keys, never a query per
//! row. A fresh set is created for every request, so caches never outlive
//! the request that filled them.

use std::collections::HashMap;

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use entity::{
    baseline_profile, baseline_snapshot, evidence_blob, operation_run, tenant, user, workspace,
};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter};

use crate::evidence::SubjectRef;
use crate::evidence::resolver::{CurrentState, resolve_current_state};

pub struct ByIdLoader {
    db: DatabaseConnection,
}

/// One `Loader` impl per (key, entity): `WHERE id IN (keys)`.
macro_rules! by_id {
    ($key:ident, $entity:ident) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub struct $key(pub i64);

        impl Loader<$key> for ByIdLoader {
            type Value = $entity::Model;
            type Error = DbErr;

            async fn load(&self, keys: &[$key]) -> Result<HashMap<$key, Self::Value>, Self::Error> {
                let rows = $entity::Entity::find()
                    .filter($entity::Column::Id.is_in(keys.iter().map(|k| k.0)))
                    .all(&self.db)
                    .await?;
                Ok(rows.into_iter().map(|m| ($key(m.id), m)).collect())
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

/// Evidence blobs by content hash.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BlobHash(pub String);

impl Loader<BlobHash> for ByIdLoader {
    type Value = evidence_blob::Model;
    type Error = DbErr;

    async fn load(&self, keys: &[BlobHash]) -> Result<HashMap<BlobHash, Self::Value>, Self::Error> {
        let rows = evidence_blob::Entity::find()
            .filter(evidence_blob::Column::Hash.is_in(keys.iter().map(|k| k.0.clone())))
            .all(&self.db)
            .await?;
        Ok(rows
            .into_iter()
            .map(|m| (BlobHash(m.hash.clone()), m))
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

/// The evidence resolver as a DataLoader: the same batched path the compare
/// jobs use, one resolver call per tenant per batch.
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

/// Fills the loaders, one batch per relation, with what the selected fields
/// of a page of findings will ask for. Without it, the loaders' batching
/// window can split a large page into several batches; with it, a page
/// costs the same number of statements at any size.
pub async fn prime_findings(
    ctx: &async_graphql::Context<'_>,
    findings: &[&entity::finding::Model],
) -> Result<(), DbErr> {
    if findings.is_empty() {
        return Ok(());
    }
    let node = ctx.look_ahead().field("edges").field("node");
    let loaders = ctx.data_unchecked::<Loaders>();
    if node.field("tenant").exists() {
        loaders
            .load_many(findings.iter().map(|f| TenantId(f.tenant_id)))
            .await?;
    }
    if node.field("baselineProfile").exists() {
        loaders
            .load_many(
                findings
                    .iter()
                    .map(|f| BaselineProfileId(f.baseline_profile_id)),
            )
            .await?;
    }
    if node.field("baselineSnapshot").exists() {
        loaders
            .load_many(
                findings
                    .iter()
                    .map(|f| BaselineSnapshotId(f.baseline_snapshot_id)),
            )
            .await?;
    }
    let sides = ["baseline", "current"];
    let run_fields: Vec<_> = sides
        .iter()
        .map(|side| {
            node.field(side)
                .field("provenance")
                .field("observedOperationRun")
        })
        .collect();
    if run_fields.iter().any(|f| f.exists()) {
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
        let runs = loaders.load_many(run_ids).await?;
        loaders
            .load_many(runs.values().map(|r| TenantId(r.tenant_id)))
            .await?;
        if run_fields.iter().any(|f| f.field("initiator").exists()) {
            loaders
                .load_many(
                    runs.values()
                        .filter_map(|r| r.initiator_user_id)
                        .map(UserId),
                )
                .await?;
        }
    }
    if node.field("settingChanges").exists() {
        let hashes: Vec<BlobHash> = findings
            .iter()
            .flat_map(|f| {
                sides.iter().filter_map(|side| {
                    let s = &f.evidence_jsonb[side];
                    (s["provenance"]["fidelity"] == "content")
                        .then(|| s["hash"].as_str().map(|h| BlobHash(h.to_owned())))?
                })
            })
            .collect();
        loaders.load_many(hashes).await?;
    }
    Ok(())
}
