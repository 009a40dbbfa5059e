//! Pages a collector run has read from Microsoft Graph but not yet
//! recorded: a listing is recorded whole, once every page of every type is
//! in, and a run taken over by another worker continues from the pages
//! kept here instead of listing again. Rows are deleted when the run
//! records its result (and with the run).

use sea_orm_migration::{prelude::*, schema::*};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261202_000003_collector_pages"
    }
}

#[derive(DeriveIden)]
enum CollectorPages {
    Table,
    Id,
    TenantId,
    OperationRunId,
    PolicyType,
    PageIndex,
    Items,
    CreatedAt,
}

#[derive(DeriveIden)]
enum OperationRuns {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(CollectorPages::Table)
                    .col(big_pk_auto(CollectorPages::Id))
                    .col(big_integer(CollectorPages::TenantId))
                    .col(big_integer(CollectorPages::OperationRunId))
                    .col(string_len(CollectorPages::PolicyType, 100))
                    .col(integer(CollectorPages::PageIndex))
                    .col(json_binary(CollectorPages::Items))
                    .col(timestamp_with_time_zone(CollectorPages::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_collector_pages_run")
                            .from(CollectorPages::Table, CollectorPages::OperationRunId)
                            .to(OperationRuns::Table, OperationRuns::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_collector_pages_run_type_page")
                    .table(CollectorPages::Table)
                    .col(CollectorPages::OperationRunId)
                    .col(CollectorPages::PolicyType)
                    .col(CollectorPages::PageIndex)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(CollectorPages::Table).to_owned())
            .await
    }
}
