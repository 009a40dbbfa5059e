use sea_orm::entity::prelude::*;

/// One subject of a snapshot. Holds no tenant identifiers by design.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "baseline_snapshot_items")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub baseline_snapshot_id: i64,
    pub workspace_id: i64,
    pub policy_type: String,
    pub subject_key: String,
    pub display_name: String,
    pub baseline_hash: Option<String>,
    /// The meta contract hash, so a compare against meta evidence can fall back.
    pub meta_hash: Option<String>,
    /// The baseline's assignment-set hash, when its content carried one.
    pub assignments_hash: Option<String>,
    /// `{"evidence": {"fidelity", "source", "observed_at", "observed_operation_run_id"}}`
    #[sea_orm(column_type = "JsonBinary")]
    pub meta_jsonb: Json,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::baseline_snapshot::Entity",
        from = "Column::BaselineSnapshotId",
        to = "super::baseline_snapshot::Column::Id",
        on_delete = "Cascade"
    )]
    BaselineSnapshot,
}

impl Related<super::baseline_snapshot::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::BaselineSnapshot.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
