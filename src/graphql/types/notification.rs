use async_graphql::{Context, Enum, ID, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{notification, notification_channel};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::{FindingType, OperationRun, Severity};
use crate::delivery::channels::{self, filters_of};
use crate::error::Error;
use crate::graphql::ContextExt;
use crate::graphql::connection::{self, IdConnection, PageArgs};
use crate::graphql::ids::{self, NodeKind};
use crate::graphql::loaders::{Loaders, OperationRunId};

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelKind {
    /// Any HTTP(S) endpoint: the versioned JSON payload, signed with the
    /// channel's secret in `X-Drift-Signature: t=<unix>,v1=<hex HMAC-SHA256
    /// of "t.body">`.
    Webhook,
    /// A Slack incoming webhook (Slack's message format).
    Slack,
    /// A Microsoft Teams incoming webhook (an Adaptive Card message).
    Teams,
    /// Email to 1 to 20 addresses through the server's SMTP relay
    /// (`--smtp-url`); plain text, the same summary and findings.
    Email,
}

impl From<ChannelKind> for channels::ChannelKind {
    fn from(k: ChannelKind) -> Self {
        match k {
            ChannelKind::Webhook => channels::ChannelKind::Webhook,
            ChannelKind::Slack => channels::ChannelKind::Slack,
            ChannelKind::Teams => channels::ChannelKind::Teams,
            ChannelKind::Email => channels::ChannelKind::Email,
        }
    }
}

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    Failed,
}

/// Where a workspace's drift notifications go. The target URL and the
/// secret are write-only: only the target's host is shown.
pub struct NotificationChannel(pub notification_channel::Model);

/// One notification and how its delivery went.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct NotificationDelivery {
    pub status: DeliveryStatus,
    pub attempts: i32,
    /// Why the last attempt failed (an HTTP status or a network error).
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The notification as sent to WEBHOOK channels.
    pub payload: async_graphql::Json<serde_json::Value>,
    #[graphql(skip)]
    pub run_id: i64,
}

#[async_graphql::ComplexObject]
impl NotificationDelivery {
    /// The compare that wrote it.
    async fn run(&self, ctx: &Context<'_>) -> Result<Option<OperationRun>> {
        let run = ctx
            .data_unchecked::<Loaders>()
            .load_one(OperationRunId(self.run_id))
            .await
            .map_err(Error::from)?;
        Ok(run.map(OperationRun))
    }
}

impl NotificationDelivery {
    fn of(n: notification::Model) -> Self {
        let status = match n.status.as_str() {
            crate::delivery::notify::DELIVERED => DeliveryStatus::Delivered,
            crate::delivery::notify::FAILED => DeliveryStatus::Failed,
            _ => DeliveryStatus::Pending,
        };
        NotificationDelivery {
            status,
            attempts: n.attempts,
            last_error: n.last_error,
            created_at: n.created_at,
            delivered_at: n.delivered_at,
            next_attempt_at: (status == DeliveryStatus::Pending).then_some(n.next_attempt_at),
            payload: async_graphql::Json(n.payload),
            run_id: n.operation_run_id,
        }
    }
}

#[Object]
impl NotificationChannel {
    pub async fn id(&self) -> ID {
        ids::encode(NodeKind::NotificationChannel, self.0.id)
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn kind(&self) -> ChannelKind {
        match channels::ChannelKind::parse(&self.0.kind) {
            Some(channels::ChannelKind::Slack) => ChannelKind::Slack,
            Some(channels::ChannelKind::Teams) => ChannelKind::Teams,
            Some(channels::ChannelKind::Email) => ChannelKind::Email,
            _ => ChannelKind::Webhook,
        }
    }

    /// The target's host (and port), or for EMAIL the recipients' domains;
    /// the target itself is write-only.
    async fn target_host(&self) -> &str {
        &self.0.target_host
    }

    /// Whether a signing secret is set (it is write-only).
    async fn has_secret(&self) -> bool {
        self.0.secret_sealed.is_some()
    }

    async fn min_severity(&self) -> Option<Severity> {
        filters_of(&self.0).min_severity.map(Into::into)
    }

    /// Empty: every finding type.
    async fn finding_types(&self) -> Vec<FindingType> {
        filters_of(&self.0)
            .finding_types
            .into_iter()
            .map(Into::into)
            .collect()
    }

    /// Empty: every tenant of the workspace.
    async fn tenant_ids(&self) -> Vec<ID> {
        filters_of(&self.0)
            .tenant_ids
            .into_iter()
            .map(|t| ids::encode(NodeKind::Tenant, t))
            .collect()
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// Its notifications, oldest first.
    #[graphql(complexity = "connection::complexity(first, last, child_complexity)")]
    async fn deliveries(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<IdConnection<NotificationDelivery>> {
        let select =
            notification::Entity::find().filter(notification::Column::ChannelId.eq(self.0.id));
        Ok(connection::paginate(
            ctx.db(),
            select,
            connection::ById::<notification::Entity> {
                column: notification::Column::Id,
                id: |n| n.id,
            },
            NotificationDelivery::of,
            PageArgs::new(first, after, last, before),
        )
        .await?)
    }
}
