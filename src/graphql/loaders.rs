//! DataLoaders: one `IN (...)` query per batch of keys, never a query per
//! row. A fresh set is created for every request, so caches never outlive
//! the request that filled them.

use std::collections::HashMap;

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use entity::{user, workspace};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter};

use crate::evidence::SubjectRef;
use crate::evidence::resolver::{CurrentState, resolve_current_state};

pub struct ByIdLoader {
    db: DatabaseConnection,
}

impl Loader<WorkspaceId> for ByIdLoader {
    type Value = workspace::Model;
    type Error = DbErr;

    async fn load(
        &self,
        keys: &[WorkspaceId],
    ) -> Result<HashMap<WorkspaceId, Self::Value>, Self::Error> {
        let rows = workspace::Entity::find()
            .filter(workspace::Column::Id.is_in(keys.iter().map(|k| k.0)))
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().map(|m| (WorkspaceId(m.id), m)).collect())
    }
}

impl Loader<UserId> for ByIdLoader {
    type Value = user::Model;
    type Error = DbErr;

    async fn load(&self, keys: &[UserId]) -> Result<HashMap<UserId, Self::Value>, Self::Error> {
        let rows = user::Entity::find()
            .filter(user::Column::Id.is_in(keys.iter().map(|k| k.0)))
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().map(|m| (UserId(m.id), m)).collect())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct WorkspaceId(pub i64);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UserId(pub i64);

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
