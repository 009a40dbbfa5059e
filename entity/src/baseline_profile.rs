use sea_orm::entity::prelude::*;

use crate::enums::{CaptureMode, SubjectMatch};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "baseline_profiles")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub workspace_id: i64,
    pub name: String,
    pub description: Option<String>,
    /// `{"policy_types": [...], "foundation_types": [...]}`
    #[sea_orm(column_type = "JsonBinary")]
    pub scope: Json,
    pub capture_mode: CaptureMode,
    pub subject_match: SubjectMatch,
    /// Finding type → severity, overriding the defaults.
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub severity_overrides: Option<Json>,
    /// Compare assignment sets as well as content.
    pub compare_assignments: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::workspace::Entity",
        from = "Column::WorkspaceId",
        to = "super::workspace::Column::Id",
        on_delete = "Cascade"
    )]
    Workspace,
    #[sea_orm(has_many = "super::baseline_snapshot::Entity")]
    BaselineSnapshot,
    #[sea_orm(has_many = "super::baseline_tenant_assignment::Entity")]
    BaselineTenantAssignment,
}

impl Related<super::workspace::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Workspace.def()
    }
}

impl Related<super::baseline_snapshot::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::BaselineSnapshot.def()
    }
}

impl Related<super::baseline_tenant_assignment::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::BaselineTenantAssignment.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
