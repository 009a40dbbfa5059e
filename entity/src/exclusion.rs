use sea_orm::entity::prelude::*;

/// What compares of a profile ignore: a subject (by type and glob), or
/// setting paths within it. `tenant_id` `None` means every assigned tenant.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "exclusions")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub workspace_id: i64,
    pub baseline_profile_id: i64,
    pub tenant_id: Option<i64>,
    pub policy_type: Option<String>,
    pub subject_pattern: Option<String>,
    pub setting_path_pattern: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub reason: String,
    pub expires_at: Option<DateTimeUtc>,
    pub created_by_user_id: Option<i64>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
