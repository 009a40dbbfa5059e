//! Authentication (bearer API tokens) and authorization (roles → capabilities).
//!
//! The outcomes are fixed: no or bad token → `UNAUTHENTICATED`; not a member
//! of the workspace, or no access to the tenant → `NOT_FOUND` (the thing does
//! not exist for them); a member without the capability → `FORBIDDEN`.

pub mod tokens;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use entity::enums::Role;
use entity::{tenant, user, workspace_membership};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};

use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Capability {
    WorkspaceBaselinesView,
    WorkspaceBaselinesManage,
    TenantSync,
    TenantFindingsView,
    TenantFindingsManage,
    /// Create and edit tenants of a workspace.
    WorkspaceTenantsManage,
    /// Add members and change their roles.
    WorkspaceMembersManage,
}

impl Capability {
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::WorkspaceBaselinesView => "workspace_baselines.view",
            Capability::WorkspaceBaselinesManage => "workspace_baselines.manage",
            Capability::TenantSync => "tenant.sync",
            Capability::TenantFindingsView => "tenant_findings.view",
            Capability::TenantFindingsManage => "tenant_findings.manage",
            Capability::WorkspaceTenantsManage => "workspace_tenants.manage",
            Capability::WorkspaceMembersManage => "workspace_members.manage",
        }
    }
}

/// The role → capability table. Every role can see what its workspace holds;
/// the roles differ in what they may change.
pub fn capabilities(role: Role) -> &'static [Capability] {
    use Capability::*;
    match role {
        Role::Owner => &[
            WorkspaceBaselinesView,
            WorkspaceBaselinesManage,
            TenantSync,
            TenantFindingsView,
            TenantFindingsManage,
            WorkspaceTenantsManage,
            WorkspaceMembersManage,
        ],
        Role::Manager => &[
            WorkspaceBaselinesView,
            WorkspaceBaselinesManage,
            TenantSync,
            TenantFindingsView,
            TenantFindingsManage,
            WorkspaceTenantsManage,
        ],
        Role::Operator => &[
            WorkspaceBaselinesView,
            TenantSync,
            TenantFindingsView,
            TenantFindingsManage,
        ],
        Role::Reader => &[WorkspaceBaselinesView, TenantFindingsView],
    }
}

/// One membership as the authorizer sees it.
#[derive(Clone, Debug)]
pub struct Access {
    pub membership_id: i64,
    pub role: Role,
    /// `None`: every tenant of the workspace.
    pub tenant_ids: Option<Vec<i64>>,
}

impl Access {
    pub fn has(&self, capability: Capability) -> bool {
        capabilities(self.role).contains(&capability)
    }

    pub fn can_see_tenant(&self, tenant_id: i64) -> bool {
        self.tenant_ids
            .as_ref()
            .is_none_or(|ids| ids.contains(&tenant_id))
    }
}

/// An authenticated caller with all of its memberships, loaded once per
/// request so that checks in resolvers cost no query. A mutation that creates
/// a membership for the caller records it here, so the rest of the same
/// request sees it.
#[derive(Clone, Debug)]
pub struct Viewer {
    pub user: user::Model,
    pub token_id: Option<i64>,
    /// The token may only read: every mutation is FORBIDDEN.
    pub read_only: bool,
    memberships: Arc<RwLock<HashMap<i64, Access>>>,
}

impl Viewer {
    pub async fn load(
        db: &DatabaseConnection,
        user: user::Model,
        token_id: Option<i64>,
    ) -> Result<Self> {
        let rows = workspace_membership::Entity::find()
            .filter(workspace_membership::Column::UserId.eq(user.id))
            .all(db)
            .await?;
        let memberships = rows
            .into_iter()
            .map(|m| {
                let tenant_ids = m
                    .tenant_ids
                    .and_then(|v| serde_json::from_value::<Vec<i64>>(v).ok());
                (
                    m.workspace_id,
                    Access {
                        membership_id: m.id,
                        role: m.role,
                        tenant_ids,
                    },
                )
            })
            .collect();
        Ok(Self {
            user,
            token_id,
            read_only: false,
            memberships: Arc::new(RwLock::new(memberships)),
        })
    }

    fn memberships(&self) -> std::sync::RwLockReadGuard<'_, HashMap<i64, Access>> {
        // A poisoned lock only means another resolver panicked mid-insert;
        // the map itself is still consistent.
        self.memberships.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a membership created during this request.
    pub fn grant(&self, workspace_id: i64, access: Access) {
        self.memberships
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(workspace_id, access);
    }

    pub fn workspace_ids(&self) -> Vec<i64> {
        let mut ids: Vec<i64> = self.memberships().keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    /// The caller's access to a workspace, or `NOT_FOUND` when not a member.
    pub fn workspace(&self, workspace_id: i64) -> Result<Access> {
        self.memberships()
            .get(&workspace_id)
            .cloned()
            .ok_or(Error::NotFound("workspace"))
    }

    /// Membership plus a capability: `NOT_FOUND`, then `FORBIDDEN`.
    pub fn require_workspace(&self, workspace_id: i64, capability: Capability) -> Result<Access> {
        let access = self.workspace(workspace_id)?;
        require(&access, capability)?;
        Ok(access)
    }

    /// Access to a tenant: membership of its workspace and, where the
    /// membership lists tenants, that tenant among them.
    pub fn tenant(&self, tenant: &tenant::Model) -> Result<Access> {
        match self.memberships().get(&tenant.workspace_id) {
            Some(access) if access.can_see_tenant(tenant.id) => Ok(access.clone()),
            _ => Err(Error::NotFound("tenant")),
        }
    }

    pub fn require_tenant(&self, tenant: &tenant::Model, capability: Capability) -> Result<Access> {
        let access = self.tenant(tenant)?;
        require(&access, capability)?;
        Ok(access)
    }

    pub fn can_see_tenant(&self, tenant: &tenant::Model) -> bool {
        self.tenant(tenant).is_ok()
    }
}

fn require(access: &Access, capability: Capability) -> Result<()> {
    if access.has(capability) {
        Ok(())
    } else {
        Err(Error::Forbidden(format!(
            "your role `{}` lacks the capability `{}`",
            access.role.as_str(),
            capability.as_str()
        )))
    }
}

/// Loads a tenant and checks the caller may see it (and, if given, act on it).
pub async fn authorized_tenant(
    db: &DatabaseConnection,
    viewer: &Viewer,
    tenant_id: i64,
    capability: Option<Capability>,
) -> Result<tenant::Model> {
    let tenant = tenant::Entity::find_by_id(tenant_id)
        .one(db)
        .await?
        .ok_or(Error::NotFound("tenant"))?;
    match capability {
        Some(cap) => viewer.require_tenant(&tenant, cap)?,
        None => viewer.tenant(&tenant)?,
    };
    Ok(tenant)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_can_view_and_only_owners_manage_members() {
        for role in [Role::Owner, Role::Manager, Role::Operator, Role::Reader] {
            assert!(capabilities(role).contains(&Capability::WorkspaceBaselinesView));
            assert!(capabilities(role).contains(&Capability::TenantFindingsView));
            assert_eq!(
                capabilities(role).contains(&Capability::WorkspaceMembersManage),
                role == Role::Owner
            );
        }
        assert!(!capabilities(Role::Reader).contains(&Capability::TenantSync));
    }

    #[test]
    fn tenant_list_restricts_access() {
        let access = Access {
            membership_id: 1,
            role: Role::Reader,
            tenant_ids: Some(vec![3]),
        };
        assert!(access.can_see_tenant(3));
        assert!(!access.can_see_tenant(4));
    }
}
