//! PostgreSQL compresses a policy document stored out of line (TOAST, over
//! about 2 KB) with pglz by default, and each ingested version stores two:
//! the captured payload and its normalized blob. lz4 compresses several
//! times faster for a slightly larger result. Rows already stored keep their
//! compression; a server built without lz4 keeps pglz and says so. SQLite
//! does not compress, so this is a no-op there.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261126_000002_lz4_policy_documents"
    }
}

const COLUMNS: &[(&str, &str)] = &[
    ("policy_versions", "content"),
    ("evidence_blobs", "content"),
];

async fn set_compression(manager: &SchemaManager<'_>, method: &str) -> Result<(), DbErr> {
    if manager.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    for (table, column) in COLUMNS {
        let alter = format!("ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION {method}");
        manager
            .get_connection()
            .execute_unprepared(&format!(
                "DO $$ BEGIN EXECUTE '{alter}'; \
                 EXCEPTION WHEN feature_not_supported THEN \
                 RAISE NOTICE 'compression {method} is not available on this server; {table}.{column} keeps its compression'; \
                 END $$"
            ))
            .await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        set_compression(manager, "lz4").await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        set_compression(manager, "pglz").await
    }
}
