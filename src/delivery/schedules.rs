//! Schedules: a compare of one tenant against one profile every so often,
//! with an inventory sync from Graph first when the schedule collects.
//!
//! Every worker of every `serve` process ticks the scheduler. A tick claims
//! the due rows and moves each one's `next_run_at` to a period after *now*
//! in one `UPDATE ... RETURNING`, guarded by `next_run_at <= now`, so a row
//! is claimed by exactly one tick across replicas: on PostgreSQL the rows
//! are first locked with `FOR UPDATE SKIP LOCKED`, so other replicas pass
//! over them instead of waiting; SQLite has one writer. Because the next
//! time is counted from now, a schedule that missed periods while no
//! server ran fires once, not once per missed period. The runs it queues
//! go through the ordinary queue, whose identity dedupe keeps a compare
//! already queued or running from being queued twice.

use chrono::{DateTime, Duration, Utc};
use entity::{baseline_profile, schedule, tenant};
use sea_orm::sea_query::{CaseStatement, Expr, OnConflict};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, Statement, TransactionTrait,
};
use serde_json::{Value, json};

use crate::audit::{self, Action};
use crate::drift::compare;
use crate::error::{Error, Result};
use crate::runs::queue;

/// The shortest period: a compare of a large tenant takes minutes.
pub const MIN_EVERY_SECONDS: i64 = 5 * 60;
/// The longest: a year.
pub const MAX_EVERY_SECONDS: i64 = 366 * 24 * 3600;
/// Due schedules one tick claims; the next tick takes the rest.
const TICK_BATCH: u64 = 100;

/// `every` as seconds. ISO 8601 durations of weeks, days, hours, minutes
/// and seconds (`PT6H`, `P1D`, `P1W`); years and months are refused, since
/// their length depends on the date.
pub fn parse_every(every: &str) -> Result<i64> {
    let text = every.trim();
    let duration = iso8601::duration(text).map_err(|e| {
        Error::bad_input(format!(
            "every `{text}` is not an ISO 8601 duration such as PT6H or P1D ({e})"
        ))
    })?;
    let seconds = match duration {
        iso8601::Duration::Weeks(w) => i64::from(w) * 7 * 24 * 3600,
        iso8601::Duration::YMDHMS {
            year,
            month,
            day,
            hour,
            minute,
            second,
            millisecond,
        } => {
            if year != 0 || month != 0 {
                return Err(Error::bad_input(format!(
                    "every `{text}` counts years or months, whose length varies; say it in days or weeks (P30D, P4W)"
                )));
            }
            if millisecond != 0 {
                return Err(Error::bad_input(format!(
                    "every `{text}` has fractions of a second"
                )));
            }
            i64::from(day) * 86_400
                + i64::from(hour) * 3600
                + i64::from(minute) * 60
                + i64::from(second)
        }
    };
    if seconds < MIN_EVERY_SECONDS {
        return Err(Error::bad_input(format!(
            "every `{text}` is shorter than the minimum of 5 minutes (PT5M)"
        )));
    }
    if seconds > MAX_EVERY_SECONDS {
        return Err(Error::bad_input(format!(
            "every `{text}` is longer than a year"
        )));
    }
    Ok(seconds)
}

/// What `setSchedule` asks for.
pub struct NewSchedule {
    pub every: String,
    pub collect: bool,
    /// The first run; by default one period from now.
    pub start_at: Option<DateTime<Utc>>,
}

