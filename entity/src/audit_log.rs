use sea_orm::entity::prelude::*;

/// Who did what. `metadata` is minimal and sanitized: ids and names, never
/// tokens or policy payloads.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_logs")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub workspace_id: Option<i64>,
    pub tenant_id: Option<i64>,
    pub actor_user_id: Option<i64>,
    /// A stable action id such as `workspace.create`.
    pub action: String,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    #[sea_orm(column_type = "JsonBinary")]
    pub metadata: Json,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
