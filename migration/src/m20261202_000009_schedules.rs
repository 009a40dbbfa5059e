//! Schedules: compare a tenant against a profile every so often, optionally
//! collecting from Graph first. Every `serve` process looks for due rows;
//! each due row is claimed by exactly one (see `delivery::schedules`).

use sea_orm_migration::{prelude::*, schema::*};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261202_000009_schedules"
    }
}

#[derive(DeriveIden)]
enum Schedules {
    Table,
    Id,
    WorkspaceId,
    TenantId,
    BaselineProfileId,
    Every,
    EverySeconds,
    Collect,
    NextRunAt,
    LastRunAt,
    LastRunId,
    CreatedByUserId,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum BaselineProfiles {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Schedules::Table)
                    .col(big_pk_auto(Schedules::Id))
                    .col(big_integer(Schedules::WorkspaceId))
                    .col(big_integer(Schedules::TenantId))
                    .col(big_integer(Schedules::BaselineProfileId))
                    .col(string_len(Schedules::Every, 64))
                    .col(big_integer(Schedules::EverySeconds))
                    .col(boolean(Schedules::Collect))
                    .col(timestamp_with_time_zone(Schedules::NextRunAt))
                    .col(timestamp_with_time_zone_null(Schedules::LastRunAt))
                    .col(big_integer_null(Schedules::LastRunId))
                    .col(big_integer_null(Schedules::CreatedByUserId))
                    .col(timestamp_with_time_zone(Schedules::CreatedAt))
                    .col(timestamp_with_time_zone(Schedules::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_schedules_tenant")
                            .from(Schedules::Table, Schedules::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_schedules_profile")
                            .from(Schedules::Table, Schedules::BaselineProfileId)
                            .to(BaselineProfiles::Table, BaselineProfiles::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_schedules_profile_tenant")
                    .table(Schedules::Table)
                    .col(Schedules::BaselineProfileId)
                    .col(Schedules::TenantId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // The scheduler's scan: due rows first.
        manager
            .create_index(
                Index::create()
                    .name("ix_schedules_next_run_at")
                    .table(Schedules::Table)
                    .col(Schedules::NextRunAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Schedules::Table).to_owned())
            .await
    }
}
