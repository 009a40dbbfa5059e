use sea_orm::entity::prelude::*;

use crate::enums::TenantKind;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tenants")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub workspace_id: i64,
    pub name: String,
    pub kind: TenantKind,
    /// The provider's own identifier (M365 tenant id, AWS account id).
    pub external_ref: Option<String>,
    pub created_at: DateTimeUtc,
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
    #[sea_orm(has_many = "super::inventory_item::Entity")]
    InventoryItem,
    #[sea_orm(has_many = "super::policy_version::Entity")]
    PolicyVersion,
    #[sea_orm(has_many = "super::finding::Entity")]
    Finding,
    #[sea_orm(has_many = "super::operation_run::Entity")]
    OperationRun,
}

impl Related<super::workspace::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Workspace.def()
    }
}

impl Related<super::inventory_item::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::InventoryItem.def()
    }
}

impl Related<super::policy_version::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::PolicyVersion.def()
    }
}

impl Related<super::finding::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Finding.def()
    }
}

impl Related<super::operation_run::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::OperationRun.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
