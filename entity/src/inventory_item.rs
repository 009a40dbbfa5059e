use sea_orm::entity::prelude::*;

/// Meta evidence: the latest inventory view of one tenant subject.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "inventory_items")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub tenant_id: i64,
    pub policy_type: String,
    pub external_id: String,
    pub display_name: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub meta_jsonb: Json,
    pub meta_hash: Option<String>,
    pub first_seen_at: DateTimeUtc,
    pub last_seen_at: DateTimeUtc,
    pub last_seen_operation_run_id: Option<i64>,
    /// Set when a full sync of this type no longer listed the subject; the row stays as history.
    pub removed_at: Option<DateTimeUtc>,
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
        from = "Column::LastSeenOperationRunId",
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
