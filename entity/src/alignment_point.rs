use sea_orm::entity::prelude::*;

/// The alignment of a tenant with a profile as one compare found it.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "alignment_points")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub tenant_id: i64,
    pub workspace_id: i64,
    pub baseline_profile_id: i64,
    pub operation_run_id: i64,
    pub applicable: i64,
    pub compliant: i64,
    pub compliant_content: i64,
    pub accepted: i64,
    pub excluded: i64,
    pub uncovered: i64,
    pub aligned_percent: Option<f64>,
    pub verified_percent: Option<f64>,
    pub content_verified_percent: Option<f64>,
    pub as_of: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
