//! Opaque global ids: base64url of `Kind:id`. Clients must not parse them.

use async_graphql::ID;
use base64::Engine as _;

use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeKind {
    Workspace,
    Tenant,
    User,
    WorkspaceMember,
    OperationRun,
    InventoryItem,
    BaselineProfile,
    BaselineSnapshot,
    Finding,
    Exclusion,
    NotificationChannel,
    ApiToken,
}

impl NodeKind {
    const ALL: [NodeKind; 12] = [
        NodeKind::ApiToken,
        NodeKind::NotificationChannel,
        NodeKind::Exclusion,
        NodeKind::BaselineProfile,
        NodeKind::BaselineSnapshot,
        NodeKind::Finding,
        NodeKind::Workspace,
        NodeKind::Tenant,
        NodeKind::User,
        NodeKind::WorkspaceMember,
        NodeKind::OperationRun,
        NodeKind::InventoryItem,
    ];

    /// How NOT_FOUND names an object of this kind.
    pub fn label(self) -> &'static str {
        match self {
            NodeKind::Workspace => "workspace",
            NodeKind::Tenant => "tenant",
            NodeKind::User => "user",
            NodeKind::WorkspaceMember => "workspace member",
            NodeKind::OperationRun => "operation run",
            NodeKind::InventoryItem => "inventory item",
            NodeKind::BaselineProfile => "baseline profile",
            NodeKind::BaselineSnapshot => "baseline snapshot",
            NodeKind::Finding => "finding",
            NodeKind::Exclusion => "exclusion",
            NodeKind::NotificationChannel => "notification channel",
            NodeKind::ApiToken => "API token",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            NodeKind::Workspace => "Workspace",
            NodeKind::Tenant => "Tenant",
            NodeKind::User => "User",
            NodeKind::WorkspaceMember => "WorkspaceMember",
            NodeKind::OperationRun => "OperationRun",
            NodeKind::InventoryItem => "InventoryItem",
            NodeKind::BaselineProfile => "BaselineProfile",
            NodeKind::BaselineSnapshot => "BaselineSnapshot",
            NodeKind::Finding => "Finding",
            NodeKind::Exclusion => "Exclusion",
            NodeKind::NotificationChannel => "NotificationChannel",
            NodeKind::ApiToken => "ApiToken",
        }
    }
}

const ENGINE: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

pub fn encode(kind: NodeKind, id: i64) -> ID {
    ID(ENGINE.encode(format!("{}:{id}", kind.name())))
}

pub fn decode(id: &ID) -> Result<(NodeKind, i64)> {
    let invalid = || Error::bad_input(format!("`{}` is not a valid id", truncate(id)));
    let raw = ENGINE.decode(id.as_bytes()).map_err(|_| invalid())?;
    let text = String::from_utf8(raw).map_err(|_| invalid())?;
    let (name, num) = text.split_once(':').ok_or_else(invalid)?;
    let kind = NodeKind::ALL
        .into_iter()
        .find(|k| k.name() == name)
        .ok_or_else(invalid)?;
    let num: i64 = num.parse().map_err(|_| invalid())?;
    // One id per object: `Tenant:0001`, `Tenant:+1` and other spellings of
    // `Tenant:1` are not ids.
    if encode(kind, num).0 != id.0 {
        return Err(invalid());
    }
    Ok((kind, num))
}

/// Decodes an id that must be of one kind.
pub fn decode_as(id: &ID, expected: NodeKind) -> Result<i64> {
    let (kind, num) = decode(id)?;
    if kind != expected {
        return Err(Error::bad_input(format!(
            "expected a {} id, got a {} id",
            expected.name(),
            kind.name()
        )));
    }
    Ok(num)
}

fn truncate(id: &ID) -> String {
    id.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_other_kinds() {
        let id = encode(NodeKind::Tenant, 42);
        assert_eq!(decode(&id).ok(), Some((NodeKind::Tenant, 42)));
        assert_eq!(decode_as(&id, NodeKind::Tenant).ok(), Some(42));
        let wrong = decode_as(&id, NodeKind::Workspace).unwrap_err();
        assert_eq!(wrong.code(), "BAD_USER_INPUT");
        assert!(decode(&ID("not-an-id!".into())).is_err());
        assert!(decode(&ID(ENGINE.encode("Tenant:abc"))).is_err());
        assert!(decode(&ID(ENGINE.encode("Nope:1"))).is_err());
        for other_spelling in ["Tenant:0042", "Tenant:+42", "Tenant: 42", "Tenant:042"] {
            assert!(
                decode(&ID(ENGINE.encode(other_spelling))).is_err(),
                "{other_spelling}"
            );
        }
    }
}
