use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "workspaces")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub name: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::tenant::Entity")]
    Tenant,
    #[sea_orm(has_many = "super::workspace_membership::Entity")]
    WorkspaceMembership,
    #[sea_orm(has_many = "super::baseline_profile::Entity")]
    BaselineProfile,
}

impl Related<super::tenant::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Tenant.def()
    }
}

impl Related<super::workspace_membership::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::WorkspaceMembership.def()
    }
}

impl Related<super::baseline_profile::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::BaselineProfile.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
