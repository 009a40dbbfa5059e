//! The status history of findings (`Finding.history`): every triage
//! decision, and every change a compare or the expiry sweep makes to an
//! accepted finding, with who or which run made it and why.

use chrono::{DateTime, Utc};
use entity::enums::FindingStatus;
use entity::finding_event;
use sea_orm::{ConnectionTrait, DbErr, EntityTrait, Set};

pub struct Event {
    pub tenant_id: i64,
    pub finding_id: i64,
    pub from: FindingStatus,
    pub to: FindingStatus,
    pub reason: Option<String>,
    pub actor_user_id: Option<i64>,
    pub operation_run_id: Option<i64>,
    pub at: DateTime<Utc>,
}

/// Writes events in statements of up to 500 rows.
pub async fn record<C: ConnectionTrait>(db: &C, events: Vec<Event>) -> Result<(), DbErr> {
    let mut rows = events.into_iter().map(|e| finding_event::ActiveModel {
        tenant_id: Set(e.tenant_id),
        finding_id: Set(e.finding_id),
        from_status: Set(e.from.as_str()),
        to_status: Set(e.to.as_str()),
        reason: Set(e.reason),
        actor_user_id: Set(e.actor_user_id),
        operation_run_id: Set(e.operation_run_id),
        at: Set(e.at),
        ..Default::default()
    });
    loop {
        let chunk: Vec<_> = rows.by_ref().take(500).collect();
        if chunk.is_empty() {
            return Ok(());
        }
        finding_event::Entity::insert_many(chunk)
            .exec_without_returning(db)
            .await?;
    }
}
