use sea_orm::entity::prelude::*;

/// A compare of `tenant_id` against `baseline_profile_id` every
/// `every_seconds` (`every` as the ISO 8601 duration it was set with),
/// collecting from Graph first when `collect`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "schedules")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub workspace_id: i64,
    pub tenant_id: i64,
    pub baseline_profile_id: i64,
    pub every: String,
    pub every_seconds: i64,
    pub collect: bool,
    pub next_run_at: DateTimeUtc,
    pub last_run_at: Option<DateTimeUtc>,
    /// The run the schedule started last (a sync when it collects, then
    /// the compare it chained).
    pub last_run_id: Option<i64>,
    pub created_by_user_id: Option<i64>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
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
}

impl Related<super::tenant::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Tenant.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
