//! DataLoaders: one `IN (...)` query per batch of keys, never a query per
//! row. A fresh set is created for every request, so caches never outlive
//! the request that filled them.

use std::collections::HashMap;

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use entity::{baseline_profile, baseline_snapshot, operation_run, tenant, user, workspace};
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
