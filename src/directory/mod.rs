//! Workspaces, tenants and memberships: the directory that every other part
//! hangs off. Callers authorize first; these functions validate input, write,
//! and audit in one transaction.

use chrono::Utc;
use entity::enums::{Role, TenantKind};
use entity::{tenant, workspace, workspace_membership};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    Set, TransactionTrait,
};
use serde_json::json;

use crate::audit::{self, Action};
use crate::auth::tokens;
use crate::error::{Error, Result};

const MAX_NAME_LEN: usize = 200;

pub fn validate_name(what: &str, name: &str) -> Result<String> {
    let trimmed = name.trim();
    if trimmed.is_empty() {
        return Err(Error::bad_input(format!("{what} name must not be empty")));
    }
    if trimmed.chars().count() > MAX_NAME_LEN {
        return Err(Error::bad_input(format!(
            "{what} name is longer than {MAX_NAME_LEN} characters"
        )));
    }
    Ok(trimmed.to_owned())
}

/// Creates a workspace with the creator as its owner.
pub async fn create_workspace(
    db: &DatabaseConnection,
    actor_user_id: i64,
    name: &str,
) -> Result<(workspace::Model, workspace_membership::Model)> {
    let name = validate_name("workspace", name)?;
    let txn = db.begin().await?;
    let now = Utc::now();
    let ws = workspace::ActiveModel {
        name: Set(name.clone()),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    let membership = workspace_membership::ActiveModel {
        workspace_id: Set(ws.id),
        user_id: Set(actor_user_id),
        role: Set(Role::Owner),
        tenant_ids: Set(None),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        audit::Entry {
            action: Action::WorkspaceCreate,
            actor_user_id: Some(actor_user_id),
            workspace_id: Some(ws.id),
            tenant_id: None,
            target: Some(("workspace", ws.id)),
            metadata: json!({"name": name, "owner_membership_id": membership.id}),
        },
    )
    .await?;
    txn.commit().await?;
    Ok((ws, membership))
}

pub async fn create_tenant(
    db: &DatabaseConnection,
    actor_user_id: i64,
    workspace_id: i64,
    name: &str,
    kind: TenantKind,
    external_ref: Option<String>,
) -> Result<tenant::Model> {
    let name = validate_name("tenant", name)?;
    let external_ref = match external_ref.map(|r| r.trim().to_owned()) {
        Some(r) if r.is_empty() => None,
        Some(r) if r.chars().count() > MAX_NAME_LEN => {
            return Err(Error::bad_input(format!(
                "externalRef is longer than {MAX_NAME_LEN} characters"
            )));
        }
        other => other,
    };
    let txn = db.begin().await?;
    let tenant = tenant::ActiveModel {
        workspace_id: Set(workspace_id),
        name: Set(name.clone()),
        kind: Set(kind),
        external_ref: Set(external_ref),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        audit::Entry {
            action: Action::TenantCreate,
            actor_user_id: Some(actor_user_id),
            workspace_id: Some(workspace_id),
            tenant_id: Some(tenant.id),
            target: Some(("tenant", tenant.id)),
            metadata: json!({"name": name, "kind": kind.as_str()}),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(tenant)
}

/// Adds a user (created if new) to a workspace. `tenant_ids` limits the
/// member to those tenants; every id must belong to the workspace.
pub async fn add_member(
    db: &DatabaseConnection,
    actor_user_id: i64,
    workspace_id: i64,
    email: &str,
    role: Role,
    tenant_ids: Option<Vec<i64>>,
) -> Result<workspace_membership::Model> {
    let txn = db.begin().await?;
    if let Some(ids) = &tenant_ids {
        let mut unique = ids.clone();
        unique.sort_unstable();
        unique.dedup();
        let found = tenant::Entity::find()
            .filter(tenant::Column::WorkspaceId.eq(workspace_id))
            .filter(tenant::Column::Id.is_in(unique.clone()))
            .count(&txn)
            .await?;
        if found != unique.len() as u64 {
            return Err(Error::bad_input(
                "tenantIds must name tenants of this workspace",
            ));
        }
    }
    let user = tokens::find_or_create_user(&txn, email, None).await?;
    let existing = workspace_membership::Entity::find()
        .filter(workspace_membership::Column::WorkspaceId.eq(workspace_id))
        .filter(workspace_membership::Column::UserId.eq(user.id))
        .one(&txn)
        .await?;
    if existing.is_some() {
        return Err(Error::Conflict(format!(
            "{} is already a member of this workspace",
            user.email
        )));
    }
    let membership = workspace_membership::ActiveModel {
        workspace_id: Set(workspace_id),
        user_id: Set(user.id),
        role: Set(role),
        tenant_ids: Set(tenant_ids.as_ref().map(|ids| json!(ids))),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        audit::Entry {
            action: Action::WorkspaceMemberAdd,
            actor_user_id: Some(actor_user_id),
            workspace_id: Some(workspace_id),
            tenant_id: None,
            target: Some(("workspace_membership", membership.id)),
            metadata: json!({
                "user_id": user.id,
                "role": role.as_str(),
                "tenant_ids": tenant_ids,
            }),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(membership)
}
