use sea_orm::entity::prelude::*;

/// Where a workspace's drift notifications go. The target URL and the
/// signing secret are sealed (AES-256-GCM under the server's key, bound to
/// the workspace): an incoming-webhook URL is itself a credential.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notification_channels")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub workspace_id: i64,
    pub name: String,
    /// `webhook`, `slack` or `teams`.
    pub kind: String,
    #[sea_orm(column_type = "Text")]
    pub target_sealed: String,
    /// The target's host, the only part of it shown.
    pub target_host: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub secret_sealed: Option<String>,
    /// Findings below this severity are left out; `None`: all.
    pub min_severity: Option<String>,
    /// Finding types (`missing_policy`, ...) it is for; `[]`: all.
    #[sea_orm(column_type = "JsonBinary")]
    pub finding_types: Json,
    /// Tenant ids it is for; `[]`: every tenant of the workspace.
    #[sea_orm(column_type = "JsonBinary")]
    pub tenant_ids: Json,
    pub created_by_user_id: Option<i64>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
