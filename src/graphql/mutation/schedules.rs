use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use crate::auth::{self, Capability};
use crate::delivery::schedules::{self, NewSchedule};
use crate::graphql::ContextExt;
use crate::graphql::ids::{self, NodeKind};
use crate::graphql::query::load_profile;
use crate::graphql::types::Schedule;

#[derive(InputObject)]
pub struct SetScheduleInput {
    pub baseline_profile_id: ID,
    pub tenant_id: ID,
    /// An ISO 8601 duration of at least 5 minutes, in weeks, days, hours,
    /// minutes or seconds: `PT6H`, `P1D`, `P1W`.
    pub every: String,
    /// Run an inventory sync from Microsoft Graph first (the tenant needs a
    /// connection); the compare follows unless the sync failed outright.
    #[graphql(default)]
    pub collect: bool,
    /// The first run; one period from now when omitted.
    pub start_at: Option<DateTime<Utc>>,
}

#[derive(InputObject)]
pub struct ClearScheduleInput {
    pub baseline_profile_id: ID,
    pub tenant_id: ID,
}

#[derive(SimpleObject)]
pub struct ClearSchedulePayload {
    /// Whether there was a schedule to clear.
    pub cleared: bool,
}

#[derive(Default)]
pub struct ScheduleMutation;

/// The profile (with `workspace_baselines.manage`) and the tenant the
/// caller may see.
async fn profile_and_tenant(
    ctx: &Context<'_>,
    profile_id: &ID,
    tenant_id: &ID,
) -> Result<(entity::baseline_profile::Model, entity::tenant::Model)> {
    let viewer = ctx.viewer()?;
    let profile_id = ids::decode_as(profile_id, NodeKind::BaselineProfile)?;
    let tenant_id = ids::decode_as(tenant_id, NodeKind::Tenant)?;
    let profile = load_profile(ctx, profile_id, Capability::WorkspaceBaselinesManage).await?;
    let tenant = auth::authorized_tenant(ctx.db(), viewer, tenant_id, None).await?;
    Ok((profile, tenant))
}

#[Object]
impl ScheduleMutation {
    /// Compares an assigned tenant against the profile every `every`, from
    /// `startAt` on (needs `workspace_baselines.manage`; audited). Setting
    /// it again replaces it. Each `serve` process looks for due schedules
    /// (`--schedule-interval-secs`); a due schedule fires exactly once
    /// across replicas, and one that missed periods while no server ran
    /// fires once, not once per period.
    async fn set_schedule(&self, ctx: &Context<'_>, input: SetScheduleInput) -> Result<Schedule> {
        let viewer = ctx.viewer()?;
        let (profile, tenant) =
            profile_and_tenant(ctx, &input.baseline_profile_id, &input.tenant_id).await?;
        let row = schedules::set(
            ctx.db(),
            viewer.user.id,
            &profile,
            &tenant,
            NewSchedule {
                every: input.every,
                collect: input.collect,
                start_at: input.start_at,
            },
        )
        .await?;
        Ok(Schedule(row, tenant))
    }

    /// Removes the schedule of a profile on a tenant (needs
    /// `workspace_baselines.manage`; audited). Runs it queued stay queued.
    async fn clear_schedule(
        &self,
        ctx: &Context<'_>,
        input: ClearScheduleInput,
    ) -> Result<ClearSchedulePayload> {
        let viewer = ctx.viewer()?;
        let (profile, tenant) =
            profile_and_tenant(ctx, &input.baseline_profile_id, &input.tenant_id).await?;
        let cleared = schedules::clear(ctx.db(), viewer.user.id, &profile, &tenant).await?;
        Ok(ClearSchedulePayload { cleared })
    }
}
