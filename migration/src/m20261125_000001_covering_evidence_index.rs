//! The resolver reads the newest policy version of every subject of a batch,
//! but never its content. On SQLite a row's columns are read in order, so
//! reaching `content_hash` meant walking the overflow pages of the `content`
//! document stored before it (about 17 KB a version in the corpus mix). An
//! index that holds every column the content provider reads answers it from
//! the index alone (SQLite's covering index, PostgreSQL's index-only scan).
//! It replaces the subject index, whose columns are its prefix.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261125_000001_covering_evidence_index"
    }
}

const SUBJECT: &[&str] = &["tenant_id", "policy_type", "external_id", "captured_at"];
const COVERING: &[&str] = &[
    "tenant_id",
    "policy_type",
    "external_id",
    "captured_at",
    "id",
    "content_hash",
    "operation_run_id",
];

fn index(name: &str, cols: &[&str]) -> IndexCreateStatement {
    let mut stmt = Index::create();
    stmt.name(name).table(Alias::new("policy_versions"));
    for col in cols {
        stmt.col(Alias::new(*col));
    }
    stmt
}

fn drop(name: &str) -> IndexDropStatement {
    Index::drop()
        .name(name)
        .table(Alias::new("policy_versions"))
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(index("idx_policy_versions_evidence", COVERING))
            .await?;
        manager
            .drop_index(drop("idx_policy_versions_subject"))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(index("idx_policy_versions_subject", SUBJECT))
            .await?;
        manager
            .drop_index(drop("idx_policy_versions_evidence"))
            .await
    }
}
