//! The meta provider reads, for each subject of a batch, the inventory item's
//! meta hash and when and by which run it was last seen, never its meta
//! document. The unique subject index does not hold those columns, so each
//! hit read the row; on SQLite that meant walking past `meta_jsonb`, which
//! is stored before them. An index holding every column the meta provider
//! reads answers it from the index alone (SQLite's covering index,
//! PostgreSQL's index-only scan). The unique index stays: upserts use it.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261126_000001_covering_inventory_index"
    }
}

const NAME: &str = "idx_inventory_evidence";
const COVERING: &[&str] = &[
    "tenant_id",
    "policy_type",
    "external_id",
    "meta_hash",
    "last_seen_at",
    "last_seen_operation_run_id",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut index = Index::create();
        index.name(NAME).table(Alias::new("inventory_items"));
        for col in COVERING {
            index.col(Alias::new(*col));
        }
        manager.create_index(index).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(NAME)
                    .table(Alias::new("inventory_items"))
                    .to_owned(),
            )
            .await
    }
}
