//! Assignment drift: a policy version's assignment set, normalized to
//! names (groups and filters resolved through the tenant's inventory) and
//! hashed beside its content; snapshot items keep the baseline's
//! assignment hash; profiles opt in with `compare_assignments`. The
//! content provider's covering index gains the new hash, so the resolver
//! still reads no payload.

use sea_orm_migration::{prelude::*, schema::*};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261202_000008_assignments"
    }
}

#[derive(DeriveIden)]
enum PolicyVersions {
    Table,
    AssignmentsHash,
}

#[derive(DeriveIden)]
enum BaselineSnapshotItems {
    Table,
    AssignmentsHash,
}

#[derive(DeriveIden)]
enum BaselineProfiles {
    Table,
    CompareAssignments,
}

const COVERING_BEFORE: &[&str] = &[
    "tenant_id",
    "policy_type",
    "external_id",
    "captured_at",
    "id",
    "content_hash",
    "operation_run_id",
];

fn covering(name: &str, with_assignments: bool) -> IndexCreateStatement {
    let mut stmt = Index::create();
    stmt.name(name).table(PolicyVersions::Table);
    for col in COVERING_BEFORE {
        stmt.col(Alias::new(*col));
    }
    if with_assignments {
        stmt.col(PolicyVersions::AssignmentsHash);
    }
    stmt
}

fn drop_index(name: &str) -> IndexDropStatement {
    Index::drop()
        .name(name)
        .table(PolicyVersions::Table)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(PolicyVersions::Table)
                    .add_column(string_len_null(PolicyVersions::AssignmentsHash, 64))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(BaselineSnapshotItems::Table)
                    .add_column(string_len_null(BaselineSnapshotItems::AssignmentsHash, 64))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(BaselineProfiles::Table)
                    .add_column(boolean(BaselineProfiles::CompareAssignments).default(false))
                    .to_owned(),
            )
            .await?;
        // The new index first, so the resolver is never without one.
        manager
            .create_index(covering("idx_policy_versions_evidence_v2", true))
            .await?;
        manager
            .drop_index(drop_index("idx_policy_versions_evidence"))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(covering("idx_policy_versions_evidence", false))
            .await?;
        manager
            .drop_index(drop_index("idx_policy_versions_evidence_v2"))
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(BaselineProfiles::Table)
                    .drop_column(BaselineProfiles::CompareAssignments)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(BaselineSnapshotItems::Table)
                    .drop_column(BaselineSnapshotItems::AssignmentsHash)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(PolicyVersions::Table)
                    .drop_column(PolicyVersions::AssignmentsHash)
                    .to_owned(),
            )
            .await
    }
}
