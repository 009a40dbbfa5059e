//! The only place the database schema is defined. Every migration is written
//! once for both SQLite and PostgreSQL: portable column types, foreign keys
//! inside `create_table`, and partial indexes through sea-query's `and_where`.

pub use sea_orm_migration::prelude::*;

mod m20261122_000001_initial;
mod m20261125_000001_covering_evidence_index;
mod m20261126_000001_covering_inventory_index;
mod m20261126_000002_lz4_policy_documents;
mod m20261202_000001_engine_state;
mod m20261202_000002_tenant_connections;
mod m20261202_000003_collector_pages;
mod m20261202_000004_exclusions;
mod m20261202_000005_acceptance;
mod m20261202_000006_alignment_points;
mod m20261202_000007_finding_counters;
mod m20261202_000008_assignments;
mod m20261202_000009_schedules;
mod m20261202_000010_notifications;
mod m20261202_000011_token_options;
mod m20261202_000012_report_index;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_initial::Migration),
            Box::new(m20261125_000001_covering_evidence_index::Migration),
            Box::new(m20261126_000001_covering_inventory_index::Migration),
            Box::new(m20261126_000002_lz4_policy_documents::Migration),
            Box::new(m20261202_000001_engine_state::Migration),
            Box::new(m20261202_000002_tenant_connections::Migration),
            Box::new(m20261202_000003_collector_pages::Migration),
            Box::new(m20261202_000004_exclusions::Migration),
            Box::new(m20261202_000005_acceptance::Migration),
            Box::new(m20261202_000006_alignment_points::Migration),
            Box::new(m20261202_000007_finding_counters::Migration),
            Box::new(m20261202_000008_assignments::Migration),
            Box::new(m20261202_000009_schedules::Migration),
            Box::new(m20261202_000010_notifications::Migration),
            Box::new(m20261202_000011_token_options::Migration),
            Box::new(m20261202_000012_report_index::Migration),
        ]
    }
}
