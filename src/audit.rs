//! Audit log entries with stable action ids. Callers pass only ids and
//! names: never tokens, secrets or policy payloads.

use chrono::Utc;
use entity::audit_log;
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, Set};
use serde_json::Value;

use crate::error::Result;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    WorkspaceCreate,
    TenantCreate,
    WorkspaceMemberAdd,
    InventorySyncRecord,
    PolicyVersionsRecord,
    BaselineProfileCreate,
    BaselineProfileUpdate,
    BaselineProfileAssign,
    BaselineCaptureStart,
    BaselineCompareStart,
    FindingAcknowledge,
    FindingResolve,
    FindingReopen,
    VerificationStart,
    TenantConnectionSet,
    TenantConnectionClear,
    InventorySyncStart,
    PolicyCaptureStart,
    ExclusionCreate,
    ExclusionDelete,
    FindingAccept,
    FindingUnaccept,
    ScheduleSet,
    ScheduleClear,
    NotificationChannelCreate,
    NotificationChannelUpdate,
    NotificationChannelDelete,
    ApiTokenCreate,
    ApiTokenRevoke,
}

impl Action {
    pub fn id(self) -> &'static str {
        match self {
            Action::WorkspaceCreate => "workspace.create",
            Action::TenantCreate => "tenant.create",
            Action::WorkspaceMemberAdd => "workspace.member.add",
            Action::InventorySyncRecord => "tenant.inventory_sync.record",
            Action::PolicyVersionsRecord => "tenant.policy_versions.record",
            Action::BaselineProfileCreate => "baseline_profile.create",
            Action::BaselineProfileUpdate => "baseline_profile.update",
            Action::BaselineProfileAssign => "baseline_profile.assign",
            Action::BaselineCaptureStart => "baseline_capture.start",
            Action::BaselineCompareStart => "baseline_compare.start",
            Action::FindingAcknowledge => "finding.acknowledge",
            Action::FindingResolve => "finding.resolve",
            Action::FindingReopen => "finding.reopen",
            Action::VerificationStart => "verification.start",
            Action::TenantConnectionSet => "tenant.connection.set",
            Action::TenantConnectionClear => "tenant.connection.clear",
            Action::InventorySyncStart => "tenant.inventory_sync.start",
            Action::PolicyCaptureStart => "tenant.policy_capture.start",
            Action::ExclusionCreate => "exclusion.create",
            Action::ExclusionDelete => "exclusion.delete",
            Action::FindingAccept => "finding.accept",
            Action::FindingUnaccept => "finding.unaccept",
            Action::ScheduleSet => "schedule.set",
            Action::ScheduleClear => "schedule.clear",
            Action::NotificationChannelCreate => "notification_channel.create",
            Action::NotificationChannelUpdate => "notification_channel.update",
            Action::NotificationChannelDelete => "notification_channel.delete",
            Action::ApiTokenCreate => "api_token.create",
            Action::ApiTokenRevoke => "api_token.revoke",
        }
    }
}

pub struct Entry {
    pub action: Action,
    pub actor_user_id: Option<i64>,
    pub workspace_id: Option<i64>,
    pub tenant_id: Option<i64>,
    pub target: Option<(&'static str, i64)>,
    pub metadata: Value,
}

pub async fn record<C: ConnectionTrait>(db: &C, entry: Entry) -> Result<()> {
    row(entry).insert(db).await?;
    Ok(())
}

/// Many entries (what a compare did to many findings), in statements of up
/// to 500 rows.
pub async fn record_many<C: ConnectionTrait>(db: &C, entries: Vec<Entry>) -> Result<()> {
    let mut rows = entries.into_iter().map(row);
    loop {
        let chunk: Vec<_> = rows.by_ref().take(500).collect();
        if chunk.is_empty() {
            return Ok(());
        }
        audit_log::Entity::insert_many(chunk)
            .exec_without_returning(db)
            .await?;
    }
}

fn row(entry: Entry) -> audit_log::ActiveModel {
    audit_log::ActiveModel {
        workspace_id: Set(entry.workspace_id),
        tenant_id: Set(entry.tenant_id),
        actor_user_id: Set(entry.actor_user_id),
        action: Set(entry.action.id().to_owned()),
        target_type: Set(entry.target.map(|(kind, _)| kind.to_owned())),
        target_id: Set(entry.target.map(|(_, id)| id.to_string())),
        metadata: Set(entry.metadata),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
}