/// Sets (creates or replaces) the schedule of `profile` × `tenant`, which
/// must be assigned; audited.
pub async fn set(
    db: &DatabaseConnection,
    actor_user_id: i64,
    profile: &baseline_profile::Model,
    tenant: &tenant::Model,
    new: NewSchedule,
) -> Result<schedule::Model> {
    let every_seconds = parse_every(&new.every)?;
    if crate::drift::profiles::assignment(db, profile.id, tenant.id)
        .await?
        .is_none()
    {
        return Err(Error::bad_input(
            "the profile is not assigned to this tenant; assign it first",
        ));
    }
    if new.collect
        && crate::collector::connections::connection_of(db, tenant.id)
            .await?
            .is_none()
    {
        return Err(Error::bad_input(
            "collect needs a tenant connection to Microsoft Graph; set one with setTenantConnection first",
        ));
    }
    let now = Utc::now();
    let next_run_at = new
        .start_at
        .unwrap_or_else(|| now + Duration::seconds(every_seconds));
    let every = new.every.trim().to_owned();
    let txn = db.begin().await?;
    schedule::Entity::insert(schedule::ActiveModel {
        workspace_id: Set(tenant.workspace_id),
        tenant_id: Set(tenant.id),
        baseline_profile_id: Set(profile.id),
        every: Set(every.clone()),
        every_seconds: Set(every_seconds),
        collect: Set(new.collect),
        next_run_at: Set(next_run_at),
        last_run_at: Set(None),
        last_run_id: Set(None),
        created_by_user_id: Set(Some(actor_user_id)),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    })
    .on_conflict(
        OnConflict::columns([
            schedule::Column::BaselineProfileId,
            schedule::Column::TenantId,
        ])
        .update_columns([
            schedule::Column::Every,
            schedule::Column::EverySeconds,
            schedule::Column::Collect,
            schedule::Column::NextRunAt,
            schedule::Column::UpdatedAt,
        ])
        .to_owned(),
    )
    .exec_without_returning(&txn)
    .await?;
    let row = schedule::Entity::find()
        .filter(schedule::Column::BaselineProfileId.eq(profile.id))
        .filter(schedule::Column::TenantId.eq(tenant.id))
        .one(&txn)
        .await?
        .ok_or_else(|| Error::internal(anyhow::anyhow!("the schedule just set is not there")))?;
    audit::record(
        &txn,
        audit::Entry {
            action: Action::ScheduleSet,
            actor_user_id: Some(actor_user_id),
            workspace_id: Some(tenant.workspace_id),
            tenant_id: Some(tenant.id),
            target: Some(("schedule", row.id)),
            metadata: json!({"baseline_profile_id": profile.id, "every": every,
                             "collect": new.collect, "next_run_at": next_run_at}),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(row)
}

/// Removes the schedule of `profile` × `tenant`; whether there was one.
pub async fn clear(
    db: &DatabaseConnection,
    actor_user_id: i64,
    profile: &baseline_profile::Model,
    tenant: &tenant::Model,
) -> Result<bool> {
    let txn = db.begin().await?;
    let removed = schedule::Entity::delete_many()
        .filter(schedule::Column::TenantId.eq(tenant.id))
        .filter(schedule::Column::BaselineProfileId.eq(profile.id))
        .exec(&txn)
        .await?
        .rows_affected;
    if removed > 0 {
        audit::record(
            &txn,
            audit::Entry {
                action: Action::ScheduleClear,
                actor_user_id: Some(actor_user_id),
                workspace_id: Some(tenant.workspace_id),
                tenant_id: Some(tenant.id),
                target: Some(("baseline_profile", profile.id)),
                metadata: json!({}),
            },
        )
        .await?;
    }
    txn.commit().await?;
    Ok(removed > 0)
}

/// Claims the schedules due at `now` (see the module doc): each comes back
/// to exactly one caller, its `next_run_at` already a period after `now`.
pub async fn claim_due(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
) -> Result<Vec<schedule::Model>, DbErr> {
    let txn = db.begin().await?;
    let due: Vec<(i64, i64)> = if txn.get_database_backend() == DbBackend::Postgres {
        txn.query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT id, every_seconds FROM schedules WHERE next_run_at <= $1 \
             ORDER BY next_run_at LIMIT $2 FOR UPDATE SKIP LOCKED",
            [now.into(), (TICK_BATCH as i64).into()],
        ))
        .await?
        .iter()
        .map(|row| Ok((row.try_get("", "id")?, row.try_get("", "every_seconds")?)))
        .collect::<Result<_, DbErr>>()?
    } else {
        schedule::Entity::find()
            .select_only()
            .columns([schedule::Column::Id, schedule::Column::EverySeconds])
            .filter(schedule::Column::NextRunAt.lte(now))
            .order_by_asc(schedule::Column::NextRunAt)
            .limit(TICK_BATCH)
            .into_tuple()
            .all(&txn)
            .await?
    };
    if due.is_empty() {
        txn.commit().await?;
        return Ok(Vec::new());
    }
    let mut next = CaseStatement::new();
    for (id, every) in &due {
        next = next.case(
            schedule::Column::Id.eq(*id),
            Expr::value(now + Duration::seconds(*every)),
        );
    }
    let claimed = schedule::Entity::update_many()
        .col_expr(schedule::Column::NextRunAt, next.into())
        .col_expr(schedule::Column::LastRunAt, Expr::value(now))
        .filter(schedule::Column::Id.is_in(due.iter().map(|d| d.0)))
        .filter(schedule::Column::NextRunAt.lte(now))
        .exec_with_returning(&txn)
        .await?;
    txn.commit().await?;
    Ok(claimed)
}

