//! Closed value sets stored as short strings. Strings (not database enums)
//! keep the schema identical on SQLite and PostgreSQL.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
        #[sea_orm(rs_type = "String", db_type = "String(StringLen::None)", rename_all = "snake_case")]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            /// The value as stored in the database and in JSON documents.
            pub fn as_str(&self) -> String {
                self.to_value()
            }
        }
    };
}

string_enum!(
    /// A membership role; `drift_engine::auth` maps it onto capabilities.
    Role { Owner, Manager, Operator, Reader }
);
string_enum!(TenantKind {
    Intune,
    Aws,
    Azure,
    Gcp,
    Generic
});
string_enum!(CaptureMode {
    MetaOnly,
    Opportunistic,
    FullContent
});
string_enum!(SubjectMatch {
    ExternalId,
    DisplayName
});
string_enum!(SnapshotStatus {
    Building,
    Complete,
    Failed
});
string_enum!(RunType {
    InventorySync,
    PolicyCapture,
    BaselineCapture,
    BaselineCompare,
    Verification
});
string_enum!(RunStatus {
    Queued,
    Running,
    Completed
});
string_enum!(RunOutcome {
    Pending,
    Succeeded,
    PartiallySucceeded,
    Failed
});
string_enum!(Fidelity { Content, Meta });
string_enum!(FindingType {
    MissingPolicy,
    DifferentVersion,
    UnexpectedPolicy
});
string_enum!(ChangeType {
    Created,
    Updated,
    Deleted
});
string_enum!(FindingStatus {
    Open,
    Acknowledged,
    Accepted,
    Resolved
});
string_enum!(Severity {
    Info,
    Low,
    Medium,
    High,
    Critical
});
