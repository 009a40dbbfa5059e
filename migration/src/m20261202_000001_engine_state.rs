//! Facts about the stored data as a whole, by key: for now the version of
//! the evidence rules its hashes were derived under, so that a server whose
//! normalization rules changed re-derives them once (src/evidence/rehash.rs).

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261202_000001_engine_state"
    }
}

#[derive(DeriveIden)]
enum EngineState {
    Table,
    Key,
    Value,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(EngineState::Table)
                    .col(
                        ColumnDef::new(EngineState::Key)
                            .string_len(100)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(EngineState::Value).text().not_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(EngineState::Table).to_owned())
            .await
    }
}
