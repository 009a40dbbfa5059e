use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};

use crate::auth::Capability;
use crate::delivery::channels::{self, ChannelChanges, Filters, NewChannel};
use crate::delivery::deliver::{self, Sent};
use crate::graphql::ids::{self, NodeKind};
use crate::graphql::query::load_channel;
use crate::graphql::types::{ChannelKind, FindingType, NotificationChannel, Severity};
use crate::graphql::{ContextExt, SealingKey};

#[derive(InputObject)]
pub struct CreateNotificationChannelInput {
    pub workspace_id: ID,
    pub name: String,
    pub kind: ChannelKind,
    /// The URL deliveries are POSTed to (an incoming-webhook URL is a
    /// credential), or for EMAIL 1 to 20 addresses separated by commas;
    /// write-only.
    pub target: String,
    /// WEBHOOK: the signing secret, 16 to 512 characters (required); SLACK
    /// and TEAMS: optional; EMAIL: none. Write-only.
    pub secret: Option<String>,
    /// Leave out findings below this severity.
    pub min_severity: Option<Severity>,
    /// Only these finding types; empty: all.
    #[graphql(default)]
    pub finding_types: Vec<FindingType>,
    /// Only these tenants; empty: every tenant of the workspace.
    #[graphql(default)]
    pub tenant_ids: Vec<ID>,
}

#[derive(InputObject)]
pub struct NotificationFiltersInput {
    pub min_severity: Option<Severity>,
    #[graphql(default)]
    pub finding_types: Vec<FindingType>,
    #[graphql(default)]
    pub tenant_ids: Vec<ID>,
}

#[derive(InputObject)]
pub struct UpdateNotificationChannelInput {
    pub id: ID,
    pub name: Option<String>,
    pub target: Option<String>,
    pub secret: Option<String>,
    /// Replaces all three filters at once.
    pub filters: Option<NotificationFiltersInput>,
}

#[derive(InputObject)]
pub struct NotificationChannelIdInput {
    pub id: ID,
}

#[derive(SimpleObject)]
pub struct DeleteNotificationChannelPayload {
    pub deleted_notification_channel_id: ID,
}

/// How a test notification went.
#[derive(SimpleObject)]
pub struct NotificationTestResult {
    pub delivered: bool,
    /// The target's HTTP status (for EMAIL, the SMTP reply code), when it
    /// answered.
    pub http_status: Option<i32>,
    pub error: Option<String>,
}

#[derive(Default)]
pub struct NotificationMutation;

/// The channel `id` names, for someone who may manage it.
async fn managed_channel(
    ctx: &Context<'_>,
    id: &ID,
) -> Result<entity::notification_channel::Model> {
    let id = ids::decode_as(id, NodeKind::NotificationChannel)?;
    Ok(load_channel(ctx, id, Capability::WorkspaceBaselinesManage).await?)
}

fn filters(
    min_severity: Option<Severity>,
    finding_types: Vec<FindingType>,
    tenant_ids: &[ID],
) -> Result<Filters> {
    Ok(Filters {
        min_severity: min_severity.map(Into::into),
        finding_types: finding_types.into_iter().map(Into::into).collect(),
        tenant_ids: tenant_ids
            .iter()
            .map(|t| ids::decode_as(t, NodeKind::Tenant))
            .collect::<Result<_, _>>()?,
    })
}

#[Object]
impl NotificationMutation {
    /// Creates a channel of the workspace (needs
    /// `workspace_baselines.manage`; audited by name, kind and host). After
    /// each completed compare whose active findings, as the channel's
    /// filters see them, changed, it gets one notification: a new drift, a
    /// changed drift and drift that went away each send one; the same
    /// drift seen again sends none. Payloads name findings and setting
    /// paths, never values.
    async fn create_notification_channel(
        &self,
        ctx: &Context<'_>,
        input: CreateNotificationChannelInput,
    ) -> Result<NotificationChannel> {
        let viewer = ctx.viewer()?;
        let workspace_id = ids::decode_as(&input.workspace_id, NodeKind::Workspace)?;
        viewer.require_workspace(workspace_id, Capability::WorkspaceBaselinesManage)?;
        let env = channels::ChannelEnv {
            key: ctx.data_unchecked::<SealingKey>().0.as_ref(),
            smtp: ctx.data_unchecked::<deliver::Senders>().has_smtp(),
        };
        let row = channels::create(
            ctx.db(),
            env,
            viewer.user.id,
            workspace_id,
            NewChannel {
                name: input.name,
                kind: input.kind.into(),
                target: input.target,
                secret: input.secret,
                filters: filters(input.min_severity, input.finding_types, &input.tenant_ids)?,
            },
        )
        .await?;
        Ok(NotificationChannel(row))
    }

    /// Changes a channel (needs `workspace_baselines.manage`; audited by
    /// the names of the fields changed). Omitted fields stay.
    async fn update_notification_channel(
        &self,
        ctx: &Context<'_>,
        input: UpdateNotificationChannelInput,
    ) -> Result<NotificationChannel> {
        let viewer = ctx.viewer()?;
        let channel = managed_channel(ctx, &input.id).await?;
        let key = ctx.data_unchecked::<SealingKey>().0.as_ref();
        let filters = input
            .filters
            .map(|f| filters(f.min_severity, f.finding_types, &f.tenant_ids))
            .transpose()?;
        let row = channels::update(
            ctx.db(),
            key,
            viewer.user.id,
            channel,
            ChannelChanges {
                name: input.name,
                target: input.target,
                secret: input.secret,
                filters,
            },
        )
        .await?;
        Ok(NotificationChannel(row))
    }

    /// Deletes a channel and its deliveries (needs
    /// `workspace_baselines.manage`; audited).
    async fn delete_notification_channel(
        &self,
        ctx: &Context<'_>,
        input: NotificationChannelIdInput,
    ) -> Result<DeleteNotificationChannelPayload> {
        let viewer = ctx.viewer()?;
        let channel = managed_channel(ctx, &input.id).await?;
        channels::delete(ctx.db(), viewer.user.id, &channel).await?;
        Ok(DeleteNotificationChannelPayload {
            deleted_notification_channel_id: input.id,
        })
    }

    /// Sends a test notification to the channel now, once, and says how it
    /// went (needs `workspace_baselines.manage`). Nothing is stored.
    async fn test_notification_channel(
        &self,
        ctx: &Context<'_>,
        input: NotificationChannelIdInput,
    ) -> Result<NotificationTestResult> {
        let channel = managed_channel(ctx, &input.id).await?;
        let Some(key) = ctx.data_unchecked::<SealingKey>().0.as_ref() else {
            return Ok(NotificationTestResult {
                delivered: false,
                http_status: None,
                error: Some("this server has no secret key to open the channel with".into()),
            });
        };
        let payload = serde_json::json!({
            "version": crate::delivery::notify::PAYLOAD_VERSION,
            "event": "test",
            "workspace": {"id": channel.workspace_id},
            "channel": {"id": channel.id, "name": channel.name},
            "counts": {"new": 0, "resolved": 0, "open": 0},
            "findings": [],
        });
        let sent = deliver::send(
            ctx.data_unchecked::<deliver::Senders>(),
            key,
            &channel,
            None,
            &payload,
        )
        .await;
        Ok(match sent {
            Sent::Delivered(status) => NotificationTestResult {
                delivered: true,
                http_status: Some(i32::from(status)),
                error: None,
            },
            Sent::Retry(e) | Sent::Refused(e) => NotificationTestResult {
                delivered: false,
                http_status: e.strip_prefix("HTTP ").and_then(|s| s.parse().ok()),
                error: Some(e),
            },
        })
    }
}
