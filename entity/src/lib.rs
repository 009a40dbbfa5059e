//! sea-orm entities, one module per table. Data shapes and relations only:
//! behaviour lives in the `drift-engine` crate.

pub mod alignment_point;
pub mod api_token;
pub mod audit_log;
pub mod baseline_profile;
pub mod baseline_snapshot;
pub mod baseline_snapshot_item;
pub mod baseline_tenant_assignment;
pub mod collector_page;
pub mod enums;
pub mod evidence_blob;
pub mod exclusion;
pub mod finding;
pub mod finding_counter;
pub mod finding_event;
pub mod inventory_item;
pub mod notification;
pub mod notification_channel;
pub mod operation_run;
pub mod policy_version;
pub mod schedule;
pub mod tenant;
pub mod tenant_connection;
pub mod user;
pub mod workspace;
pub mod workspace_membership;

pub use sea_orm;
