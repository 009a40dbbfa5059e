//! Exclusions: what operators tell compares to ignore, per profile and
//! optionally per tenant, type, subject glob and setting-path glob.

use sea_orm_migration::{prelude::*, schema::*};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261202_000004_exclusions"
    }
}

#[derive(DeriveIden)]
enum Exclusions {
    Table,
    Id,
    WorkspaceId,
    BaselineProfileId,
    TenantId,
    PolicyType,
    SubjectPattern,
    SettingPathPattern,
    Reason,
    ExpiresAt,
    CreatedByUserId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum BaselineProfiles {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Exclusions::Table)
                    .col(big_pk_auto(Exclusions::Id))
                    .col(big_integer(Exclusions::WorkspaceId))
                    .col(big_integer(Exclusions::BaselineProfileId))
                    .col(big_integer_null(Exclusions::TenantId))
                    .col(string_len_null(Exclusions::PolicyType, 100))
                    .col(string_len_null(Exclusions::SubjectPattern, 500))
                    .col(string_len_null(Exclusions::SettingPathPattern, 500))
                    .col(text(Exclusions::Reason))
                    .col(timestamp_with_time_zone_null(Exclusions::ExpiresAt))
                    .col(big_integer_null(Exclusions::CreatedByUserId))
                    .col(timestamp_with_time_zone(Exclusions::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_exclusions_profile")
                            .from(Exclusions::Table, Exclusions::BaselineProfileId)
                            .to(BaselineProfiles::Table, BaselineProfiles::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_exclusions_tenant")
                            .from(Exclusions::Table, Exclusions::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_exclusions_profile")
                    .table(Exclusions::Table)
                    .col(Exclusions::BaselineProfileId)
                    .col(Exclusions::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Exclusions::Table).to_owned())
            .await
    }
}
