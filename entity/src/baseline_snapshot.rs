use sea_orm::entity::prelude::*;

use crate::enums::SnapshotStatus;

/// An immutable capture. `captured_at` is the "since" reference for compares.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "baseline_snapshots")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub workspace_id: i64,
    pub baseline_profile_id: i64,
    pub source_tenant_id: Option<i64>,
    pub operation_run_id: Option<i64>,
    pub status: SnapshotStatus,
    pub captured_at: DateTimeUtc,
    pub item_count: i64,
    pub created_at: DateTimeUtc,
    pub completed_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::baseline_profile::Entity",
        from = "Column::BaselineProfileId",
        to = "super::baseline_profile::Column::Id",
        on_delete = "Cascade"
    )]
    BaselineProfile,
    #[sea_orm(
        belongs_to = "super::operation_run::Entity",
        from = "Column::OperationRunId",
        to = "super::operation_run::Column::Id",
        on_delete = "SetNull"
    )]
    OperationRun,
    #[sea_orm(has_many = "super::baseline_snapshot_item::Entity")]
    BaselineSnapshotItem,
}

impl Related<super::baseline_profile::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::BaselineProfile.def()
    }
}

impl Related<super::operation_run::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::OperationRun.def()
    }
}

impl Related<super::baseline_snapshot_item::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::BaselineSnapshotItem.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
