//! Queuing collector runs: what `startInventorySync`, `startPolicyCapture`
//! and `drift-engine collect` enqueue. The worker executes them
//! (`collector::sync`, `collector::content`).

use chrono::{DateTime, Utc};
use entity::enums::RunType;
use entity::tenant;
use sea_orm::ConnectionTrait;
use serde_json::json;

use super::connections::connection_of;
use super::sync::requested_types;
use crate::error::{Error, Result};
use crate::runs::identity_hash;
use crate::runs::queue::NewRun;

async fn require_connection<C: ConnectionTrait>(db: &C, tenant: &tenant::Model) -> Result<()> {
    if connection_of(db, tenant.id).await?.is_none() {
        return Err(Error::bad_input(
            "the tenant has no Graph connection; set one with setTenantConnection first",
        ));
    }
    Ok(())
}

/// An `inventory_sync` run that lists `policy_types` (all collectable
/// types when empty). The same types on the same tenant while one is
/// active are the same run.
pub async fn inventory_sync_run<C: ConnectionTrait>(
    db: &C,
    tenant: &tenant::Model,
    policy_types: &[String],
    initiator_user_id: Option<i64>,
) -> Result<NewRun> {
    let types = requested_types(policy_types).map_err(Error::bad_input)?;
    require_connection(db, tenant).await?;
    let mut sorted = types.clone();
    sorted.sort();
    Ok(NewRun {
        workspace_id: tenant.workspace_id,
        tenant_id: tenant.id,
        run_type: RunType::InventorySync,
        initiator_user_id,
        run_identity_hash: identity_hash(&[
            "inventory_sync.collect",
            &tenant.id.to_string(),
            &sorted.join(","),
        ]),
        context: json!({"request": {"policy_types": types}}),
    })
}

/// A `policy_capture` run for the tenant's present subjects of
/// `policy_types`, or only those without content since `only_stale_since`.
pub async fn policy_capture_run<C: ConnectionTrait>(
    db: &C,
    tenant: &tenant::Model,
    policy_types: &[String],
    only_stale_since: Option<DateTime<Utc>>,
    initiator_user_id: Option<i64>,
) -> Result<NewRun> {
    let types = requested_types(policy_types).map_err(Error::bad_input)?;
    if only_stale_since.is_some_and(|t| t > Utc::now() + chrono::Duration::minutes(5)) {
        return Err(Error::bad_input(
            "onlyStaleSince is in the future; no content could be fresh",
        ));
    }
    require_connection(db, tenant).await?;
    let mut sorted = types.clone();
    sorted.sort();
    Ok(NewRun {
        workspace_id: tenant.workspace_id,
        tenant_id: tenant.id,
        run_type: RunType::PolicyCapture,
        initiator_user_id,
        run_identity_hash: identity_hash(&[
            "policy_capture.collect",
            &tenant.id.to_string(),
            &sorted.join(","),
            &only_stale_since.map(|t| t.to_rfc3339()).unwrap_or_default(),
        ]),
        context: json!({"request": {
            "policy_types": types,
            "only_stale_since": only_stale_since,
        }}),
    })
}