/// The context key of a run that a schedule chains another run after.
pub const THEN: &str = "then";

/// One tick: claims what is due and queues its runs. Returns how many
/// runs were queued. A schedule whose profile or tenant is gone, or whose
/// tenant lost its connection, queues what it can and logs why.
pub async fn tick(db: &DatabaseConnection, now: DateTime<Utc>) -> Result<usize, DbErr> {
    let claimed = claim_due(db, now).await?;
    if claimed.is_empty() {
        return Ok(0);
    }
    let profiles: std::collections::HashMap<i64, baseline_profile::Model> =
        baseline_profile::Entity::find()
            .filter(
                baseline_profile::Column::Id.is_in(claimed.iter().map(|s| s.baseline_profile_id)),
            )
            .all(db)
            .await?
            .into_iter()
            .map(|p| (p.id, p))
            .collect();
    let tenants: std::collections::HashMap<i64, tenant::Model> = tenant::Entity::find()
        .filter(tenant::Column::Id.is_in(claimed.iter().map(|s| s.tenant_id)))
        .all(db)
        .await?
        .into_iter()
        .map(|t| (t.id, t))
        .collect();
    let mut queued = 0;
    let mut started: Vec<(i64, i64)> = Vec::new();
    // One run per schedule: the queue inserts runs one at a time (its
    // identity dedupe decides each), and a tick claims at most 100.
    for s in &claimed {
        let (Some(profile), Some(tenant)) = (
            profiles.get(&s.baseline_profile_id),
            tenants.get(&s.tenant_id),
        ) else {
            continue;
        };
        let mut compare_run = compare::new_run(profile, tenant, None);
        let sync = if s.collect {
            match crate::collector::runs::inventory_sync_run(
                db,
                tenant,
                &collected_types(profile),
                None,
            )
            .await
            {
                Ok(sync) => Some(sync),
                Err(err) => {
                    tracing::warn!(schedule_id = s.id, tenant_id = tenant.id, error = %err,
                        "the schedule collects, but no collection can be queued: comparing what was recorded");
                    None
                }
            }
        } else {
            None
        };
        let run = match sync {
            Some(mut sync) => {
                sync.context[THEN] = json!({"schedule_id": s.id,
                    "baseline_compare": compare_run.context["baseline_compare"]});
                sync
            }
            None => {
                compare_run.context["schedule_id"] = json!(s.id);
                compare_run
            }
        };
        let (run, fresh) = queue::enqueue(db, run).await?;
        queued += usize::from(fresh);
        started.push((s.id, run.id));
        tracing::info!(schedule_id = s.id, run_id = run.id, fresh, "schedule fired");
    }
    record_last_runs(db, &started).await?;
    Ok(queued)
}

