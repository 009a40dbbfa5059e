use sea_orm::entity::prelude::*;

/// Content evidence: one captured full policy payload. The hash is computed at
/// ingestion so compares read hashes, never payloads.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "policy_versions")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub tenant_id: i64,
    pub policy_type: String,
    pub external_id: String,
    pub captured_at: DateTimeUtc,
    pub operation_run_id: Option<i64>,
    #[sea_orm(column_type = "JsonBinary")]
    pub content: Json,
    /// `None` when the payload could not be normalized; see `normalize_warning`.
    pub content_hash: Option<String>,
    pub normalize_warning: Option<String>,
    /// The hash of the assignment set, normalized to names; `None` when the
    /// payload carried no `assignments` (they were not captured).
    pub assignments_hash: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::tenant::Entity",
        from = "Column::TenantId",
        to = "super::tenant::Column::Id",
        on_delete = "Cascade"
    )]
    Tenant,
    #[sea_orm(
        belongs_to = "super::operation_run::Entity",
        from = "Column::OperationRunId",
        to = "super::operation_run::Column::Id",
        on_delete = "SetNull"
    )]
    OperationRun,
}

impl Related<super::tenant::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Tenant.def()
    }
}

impl Related<super::operation_run::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::OperationRun.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
