//! Alignment: one point per completed compare (CIPP's alignment score),
//! stored when the compare completes and never recomputed from findings.

use sea_orm_migration::{prelude::*, schema::*};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261202_000006_alignment_points"
    }
}

#[derive(DeriveIden)]
enum AlignmentPoints {
    Table,
    Id,
    TenantId,
    WorkspaceId,
    BaselineProfileId,
    OperationRunId,
    Applicable,
    Compliant,
    CompliantContent,
    Accepted,
    Excluded,
    Uncovered,
    AlignedPercent,
    VerifiedPercent,
    ContentVerifiedPercent,
    AsOf,
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
                    .table(AlignmentPoints::Table)
                    .col(big_pk_auto(AlignmentPoints::Id))
                    .col(big_integer(AlignmentPoints::TenantId))
                    .col(big_integer(AlignmentPoints::WorkspaceId))
                    .col(big_integer(AlignmentPoints::BaselineProfileId))
                    .col(big_integer(AlignmentPoints::OperationRunId))
                    .col(big_integer(AlignmentPoints::Applicable))
                    .col(big_integer(AlignmentPoints::Compliant))
                    .col(big_integer(AlignmentPoints::CompliantContent))
                    .col(big_integer(AlignmentPoints::Accepted))
                    .col(big_integer(AlignmentPoints::Excluded))
                    .col(big_integer(AlignmentPoints::Uncovered))
                    .col(double_null(AlignmentPoints::AlignedPercent))
                    .col(double_null(AlignmentPoints::VerifiedPercent))
                    .col(double_null(AlignmentPoints::ContentVerifiedPercent))
                    .col(timestamp_with_time_zone(AlignmentPoints::AsOf))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_alignment_points_tenant")
                            .from(AlignmentPoints::Table, AlignmentPoints::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_alignment_points_tenant_profile")
                    .table(AlignmentPoints::Table)
                    .col(AlignmentPoints::TenantId)
                    .col(AlignmentPoints::BaselineProfileId)
                    .col(AlignmentPoints::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_alignment_points_workspace")
                    .table(AlignmentPoints::Table)
                    .col(AlignmentPoints::WorkspaceId)
                    .col(AlignmentPoints::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AlignmentPoints::Table).to_owned())
            .await
    }
}
