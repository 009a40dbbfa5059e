//! A tenant's connection to Microsoft Graph: its app registration and the
//! credential, sealed with AES-256-GCM by the server (never stored in the
//! clear, never returned). One per tenant.

use sea_orm_migration::{prelude::*, schema::*};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261202_000002_tenant_connections"
    }
}

#[derive(DeriveIden)]
enum TenantConnections {
    Table,
    Id,
    TenantId,
    WorkspaceId,
    DirectoryTenantId,
    ClientId,
    CredentialKind,
    SealedCredential,
    ConfiguredAt,
    LastTokenAt,
    LastError,
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
                    .table(TenantConnections::Table)
                    .col(big_pk_auto(TenantConnections::Id))
                    .col(big_integer_uniq(TenantConnections::TenantId))
                    .col(big_integer(TenantConnections::WorkspaceId))
                    .col(string_len(TenantConnections::DirectoryTenantId, 200))
                    .col(string_len(TenantConnections::ClientId, 100))
                    .col(string_len(TenantConnections::CredentialKind, 32))
                    .col(text(TenantConnections::SealedCredential))
                    .col(timestamp_with_time_zone(TenantConnections::ConfiguredAt))
                    .col(timestamp_with_time_zone_null(
                        TenantConnections::LastTokenAt,
                    ))
                    .col(text_null(TenantConnections::LastError))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_tenant_connections_tenant")
                            .from(TenantConnections::Table, TenantConnections::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(TenantConnections::Table).to_owned())
            .await
    }
}
