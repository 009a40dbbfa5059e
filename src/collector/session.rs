//! What every collector job does first and last: open the tenant's
//! connection as a Graph session, and record on the connection when the
//! session last got a token or why it could not.

use std::sync::Arc;

use entity::{tenant, tenant_connection};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde_json::Value;

use super::connections::{connection_of, open_credential};
use super::graph::{Collector, Session};
use crate::runs::worker::{JobError, RunContext};

/// The run's tenant and a Graph session on its connection. `spent` is the
/// requests earlier attempts of the run made, which the budget counts.
pub async fn open(
    ctx: &RunContext,
    collector: Option<&Arc<Collector>>,
    spent: u64,
) -> Result<(tenant::Model, Session), JobError> {
    let collector = collector.ok_or(JobError::Failed {
        reason_code: "collector_not_configured",
        message: "this process does not collect from Graph".into(),
    })?;
    let tenant = tenant::Entity::find_by_id(ctx.run.tenant_id)
        .one(&ctx.db)
        .await?
        .ok_or(JobError::Failed {
            reason_code: "tenant_not_found",
            message: "the tenant no longer exists".into(),
        })?;
    let connection = connection_of(&ctx.db, tenant.id)
        .await
        .map_err(|e| JobError::Failed {
            reason_code: "internal_error",
            message: e.to_string(),
        })?
        .ok_or(JobError::Failed {
            reason_code: "no_connection",
            message: "the tenant has no Graph connection; set one with setTenantConnection".into(),
        })?;
    let key = collector.key().ok_or(JobError::Failed {
        reason_code: "no_secret_key",
        message: "this server has no secret key (DRIFT_SECRET_KEY or --secret-key-file), so it cannot open the tenant's credential".into(),
    })?;
    let credential = open_credential(key, &connection).ok_or(JobError::Failed {
        reason_code: "credential_unreadable",
        message: "the tenant's credential cannot be opened with this server's secret key (was the key changed?); set the connection again".into(),
    })?;
    Ok((tenant, collector.session(connection, credential, spent)))
}

/// Records on the connection what the session's last token request said.
pub async fn record_token_outcome<C: ConnectionTrait>(
    db: &C,
    tenant_id: i64,
    session: &Session,
) -> Result<(), JobError> {
    let last = session
        .last_token
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let update = tenant_connection::Entity::update_many()
        .filter(tenant_connection::Column::TenantId.eq(tenant_id));
    let update = match last {
        None => return Ok(()),
        Some(Ok(at)) => update
            .col_expr(tenant_connection::Column::LastTokenAt, Expr::value(at))
            .col_expr(
                tenant_connection::Column::LastError,
                Expr::value(Option::<String>::None),
            ),
        Some(Err(message)) => update.col_expr(
            tenant_connection::Column::LastError,
            Expr::value(Some(message)),
        ),
    };
    update.exec(db).await?;
    Ok(())
}

/// Audits what a collector run recorded, as pushed evidence is audited,
/// with the run's initiator as actor.
pub async fn audit_recorded<C: ConnectionTrait>(
    db: &C,
    ctx: &RunContext,
    tenant: &tenant::Model,
    action: crate::audit::Action,
    counts: &Value,
) -> Result<(), JobError> {
    crate::audit::record(
        db,
        crate::audit::Entry {
            action,
            actor_user_id: ctx.run.initiator_user_id,
            workspace_id: Some(tenant.workspace_id),
            tenant_id: Some(tenant.id),
            target: Some(("operation_run", ctx.run.id)),
            metadata: serde_json::json!({"counts": counts, "collected": true}),
        },
    )
    .await?;
    Ok(())
}

/// The object at `key` of a run's context, or an empty one.
pub fn section(context: &Value, key: &str) -> Value {
    match context.get(key) {
        Some(v @ Value::Object(_)) => v.clone(),
        _ => Value::Object(Default::default()),
    }
}

/// The strings of a JSON array (a run's requested or skipped types); other
/// values are left out.
pub fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}
