use sea_orm::entity::prelude::*;

/// One notification of a channel: the outbox row written with the compare
/// that changed the channel's view of a scope's active findings.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notifications")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub workspace_id: i64,
    pub channel_id: i64,
    pub tenant_id: i64,
    pub baseline_profile_id: i64,
    pub operation_run_id: i64,
    /// SHA-256 over the matching active findings' fingerprints and current
    /// hashes: the same drift seen again has the same one.
    pub fingerprint: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub payload: Json,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: DateTimeUtc,
    #[sea_orm(column_type = "Text", nullable)]
    pub last_error: Option<String>,
    pub created_at: DateTimeUtc,
    pub delivered_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
