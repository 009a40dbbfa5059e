use async_graphql::Enum;

/// A member's role in a workspace; it decides the member's capabilities.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "entity::enums::Role")]
pub enum Role {
    /// Everything, including managing members.
    Owner,
    /// Baselines, tenants, syncs and findings.
    Manager,
    /// Syncs and finding triage; reads baselines.
    Operator,
    /// Reads only.
    Reader,
}

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "entity::enums::TenantKind")]
pub enum TenantKind {
    Intune,
    Aws,
    Azure,
    Gcp,
    Generic,
}
