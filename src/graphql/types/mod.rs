//! GraphQL output types. Each wraps an entity model; entities never derive
//! GraphQL traits themselves.

mod alignment;
mod baseline;
mod enums;
mod evidence;
mod exclusion;
mod finding;
mod notification;
mod run;
mod schedule;
mod tenant;
mod user;
mod workspace;

pub use alignment::{Alignment, AlignmentOrder, CountBy, FindingsSummary};
pub use baseline::{BaselineProfile, BaselineSnapshot, CaptureMode, SubjectMatch};
pub use enums::*;
pub use evidence::{EvidenceSide, Fidelity, InventoryItem, Provenance};
pub use exclusion::Exclusion;
pub use finding::{Finding, FindingStatus, FindingType, Severity};
pub use notification::{ChannelKind, NotificationChannel};
pub use run::{OperationRun, OperationRunStatus, OperationRunType};
pub use schedule::Schedule;
pub use tenant::Tenant;
pub use user::{ApiToken, User};
pub use workspace::{Workspace, WorkspaceMember, workspace_tenants};

use async_graphql::Interface;

/// Anything with a global id that `node(id:)` can fetch.
// One is built per `node` field and returned at once: its size costs
// nothing, and boxing a variant would not fit async-graphql's derive.
#[allow(clippy::large_enum_variant)]
#[derive(Interface)]
#[graphql(field(name = "id", ty = "async_graphql::ID", desc = "An opaque global id."))]
pub enum Node {
    Workspace(Workspace),
    Tenant(Tenant),
    User(User),
    WorkspaceMember(WorkspaceMember),
    OperationRun(OperationRun),
    InventoryItem(InventoryItem),
    BaselineProfile(BaselineProfile),
    BaselineSnapshot(BaselineSnapshot),
    Finding(Finding),
    Exclusion(Exclusion),
    NotificationChannel(NotificationChannel),
    ApiToken(ApiToken),
}
