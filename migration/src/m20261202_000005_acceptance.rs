//! Accepted drift: a finding an operator accepts stays compared. It keeps
//! the current hash it was accepted with and until when; `finding_events`
//! is the status history of findings (every triage decision, and what
//! compares do to accepted findings).

use sea_orm_migration::{prelude::*, schema::*};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261202_000005_acceptance"
    }
}

#[derive(DeriveIden)]
enum Findings {
    Table,
    Id,
    Status,
    AcceptedAt,
    AcceptedByUserId,
    AcceptedReason,
    AcceptedUntil,
    AcceptedHash,
}

#[derive(DeriveIden)]
enum FindingEvents {
    Table,
    Id,
    TenantId,
    FindingId,
    FromStatus,
    ToStatus,
    Reason,
    ActorUserId,
    OperationRunId,
    At,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one at a time.
        for column in [
            timestamp_with_time_zone_null(Findings::AcceptedAt),
            big_integer_null(Findings::AcceptedByUserId),
            text_null(Findings::AcceptedReason),
            timestamp_with_time_zone_null(Findings::AcceptedUntil),
            string_len_null(Findings::AcceptedHash, 64),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Findings::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        // The expiry sweep reads accepted findings whose time has come.
        manager
            .create_index(
                Index::create()
                    .name("ix_findings_status_accepted_until")
                    .table(Findings::Table)
                    .col(Findings::Status)
                    .col(Findings::AcceptedUntil)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(FindingEvents::Table)
                    .col(big_pk_auto(FindingEvents::Id))
                    .col(big_integer(FindingEvents::TenantId))
                    .col(big_integer(FindingEvents::FindingId))
                    .col(string_len(FindingEvents::FromStatus, 32))
                    .col(string_len(FindingEvents::ToStatus, 32))
                    .col(text_null(FindingEvents::Reason))
                    .col(big_integer_null(FindingEvents::ActorUserId))
                    .col(big_integer_null(FindingEvents::OperationRunId))
                    .col(timestamp_with_time_zone(FindingEvents::At))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_finding_events_finding")
                            .from(FindingEvents::Table, FindingEvents::FindingId)
                            .to(Findings::Table, Findings::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_finding_events_finding")
                    .table(FindingEvents::Table)
                    .col(FindingEvents::FindingId)
                    .col(FindingEvents::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(FindingEvents::Table).to_owned())
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("ix_findings_status_accepted_until")
                    .table(Findings::Table)
                    .to_owned(),
            )
            .await?;
        for column in [
            Findings::AcceptedAt,
            Findings::AcceptedByUserId,
            Findings::AcceptedReason,
            Findings::AcceptedUntil,
            Findings::AcceptedHash,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Findings::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
