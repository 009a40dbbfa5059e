use sea_orm::entity::prelude::*;

/// How many findings of a tenant and profile have these dimensions.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "finding_counters")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub tenant_id: i64,
    pub workspace_id: i64,
    pub baseline_profile_id: i64,
    pub status: String,
    pub finding_type: String,
    pub fidelity: String,
    pub severity: String,
    pub count: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
