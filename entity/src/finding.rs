use sea_orm::entity::prelude::*;

use crate::enums::{ChangeType, Fidelity, FindingStatus, FindingType, Severity};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "findings")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub tenant_id: i64,
    pub workspace_id: i64,
    pub baseline_profile_id: i64,
    pub baseline_snapshot_id: i64,
    pub fingerprint: String,
    pub recurrence_key: String,
    /// `baseline_profile:{id}`
    pub scope_key: String,
    pub finding_type: FindingType,
    pub change_type: ChangeType,
    pub status: FindingStatus,
    pub severity: Severity,
    pub evidence_fidelity: Fidelity,
    pub policy_type: String,
    pub subject_key: String,
    pub display_name: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub evidence_jsonb: Json,
    pub first_seen_at: DateTimeUtc,
    pub last_seen_at: DateTimeUtc,
    pub times_seen: i32,
    pub first_seen_operation_run_id: Option<i64>,
    pub last_seen_operation_run_id: Option<i64>,
    pub acknowledged_at: Option<DateTimeUtc>,
    pub acknowledged_by_user_id: Option<i64>,
    pub resolved_at: Option<DateTimeUtc>,
    pub resolved_reason: Option<String>,
    pub accepted_at: Option<DateTimeUtc>,
    pub accepted_by_user_id: Option<i64>,
    #[sea_orm(column_type = "Text", nullable)]
    pub accepted_reason: Option<String>,
    /// After this the acceptance lapses and the finding reopens.
    pub accepted_until: Option<DateTimeUtc>,
    /// The current hash the drift was accepted at; another reopens it.
    pub accepted_hash: Option<String>,
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
        belongs_to = "super::baseline_profile::Entity",
        from = "Column::BaselineProfileId",
        to = "super::baseline_profile::Column::Id",
        on_delete = "Cascade"
    )]
    BaselineProfile,
    #[sea_orm(
        belongs_to = "super::baseline_snapshot::Entity",
        from = "Column::BaselineSnapshotId",
        to = "super::baseline_snapshot::Column::Id",
        on_delete = "Cascade"
    )]
    BaselineSnapshot,
}

impl Related<super::tenant::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Tenant.def()
    }
}

impl Related<super::baseline_profile::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::BaselineProfile.def()
    }
}

impl Related<super::baseline_snapshot::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::BaselineSnapshot.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
