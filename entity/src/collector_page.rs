use sea_orm::entity::prelude::*;

/// One page of a Graph listing that a collector run has read and not yet
/// recorded; `items` is the page's inventory items as JSON.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "collector_pages")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub tenant_id: i64,
    pub operation_run_id: i64,
    pub policy_type: String,
    pub page_index: i32,
    #[sea_orm(column_type = "JsonBinary")]
    pub items: Json,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
