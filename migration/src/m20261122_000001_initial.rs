use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Timestamps are always stored with their zone (UTC) so that both backends
/// order and compare them the same way.
fn ts(col: impl IntoIden) -> ColumnDef {
    timestamp_with_time_zone(col)
}

fn ts_null(col: impl IntoIden) -> ColumnDef {
    timestamp_with_time_zone_null(col)
}

fn fk(
    name: &str,
    from: (impl IntoIden, impl IntoIden),
    to: (impl IntoIden, impl IntoIden),
    on_delete: ForeignKeyAction,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(from.0, from.1)
        .to(to.0, to.1)
        .on_delete(on_delete)
        .to_owned()
}

fn index(name: &str, table: impl IntoIden, cols: &[&'static str]) -> IndexCreateStatement {
    let mut stmt = Index::create();
    stmt.name(name).table(table);
    for col in cols {
        stmt.col(Alias::new(*col));
    }
    stmt
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use ForeignKeyAction::{Cascade, SetNull};

        manager
            .create_table(
                Table::create()
                    .table(Workspaces::Table)
                    .col(big_pk_auto(Workspaces::Id))
                    .col(string_len(Workspaces::Name, 200))
                    .col(ts(Workspaces::CreatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Tenants::Table)
                    .col(big_pk_auto(Tenants::Id))
                    .col(big_integer(Tenants::WorkspaceId))
                    .col(string_len(Tenants::Name, 200))
                    .col(string_len(Tenants::Kind, 16))
                    .col(string_len_null(Tenants::ExternalRef, 200))
                    .col(ts(Tenants::CreatedAt))
                    .foreign_key(&mut fk(
                        "fk_tenants_workspace",
                        (Tenants::Table, Tenants::WorkspaceId),
                        (Workspaces::Table, Workspaces::Id),
                        Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "idx_tenants_workspace",
                Tenants::Table,
                &["workspace_id", "id"],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(big_pk_auto(Users::Id))
                    .col(string_len_uniq(Users::Email, 320))
                    .col(string_len_null(Users::Name, 200))
                    .col(ts(Users::CreatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ApiTokens::Table)
                    .col(big_pk_auto(ApiTokens::Id))
                    .col(big_integer(ApiTokens::UserId))
                    .col(string_len(ApiTokens::Name, 200))
                    .col(char_len_uniq(ApiTokens::TokenHash, 64))
                    .col(ts(ApiTokens::CreatedAt))
                    .col(ts_null(ApiTokens::LastUsedAt))
                    .col(ts_null(ApiTokens::RevokedAt))
                    .foreign_key(&mut fk(
                        "fk_api_tokens_user",
                        (ApiTokens::Table, ApiTokens::UserId),
                        (Users::Table, Users::Id),
                        Cascade,
                    ))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(WorkspaceMemberships::Table)
                    .col(big_pk_auto(WorkspaceMemberships::Id))
                    .col(big_integer(WorkspaceMemberships::WorkspaceId))
                    .col(big_integer(WorkspaceMemberships::UserId))
                    .col(string_len(WorkspaceMemberships::Role, 16))
                    .col(json_binary_null(WorkspaceMemberships::TenantIds))
                    .col(ts(WorkspaceMemberships::CreatedAt))
                    .foreign_key(&mut fk(
                        "fk_memberships_workspace",
                        (
                            WorkspaceMemberships::Table,
                            WorkspaceMemberships::WorkspaceId,
                        ),
                        (Workspaces::Table, Workspaces::Id),
                        Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "fk_memberships_user",
                        (WorkspaceMemberships::Table, WorkspaceMemberships::UserId),
                        (Users::Table, Users::Id),
                        Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                index(
                    "uq_memberships_workspace_user",
                    WorkspaceMemberships::Table,
                    &["workspace_id", "user_id"],
                )
                .unique()
                .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "idx_memberships_user",
                WorkspaceMemberships::Table,
                &["user_id", "workspace_id"],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(BaselineProfiles::Table)
                    .col(big_pk_auto(BaselineProfiles::Id))
                    .col(big_integer(BaselineProfiles::WorkspaceId))
                    .col(string_len(BaselineProfiles::Name, 200))
                    .col(text_null(BaselineProfiles::Description))
                    .col(json_binary(BaselineProfiles::Scope))
                    .col(string_len(BaselineProfiles::CaptureMode, 16))
                    .col(string_len(BaselineProfiles::SubjectMatch, 16))
                    .col(json_binary_null(BaselineProfiles::SeverityOverrides))
                    .col(ts(BaselineProfiles::CreatedAt))
                    .col(ts(BaselineProfiles::UpdatedAt))
                    .foreign_key(&mut fk(
                        "fk_profiles_workspace",
                        (BaselineProfiles::Table, BaselineProfiles::WorkspaceId),
                        (Workspaces::Table, Workspaces::Id),
                        Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "idx_profiles_workspace",
                BaselineProfiles::Table,
                &["workspace_id", "id"],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(BaselineTenantAssignments::Table)
                    .col(big_pk_auto(BaselineTenantAssignments::Id))
                    .col(big_integer(BaselineTenantAssignments::WorkspaceId))
                    .col(big_integer(BaselineTenantAssignments::BaselineProfileId))
                    .col(big_integer(BaselineTenantAssignments::TenantId))
                    .col(ts(BaselineTenantAssignments::CreatedAt))
                    .foreign_key(&mut fk(
                        "fk_assignments_profile",
                        (
                            BaselineTenantAssignments::Table,
                            BaselineTenantAssignments::BaselineProfileId,
                        ),
                        (BaselineProfiles::Table, BaselineProfiles::Id),
                        Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "fk_assignments_tenant",
                        (
                            BaselineTenantAssignments::Table,
                            BaselineTenantAssignments::TenantId,
                        ),
                        (Tenants::Table, Tenants::Id),
                        Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                index(
                    "uq_assignments_profile_tenant",
                    BaselineTenantAssignments::Table,
                    &["baseline_profile_id", "tenant_id"],
                )
                .unique()
                .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "idx_assignments_tenant",
                BaselineTenantAssignments::Table,
                &["tenant_id"],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(OperationRuns::Table)
                    .col(big_pk_auto(OperationRuns::Id))
                    .col(big_integer(OperationRuns::WorkspaceId))
                    .col(big_integer(OperationRuns::TenantId))
                    .col(string_len(OperationRuns::Type, 32))
                    .col(string_len(OperationRuns::Status, 16))
                    .col(string_len(OperationRuns::Outcome, 24))
                    .col(big_integer_null(OperationRuns::InitiatorUserId))
                    .col(char_len(OperationRuns::RunIdentityHash, 64))
                    .col(json_binary(OperationRuns::SummaryCounts))
                    .col(json_binary_null(OperationRuns::FailureSummary))
                    .col(json_binary(OperationRuns::Context))
                    .col(big_integer(OperationRuns::ProgressDone).default(0))
                    .col(big_integer(OperationRuns::ProgressTotal).default(0))
                    .col(integer(OperationRuns::Attempts).default(0))
                    .col(string_len_null(OperationRuns::ClaimedBy, 100))
                    .col(ts_null(OperationRuns::HeartbeatAt))
                    .col(ts(OperationRuns::CreatedAt))
                    .col(ts(OperationRuns::UpdatedAt))
                    .col(ts_null(OperationRuns::StartedAt))
                    .col(ts_null(OperationRuns::CompletedAt))
                    .foreign_key(&mut fk(
                        "fk_runs_tenant",
                        (OperationRuns::Table, OperationRuns::TenantId),
                        (Tenants::Table, Tenants::Id),
                        Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "fk_runs_initiator",
                        (OperationRuns::Table, OperationRuns::InitiatorUserId),
                        (Users::Table, Users::Id),
                        SetNull,
                    ))
                    .to_owned(),
            )
            .await?;
        // Active-run dedupe: at most one queued or running run per identity and tenant.
        manager
            .create_index(
                index(
                    "uq_runs_active_identity",
                    OperationRuns::Table,
                    &["tenant_id", "run_identity_hash"],
                )
                .unique()
                .and_where(Expr::col(OperationRuns::Status).is_in(["queued", "running"]))
                .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "idx_runs_tenant",
                OperationRuns::Table,
                &["tenant_id", "id"],
            ))
            .await?;
        manager
            .create_index(index(
                "idx_runs_workspace",
                OperationRuns::Table,
                &["workspace_id", "id"],
            ))
            .await?;
        manager
            .create_index(index(
                "idx_runs_claim",
                OperationRuns::Table,
                &["status", "id"],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(BaselineSnapshots::Table)
                    .col(big_pk_auto(BaselineSnapshots::Id))
                    .col(big_integer(BaselineSnapshots::WorkspaceId))
                    .col(big_integer(BaselineSnapshots::BaselineProfileId))
                    .col(big_integer_null(BaselineSnapshots::SourceTenantId))
                    .col(big_integer_null(BaselineSnapshots::OperationRunId))
                    .col(string_len(BaselineSnapshots::Status, 16))
                    .col(ts(BaselineSnapshots::CapturedAt))
                    .col(big_integer(BaselineSnapshots::ItemCount).default(0))
                    .col(ts(BaselineSnapshots::CreatedAt))
                    .col(ts_null(BaselineSnapshots::CompletedAt))
                    .foreign_key(&mut fk(
                        "fk_snapshots_profile",
                        (
                            BaselineSnapshots::Table,
                            BaselineSnapshots::BaselineProfileId,
                        ),
                        (BaselineProfiles::Table, BaselineProfiles::Id),
                        Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "fk_snapshots_source_tenant",
                        (BaselineSnapshots::Table, BaselineSnapshots::SourceTenantId),
                        (Tenants::Table, Tenants::Id),
                        SetNull,
                    ))
                    .foreign_key(&mut fk(
                        "fk_snapshots_run",
                        (BaselineSnapshots::Table, BaselineSnapshots::OperationRunId),
                        (OperationRuns::Table, OperationRuns::Id),
                        SetNull,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "idx_snapshots_profile_status",
                BaselineSnapshots::Table,
                &["baseline_profile_id", "status", "captured_at"],
            ))
            .await?;

        // Snapshot items deliberately carry no tenant identifiers: a baseline is
        // tenant-free so it can be compared against any assigned tenant.
        manager
            .create_table(
                Table::create()
                    .table(BaselineSnapshotItems::Table)
                    .col(big_pk_auto(BaselineSnapshotItems::Id))
                    .col(big_integer(BaselineSnapshotItems::BaselineSnapshotId))
                    .col(big_integer(BaselineSnapshotItems::WorkspaceId))
                    .col(string_len(BaselineSnapshotItems::PolicyType, 100))
                    .col(string_len(BaselineSnapshotItems::SubjectKey, 400))
                    .col(string_len(BaselineSnapshotItems::DisplayName, 400))
                    .col(char_len_null(BaselineSnapshotItems::BaselineHash, 64))
                    .col(char_len_null(BaselineSnapshotItems::MetaHash, 64))
                    .col(json_binary(BaselineSnapshotItems::MetaJsonb))
                    .foreign_key(&mut fk(
                        "fk_snapshot_items_snapshot",
                        (
                            BaselineSnapshotItems::Table,
                            BaselineSnapshotItems::BaselineSnapshotId,
                        ),
                        (BaselineSnapshots::Table, BaselineSnapshots::Id),
                        Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "idx_snapshot_items_type",
                BaselineSnapshotItems::Table,
                &["baseline_snapshot_id", "policy_type"],
            ))
            .await?;
        manager
            .create_index(
                index(
                    "uq_snapshot_items_subject",
                    BaselineSnapshotItems::Table,
                    &["baseline_snapshot_id", "policy_type", "subject_key"],
                )
                .unique()
                .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(InventoryItems::Table)
                    .col(big_pk_auto(InventoryItems::Id))
                    .col(big_integer(InventoryItems::TenantId))
                    .col(string_len(InventoryItems::PolicyType, 100))
                    .col(string_len(InventoryItems::ExternalId, 400))
                    .col(string_len(InventoryItems::DisplayName, 400))
                    .col(json_binary(InventoryItems::MetaJsonb))
                    .col(char_len_null(InventoryItems::MetaHash, 64))
                    .col(ts(InventoryItems::FirstSeenAt))
                    .col(ts(InventoryItems::LastSeenAt))
                    .col(big_integer_null(InventoryItems::LastSeenOperationRunId))
                    .col(ts_null(InventoryItems::RemovedAt))
                    .foreign_key(&mut fk(
                        "fk_inventory_tenant",
                        (InventoryItems::Table, InventoryItems::TenantId),
                        (Tenants::Table, Tenants::Id),
                        Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "fk_inventory_run",
                        (
                            InventoryItems::Table,
                            InventoryItems::LastSeenOperationRunId,
                        ),
                        (OperationRuns::Table, OperationRuns::Id),
                        SetNull,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                index(
                    "uq_inventory_subject",
                    InventoryItems::Table,
                    &["tenant_id", "policy_type", "external_id"],
                )
                .unique()
                .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(PolicyVersions::Table)
                    .col(big_pk_auto(PolicyVersions::Id))
                    .col(big_integer(PolicyVersions::TenantId))
                    .col(string_len(PolicyVersions::PolicyType, 100))
                    .col(string_len(PolicyVersions::ExternalId, 400))
                    .col(ts(PolicyVersions::CapturedAt))
                    .col(big_integer_null(PolicyVersions::OperationRunId))
                    .col(json_binary(PolicyVersions::Content))
                    .col(char_len_null(PolicyVersions::ContentHash, 64))
                    .col(text_null(PolicyVersions::NormalizeWarning))
                    .col(ts(PolicyVersions::CreatedAt))
                    .foreign_key(&mut fk(
                        "fk_policy_versions_tenant",
                        (PolicyVersions::Table, PolicyVersions::TenantId),
                        (Tenants::Table, Tenants::Id),
                        Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "fk_policy_versions_run",
                        (PolicyVersions::Table, PolicyVersions::OperationRunId),
                        (OperationRuns::Table, OperationRuns::Id),
                        SetNull,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "idx_policy_versions_subject",
                PolicyVersions::Table,
                &["tenant_id", "policy_type", "external_id", "captured_at"],
            ))
            .await?;

        // Content-addressed and tenant-free: the primary key is the hash.
        manager
            .create_table(
                Table::create()
                    .table(EvidenceBlobs::Table)
                    .col(char_len(EvidenceBlobs::Hash, 64).primary_key())
                    .col(json_binary(EvidenceBlobs::Content))
                    .col(big_integer(EvidenceBlobs::ByteSize))
                    .col(ts(EvidenceBlobs::CreatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Findings::Table)
                    .col(big_pk_auto(Findings::Id))
                    .col(big_integer(Findings::TenantId))
                    .col(big_integer(Findings::WorkspaceId))
                    .col(big_integer(Findings::BaselineProfileId))
                    .col(big_integer(Findings::BaselineSnapshotId))
                    .col(char_len(Findings::Fingerprint, 64))
                    .col(char_len(Findings::RecurrenceKey, 64))
                    .col(string_len(Findings::ScopeKey, 100))
                    .col(string_len(Findings::FindingType, 32))
                    .col(string_len(Findings::ChangeType, 16))
                    .col(string_len(Findings::Status, 16))
                    .col(string_len(Findings::Severity, 16))
                    .col(string_len(Findings::EvidenceFidelity, 16))
                    .col(string_len(Findings::PolicyType, 100))
                    .col(string_len(Findings::SubjectKey, 400))
                    .col(string_len(Findings::DisplayName, 400))
                    .col(json_binary(Findings::EvidenceJsonb))
                    .col(ts(Findings::FirstSeenAt))
                    .col(ts(Findings::LastSeenAt))
                    .col(integer(Findings::TimesSeen).default(1))
                    .col(big_integer_null(Findings::FirstSeenOperationRunId))
                    .col(big_integer_null(Findings::LastSeenOperationRunId))
                    .col(ts_null(Findings::AcknowledgedAt))
                    .col(big_integer_null(Findings::AcknowledgedByUserId))
                    .col(ts_null(Findings::ResolvedAt))
                    .col(string_len_null(Findings::ResolvedReason, 400))
                    .foreign_key(&mut fk(
                        "fk_findings_tenant",
                        (Findings::Table, Findings::TenantId),
                        (Tenants::Table, Tenants::Id),
                        Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "fk_findings_profile",
                        (Findings::Table, Findings::BaselineProfileId),
                        (BaselineProfiles::Table, BaselineProfiles::Id),
                        Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "fk_findings_snapshot",
                        (Findings::Table, Findings::BaselineSnapshotId),
                        (BaselineSnapshots::Table, BaselineSnapshots::Id),
                        Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                index(
                    "uq_findings_fingerprint",
                    Findings::Table,
                    &["tenant_id", "fingerprint"],
                )
                .unique()
                .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "idx_findings_scope",
                Findings::Table,
                &["tenant_id", "scope_key"],
            ))
            .await?;
        // Keyset pages end with `id` so the planner walks the index (PERF-NOTES).
        manager
            .create_index(index(
                "idx_findings_fidelity",
                Findings::Table,
                &["tenant_id", "evidence_fidelity", "id"],
            ))
            .await?;
        manager
            .create_index(index(
                "idx_findings_last_seen",
                Findings::Table,
                &["tenant_id", "last_seen_at", "id"],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AuditLogs::Table)
                    .col(big_pk_auto(AuditLogs::Id))
                    .col(big_integer_null(AuditLogs::WorkspaceId))
                    .col(big_integer_null(AuditLogs::TenantId))
                    .col(big_integer_null(AuditLogs::ActorUserId))
                    .col(string_len(AuditLogs::Action, 100))
                    .col(string_len_null(AuditLogs::TargetType, 64))
                    .col(string_len_null(AuditLogs::TargetId, 64))
                    .col(json_binary(AuditLogs::Metadata))
                    .col(ts(AuditLogs::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "idx_audit_workspace",
                AuditLogs::Table,
                &["workspace_id", "id"],
            ))
            .await?;

        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Children first, so foreign keys never block a drop.
        let tables: [DynIden; 15] = [
            AuditLogs::Table.into_iden(),
            Findings::Table.into_iden(),
            EvidenceBlobs::Table.into_iden(),
            PolicyVersions::Table.into_iden(),
            InventoryItems::Table.into_iden(),
            BaselineSnapshotItems::Table.into_iden(),
            BaselineSnapshots::Table.into_iden(),
            OperationRuns::Table.into_iden(),
            BaselineTenantAssignments::Table.into_iden(),
            BaselineProfiles::Table.into_iden(),
            WorkspaceMemberships::Table.into_iden(),
            ApiTokens::Table.into_iden(),
            Users::Table.into_iden(),
            Tenants::Table.into_iden(),
            Workspaces::Table.into_iden(),
        ];
        for table in tables {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Workspaces {
    Table,
    Id,
    Name,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
    WorkspaceId,
    Name,
    Kind,
    ExternalRef,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Email,
    Name,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ApiTokens {
    Table,
    Id,
    UserId,
    Name,
    TokenHash,
    CreatedAt,
    LastUsedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum WorkspaceMemberships {
    Table,
    Id,
    WorkspaceId,
    UserId,
    Role,
    TenantIds,
    CreatedAt,
}

#[derive(DeriveIden)]
enum BaselineProfiles {
    Table,
    Id,
    WorkspaceId,
    Name,
    Description,
    Scope,
    CaptureMode,
    SubjectMatch,
    SeverityOverrides,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum BaselineTenantAssignments {
    Table,
    Id,
    WorkspaceId,
    BaselineProfileId,
    TenantId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum BaselineSnapshots {
    Table,
    Id,
    WorkspaceId,
    BaselineProfileId,
    SourceTenantId,
    OperationRunId,
    Status,
    CapturedAt,
    ItemCount,
    CreatedAt,
    CompletedAt,
}

#[derive(DeriveIden)]
enum BaselineSnapshotItems {
    Table,
    Id,
    BaselineSnapshotId,
    WorkspaceId,
    PolicyType,
    SubjectKey,
    DisplayName,
    BaselineHash,
    MetaHash,
    MetaJsonb,
}

#[derive(DeriveIden)]
enum InventoryItems {
    Table,
    Id,
    TenantId,
    PolicyType,
    ExternalId,
    DisplayName,
    MetaJsonb,
    MetaHash,
    FirstSeenAt,
    LastSeenAt,
    LastSeenOperationRunId,
    RemovedAt,
}

#[derive(DeriveIden)]
enum PolicyVersions {
    Table,
    Id,
    TenantId,
    PolicyType,
    ExternalId,
    CapturedAt,
    OperationRunId,
    Content,
    ContentHash,
    NormalizeWarning,
    CreatedAt,
}

#[derive(DeriveIden)]
enum EvidenceBlobs {
    Table,
    Hash,
    Content,
    ByteSize,
    CreatedAt,
}

#[derive(DeriveIden)]
enum OperationRuns {
    Table,
    Id,
    WorkspaceId,
    TenantId,
    Type,
    Status,
    Outcome,
    InitiatorUserId,
    RunIdentityHash,
    SummaryCounts,
    FailureSummary,
    Context,
    ProgressDone,
    ProgressTotal,
    Attempts,
    ClaimedBy,
    HeartbeatAt,
    CreatedAt,
    UpdatedAt,
    StartedAt,
    CompletedAt,
}

#[derive(DeriveIden)]
enum Findings {
    Table,
    Id,
    TenantId,
    WorkspaceId,
    BaselineProfileId,
    BaselineSnapshotId,
    Fingerprint,
    RecurrenceKey,
    ScopeKey,
    FindingType,
    ChangeType,
    Status,
    Severity,
    EvidenceFidelity,
    PolicyType,
    SubjectKey,
    DisplayName,
    EvidenceJsonb,
    FirstSeenAt,
    LastSeenAt,
    TimesSeen,
    FirstSeenOperationRunId,
    LastSeenOperationRunId,
    AcknowledgedAt,
    AcknowledgedByUserId,
    ResolvedAt,
    ResolvedReason,
}

#[derive(DeriveIden)]
enum AuditLogs {
    Table,
    Id,
    WorkspaceId,
    TenantId,
    ActorUserId,
    Action,
    TargetType,
    TargetId,
    Metadata,
    CreatedAt,
}
