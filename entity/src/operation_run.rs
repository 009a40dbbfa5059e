use sea_orm::entity::prelude::*;

use crate::enums::{RunOutcome, RunStatus, RunType};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "operation_runs")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub workspace_id: i64,
    pub tenant_id: i64,
    #[sea_orm(column_name = "type")]
    pub run_type: RunType,
    pub status: RunStatus,
    pub outcome: RunOutcome,
    pub initiator_user_id: Option<i64>,
    pub run_identity_hash: String,
    /// Numeric values only, under whitelisted keys.
    #[sea_orm(column_type = "JsonBinary")]
    pub summary_counts: Json,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub failure_summary: Option<Json>,
    #[sea_orm(column_type = "JsonBinary")]
    pub context: Json,
    pub progress_done: i64,
    pub progress_total: i64,
    pub attempts: i32,
    pub claimed_by: Option<String>,
    pub heartbeat_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub started_at: Option<DateTimeUtc>,
    pub completed_at: Option<DateTimeUtc>,
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
        belongs_to = "super::user::Entity",
        from = "Column::InitiatorUserId",
        to = "super::user::Column::Id",
        on_delete = "SetNull"
    )]
    Initiator,
}

impl Related<super::tenant::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Tenant.def()
    }
}

impl Related<super::user::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Initiator.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
