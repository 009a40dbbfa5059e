//! Finding counters: how many findings of a tenant and profile have each
//! status, finding type, fidelity and severity, kept by compares and
//! triage in the transactions that change findings, so that summaries and
//! totals cost a few rows instead of a count over a million findings.

use sea_orm_migration::{prelude::*, schema::*};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261202_000007_finding_counters"
    }
}

#[derive(DeriveIden)]
enum FindingCounters {
    Table,
    Id,
    TenantId,
    WorkspaceId,
    BaselineProfileId,
    Status,
    FindingType,
    Fidelity,
    Severity,
    Count,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(FindingCounters::Table)
                    .col(big_pk_auto(FindingCounters::Id))
                    .col(big_integer(FindingCounters::TenantId))
                    .col(big_integer(FindingCounters::WorkspaceId))
                    .col(big_integer(FindingCounters::BaselineProfileId))
                    .col(string_len(FindingCounters::Status, 32))
                    .col(string_len(FindingCounters::FindingType, 32))
                    .col(string_len(FindingCounters::Fidelity, 16))
                    .col(string_len(FindingCounters::Severity, 16))
                    .col(big_integer(FindingCounters::Count))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_finding_counters_dims")
                    .table(FindingCounters::Table)
                    .col(FindingCounters::TenantId)
                    .col(FindingCounters::BaselineProfileId)
                    .col(FindingCounters::Status)
                    .col(FindingCounters::FindingType)
                    .col(FindingCounters::Fidelity)
                    .col(FindingCounters::Severity)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_finding_counters_workspace")
                    .table(FindingCounters::Table)
                    .col(FindingCounters::WorkspaceId)
                    .to_owned(),
            )
            .await?;
        // Findings that exist already are counted once, here.
        manager
            .get_connection()
            .execute_unprepared(
                "INSERT INTO finding_counters (tenant_id, workspace_id, baseline_profile_id, status, finding_type, fidelity, severity, count) \
                 SELECT tenant_id, workspace_id, baseline_profile_id, status, finding_type, evidence_fidelity, severity, COUNT(*) \
                 FROM findings GROUP BY tenant_id, workspace_id, baseline_profile_id, status, finding_type, evidence_fidelity, severity",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(FindingCounters::Table).to_owned())
            .await
    }
}