/// What a scheduled collection lists: the profile's types that Graph
/// serves, and the groups and filters that name assignments when the
/// profile compares them.
fn collected_types(profile: &baseline_profile::Model) -> Vec<String> {
    use crate::evidence::registry;
    let mut types = crate::drift::profiles::Scope::of(profile).effective_types();
    if profile.compare_assignments {
        types.extend([
            registry::ASSIGNMENT_GROUP_TYPE.to_owned(),
            registry::ASSIGNMENT_FILTER_TYPE.to_owned(),
        ]);
    }
    types.retain(|t| registry::graph_endpoint(t).is_some());
    types.sort();
    types.dedup();
    types
}

/// Sets each schedule's `last_run_id`, in one statement.
async fn record_last_runs<C: ConnectionTrait>(db: &C, started: &[(i64, i64)]) -> Result<(), DbErr> {
    if started.is_empty() {
        return Ok(());
    }
    let mut last = CaseStatement::new();
    for (schedule_id, run_id) in started {
        last = last.case(schedule::Column::Id.eq(*schedule_id), Expr::value(*run_id));
    }
    schedule::Entity::update_many()
        .col_expr(schedule::Column::LastRunId, last.into())
        .filter(schedule::Column::Id.is_in(started.iter().map(|s| s.0)))
        .exec(db)
        .await?;
    Ok(())
}

/// After a run completes: queues the compare a scheduled collection
/// chains, unless the collection failed outright (a partial one leaves
/// the types it could not list uncovered, as always). Returns the run
/// queued, if any.
pub async fn after_run(
    db: &DatabaseConnection,
    run: &entity::operation_run::Model,
) -> Result<Option<i64>, DbErr> {
    let Some(then) = run.context.get(THEN).filter(|t| !t.is_null()) else {
        return Ok(None);
    };
    if run.outcome == entity::enums::RunOutcome::Failed {
        tracing::warn!(
            run_id = run.id,
            "the scheduled collection failed; its compare is not queued"
        );
        return Ok(None);
    }
    let Some(request) = then.get("baseline_compare") else {
        return Ok(None);
    };
    let (Some(profile_id), Some(tenant_id)) = (
        request["baseline_profile_id"].as_i64(),
        request["tenant_id"].as_i64(),
    ) else {
        return Ok(None);
    };
    let Some(profile) = baseline_profile::Entity::find_by_id(profile_id)
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let Some(tenant) = tenant::Entity::find_by_id(tenant_id).one(db).await? else {
        return Ok(None);
    };
    let mut next = compare::new_run(&profile, &tenant, run.initiator_user_id);
    let schedule_id = then.get("schedule_id").and_then(Value::as_i64);
    next.context["schedule_id"] = json!(schedule_id);
    next.context["after_run_id"] = json!(run.id);
    let (queued, _) = queue::enqueue(db, next).await?;
    if let Some(schedule_id) = schedule_id {
        record_last_runs(db, &[(schedule_id, queued.id)]).await?;
    }
    Ok(Some(queued.id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_days_hours_and_weeks_are_seconds() {
        assert_eq!(parse_every("PT6H").expect("6h"), 6 * 3600);
        assert_eq!(
            parse_every(" P1DT30M ").expect("a day and a half hour"),
            86_400 + 1800
        );
        assert_eq!(parse_every("P2W").expect("2 weeks"), 14 * 86_400);
        assert_eq!(parse_every("PT5M").expect("the minimum"), 300);
    }

    #[test]
    fn short_vague_and_malformed_durations_are_refused() {
        for (text, says) in [
            ("PT4M59S", "minimum"),
            ("P1M", "months"),
            ("P1Y", "months"),
            ("6h", "ISO 8601"),
            ("", "ISO 8601"),
            ("P400D", "year"),
        ] {
            let err = parse_every(text).expect_err(text).to_string();
            assert!(err.contains(says), "{text}: {err}");
        }
    }
}
