//! DataLoaders: one `IN (...)` query per batch of keys, never a query per
//! row. A fresh set is created for every request, so caches never outlive
//! the request that filled them.

use std::collections::HashMap;

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use entity::{user, workspace};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter};

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
