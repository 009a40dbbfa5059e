use sea_orm::entity::prelude::*;

/// A tenant's connection to Microsoft Graph. `sealed_credential` is the
/// client secret or private key, sealed with AES-256-GCM by the server.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tenant_connections")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub tenant_id: i64,
    pub workspace_id: i64,
    pub directory_tenant_id: String,
    pub client_id: String,
    /// `client_secret` or `certificate`.
    pub credential_kind: String,
    #[sea_orm(column_type = "Text")]
    pub sealed_credential: String,
    pub configured_at: DateTimeUtc,
    pub last_token_at: Option<DateTimeUtc>,
    #[sea_orm(column_type = "Text", nullable)]
    pub last_error: Option<String>,
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
