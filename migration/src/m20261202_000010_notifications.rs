//! Notification channels (a workspace's webhooks, Slack and Teams incoming
//! webhooks) and the notifications outbox: a row is written in the
//! transaction that completes a compare, and a delivery loop sends it.

use sea_orm_migration::{prelude::*, schema::*};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261202_000010_notifications"
    }
}

#[derive(DeriveIden)]
enum NotificationChannels {
    Table,
    Id,
    WorkspaceId,
    Name,
    Kind,
    /// The target URL, sealed: incoming-webhook URLs are credentials.
    TargetSealed,
    TargetHost,
    SecretSealed,
    MinSeverity,
    FindingTypes,
    TenantIds,
    CreatedByUserId,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Notifications {
    Table,
    Id,
    WorkspaceId,
    ChannelId,
    TenantId,
    BaselineProfileId,
    OperationRunId,
    Fingerprint,
    Payload,
    Status,
    Attempts,
    NextAttemptAt,
    LastError,
    CreatedAt,
    DeliveredAt,
}

#[derive(DeriveIden)]
enum Workspaces {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(NotificationChannels::Table)
                    .col(big_pk_auto(NotificationChannels::Id))
                    .col(big_integer(NotificationChannels::WorkspaceId))
                    .col(string_len(NotificationChannels::Name, 200))
                    .col(string_len(NotificationChannels::Kind, 16))
                    .col(text(NotificationChannels::TargetSealed))
                    .col(string_len(NotificationChannels::TargetHost, 255))
                    .col(text_null(NotificationChannels::SecretSealed))
                    .col(string_len_null(NotificationChannels::MinSeverity, 16))
                    .col(json_binary(NotificationChannels::FindingTypes))
                    .col(json_binary(NotificationChannels::TenantIds))
                    .col(big_integer_null(NotificationChannels::CreatedByUserId))
                    .col(timestamp_with_time_zone(NotificationChannels::CreatedAt))
                    .col(timestamp_with_time_zone(NotificationChannels::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_notification_channels_workspace")
                            .from(
                                NotificationChannels::Table,
                                NotificationChannels::WorkspaceId,
                            )
                            .to(Workspaces::Table, Workspaces::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_notification_channels_workspace")
                    .table(NotificationChannels::Table)
                    .col(NotificationChannels::WorkspaceId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Notifications::Table)
                    .col(big_pk_auto(Notifications::Id))
                    .col(big_integer(Notifications::WorkspaceId))
                    .col(big_integer(Notifications::ChannelId))
                    .col(big_integer(Notifications::TenantId))
                    .col(big_integer(Notifications::BaselineProfileId))
                    .col(big_integer(Notifications::OperationRunId))
                    .col(string_len(Notifications::Fingerprint, 64))
                    .col(json_binary(Notifications::Payload))
                    .col(string_len(Notifications::Status, 16))
                    .col(integer(Notifications::Attempts))
                    .col(timestamp_with_time_zone(Notifications::NextAttemptAt))
                    .col(text_null(Notifications::LastError))
                    .col(timestamp_with_time_zone(Notifications::CreatedAt))
                    .col(timestamp_with_time_zone_null(Notifications::DeliveredAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_notifications_channel")
                            .from(Notifications::Table, Notifications::ChannelId)
                            .to(NotificationChannels::Table, NotificationChannels::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // The delivery loop's scan, and each scope's last fingerprint.
        manager
            .create_index(
                Index::create()
                    .name("ix_notifications_status_next_attempt")
                    .table(Notifications::Table)
                    .col(Notifications::Status)
                    .col(Notifications::NextAttemptAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_notifications_channel_scope")
                    .table(Notifications::Table)
                    .col(Notifications::ChannelId)
                    .col(Notifications::TenantId)
                    .col(Notifications::BaselineProfileId)
                    .col(Notifications::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Notifications::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(NotificationChannels::Table).to_owned())
            .await
    }
}
