//! Findings reports page through one tenant's findings of one profile in
//! policy order (policy type, display name, id); this index is that order,
//! so each page is an index walk however many findings there are.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261202_000012_report_index"
    }
}

#[derive(DeriveIden)]
enum Findings {
    Table,
    TenantId,
    BaselineProfileId,
    PolicyType,
    DisplayName,
    Id,
}

const NAME: &str = "idx_findings_report";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(NAME)
                    .table(Findings::Table)
                    .col(Findings::TenantId)
                    .col(Findings::BaselineProfileId)
                    .col(Findings::PolicyType)
                    .col(Findings::DisplayName)
                    .col(Findings::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(Index::drop().name(NAME).table(Findings::Table).to_owned())
            .await
    }
}
