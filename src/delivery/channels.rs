//! Notification channels: a workspace's webhooks, Slack / Teams incoming
//! webhooks and email recipients, with what they are for (a minimum
//! severity, finding types, tenants). The target (a URL, or addresses) and
//! the webhook signing secret are sealed with the server's key, bound to
//! the workspace, and never shown or logged: only the target's host (for
//! email, the recipients' domains) is.

use chrono::Utc;
use entity::enums::{FindingType, Severity};
use entity::notification_channel;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set,
    TransactionTrait,
};
use serde_json::json;

use crate::audit::{self, Action};
use crate::collector::secrets::SecretKey;
use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelKind {
    /// Any HTTPS endpoint: the versioned JSON payload, signed.
    Webhook,
    /// A Slack incoming webhook: Slack's message format.
    Slack,
    /// A Microsoft Teams incoming webhook (Workflows): an Adaptive Card.
    Teams,
    /// Email through the server's SMTP relay (`--smtp-url`).
    Email,
}

impl ChannelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Webhook => "webhook",
            ChannelKind::Slack => "slack",
            ChannelKind::Teams => "teams",
            ChannelKind::Email => "email",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "webhook" => Some(ChannelKind::Webhook),
            "slack" => Some(ChannelKind::Slack),
            "teams" => Some(ChannelKind::Teams),
            "email" => Some(ChannelKind::Email),
            _ => None,
        }
    }
}

/// What a channel is for.
#[derive(Clone, Debug, Default)]
pub struct Filters {
    pub min_severity: Option<Severity>,
    /// Empty: every finding type.
    pub finding_types: Vec<FindingType>,
    /// Empty: every tenant of the workspace.
    pub tenant_ids: Vec<i64>,
}

/// A channel's filters as stored.
pub fn filters_of(channel: &notification_channel::Model) -> Filters {
    Filters {
        min_severity: channel
            .min_severity
            .as_deref()
            .and_then(|s| serde_json::from_value(json!(s)).ok()),
        finding_types: serde_json::from_value(channel.finding_types.clone()).unwrap_or_default(),
        tenant_ids: serde_json::from_value(channel.tenant_ids.clone()).unwrap_or_default(),
    }
}

pub struct NewChannel {
    pub name: String,
    pub kind: ChannelKind,
    pub target: String,
    pub secret: Option<String>,
    pub filters: Filters,
}

/// Changes to a channel; `None` leaves a field as it is.
#[derive(Default)]
pub struct ChannelChanges {
    pub name: Option<String>,
    pub target: Option<String>,
    pub secret: Option<String>,
    pub filters: Option<Filters>,
}

fn seal_context(workspace_id: i64) -> String {
    format!("notification_channel:{workspace_id}")
}

fn key_or_refuse(key: Option<&SecretKey>) -> Result<&SecretKey> {
    key.ok_or_else(|| {
        Error::bad_input(
            "this server has no secret key to seal channel targets and secrets with: set DRIFT_SECRET_KEY (32 bytes, base64) or --secret-key-file, then try again; nothing was stored",
        )
    })
}

fn valid_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 || name.contains('\0') {
        return Err(Error::bad_input(
            "name must be 1 to 200 characters, without NUL",
        ));
    }
    Ok(name.to_owned())
}

/// Recipients one EMAIL channel may have.
const MAX_RECIPIENTS: usize = 20;

/// An EMAIL target's addresses: comma-separated, 1 to 20.
pub fn recipients(target: &str) -> Result<Vec<lettre::Address>> {
    let addresses = target
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(|a| {
            a.parse::<lettre::Address>().map_err(|e| {
                Error::bad_input(format!("target: {a:?} is not an email address ({e})"))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    if addresses.is_empty() || addresses.len() > MAX_RECIPIENTS {
        return Err(Error::bad_input(format!(
            "an EMAIL target is 1 to {MAX_RECIPIENTS} addresses, separated by commas"
        )));
    }
    Ok(addresses)
}

/// What may be shown of a target: a URL's host, or the recipients'
/// domains, after checking the target fits the kind.
fn target_host(kind: ChannelKind, target: &str) -> Result<String> {
    if kind == ChannelKind::Email {
        let mut domains: Vec<String> = recipients(target)?
            .iter()
            .map(|a| a.domain().to_ascii_lowercase())
            .collect();
        domains.sort();
        domains.dedup();
        return Ok(domains.join(", "));
    }
    url_host(target)
}

/// The host of an absolute http(s) URL.
fn url_host(target: &str) -> Result<String> {
    let url = reqwest::Url::parse(target.trim())
        .map_err(|e| Error::bad_input(format!("target is not a URL ({e})")))?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(Error::bad_input(format!(
            "target must be an http or https URL, not {}",
            url.scheme()
        )));
    }
    url.host_str()
        .map(|h| match url.port() {
            Some(p) => format!("{h}:{p}"),
            None => h.to_owned(),
        })
        .ok_or_else(|| Error::bad_input("target has no host"))
}

fn valid_secret(kind: ChannelKind, secret: Option<&str>) -> Result<Option<String>> {
    let secret = secret.map(str::trim).filter(|s| !s.is_empty());
    match (kind, secret) {
        (ChannelKind::Webhook, None) => Err(Error::bad_input(
            "a WEBHOOK channel needs a secret: deliveries are signed with it (X-Drift-Signature)",
        )),
        (ChannelKind::Email, Some(_)) => Err(Error::bad_input(
            "an EMAIL channel has no secret: leave it out",
        )),
        (_, Some(s)) if s.len() < 16 || s.len() > 512 => {
            Err(Error::bad_input("secret must be 16 to 512 characters"))
        }
        (_, s) => Ok(s.map(str::to_owned)),
    }
}

fn filters_json(f: &Filters) -> (Option<String>, serde_json::Value, serde_json::Value) {
    (
        f.min_severity.map(|s| s.as_str()),
        json!(f.finding_types),
        json!(f.tenant_ids),
    )
}

/// What a server can seal and send with.
#[derive(Clone, Copy)]
pub struct ChannelEnv<'a> {
    pub key: Option<&'a SecretKey>,
    /// Whether `--smtp-url` is set: without it an EMAIL channel could
    /// never deliver, so none is created.
    pub smtp: bool,
}

/// Creates a channel in `workspace_id`; audited without target or secret.
pub async fn create(
    db: &DatabaseConnection,
    env: ChannelEnv<'_>,
    actor_user_id: i64,
    workspace_id: i64,
    new: NewChannel,
) -> Result<notification_channel::Model> {
    let key = key_or_refuse(env.key)?;
    if new.kind == ChannelKind::Email && !env.smtp {
        return Err(Error::bad_input(
            "this server has no SMTP relay for EMAIL channels: start it with --smtp-url (DRIFT_SMTP_URL); nothing was stored",
        ));
    }
    let name = valid_name(&new.name)?;
    let host = target_host(new.kind, &new.target)?;
    let secret = valid_secret(new.kind, new.secret.as_deref())?;
    let context = seal_context(workspace_id);
    let (min_severity, finding_types, tenant_ids) = filters_json(&new.filters);
    let now = Utc::now();
    let txn = db.begin().await?;
    let row = notification_channel::ActiveModel {
        workspace_id: Set(workspace_id),
        name: Set(name.clone()),
        kind: Set(new.kind.as_str().to_owned()),
        target_sealed: Set(key.seal(&context, new.target.trim().as_bytes())),
        target_host: Set(host.clone()),
        secret_sealed: Set(secret.map(|s| key.seal(&context, s.as_bytes()))),
        min_severity: Set(min_severity),
        finding_types: Set(finding_types),
        tenant_ids: Set(tenant_ids),
        created_by_user_id: Set(Some(actor_user_id)),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        audit::Entry {
            action: Action::NotificationChannelCreate,
            actor_user_id: Some(actor_user_id),
            workspace_id: Some(workspace_id),
            tenant_id: None,
            target: Some(("notification_channel", row.id)),
            metadata: json!({"name": name, "kind": new.kind.as_str(), "target_host": host}),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(row)
}

/// Updates a channel; audited with the names of the fields changed.
pub async fn update(
    db: &DatabaseConnection,
    key: Option<&SecretKey>,
    actor_user_id: i64,
    channel: notification_channel::Model,
    changes: ChannelChanges,
) -> Result<notification_channel::Model> {
    let kind = ChannelKind::parse(&channel.kind).unwrap_or(ChannelKind::Webhook);
    let context = seal_context(channel.workspace_id);
    let mut active: notification_channel::ActiveModel = channel.clone().into();
    let mut changed = Vec::new();
    if let Some(name) = changes.name {
        active.name = Set(valid_name(&name)?);
        changed.push("name");
    }
    if let Some(target) = changes.target {
        let key = key_or_refuse(key)?;
        active.target_host = Set(target_host(kind, &target)?);
        active.target_sealed = Set(key.seal(&context, target.trim().as_bytes()));
        changed.push("target");
    }
    if let Some(secret) = changes.secret {
        let key = key_or_refuse(key)?;
        let secret = valid_secret(kind, Some(&secret))?;
        active.secret_sealed = Set(secret.map(|s| key.seal(&context, s.as_bytes())));
        changed.push("secret");
    }
    if let Some(filters) = changes.filters {
        let (min_severity, finding_types, tenant_ids) = filters_json(&filters);
        active.min_severity = Set(min_severity);
        active.finding_types = Set(finding_types);
        active.tenant_ids = Set(tenant_ids);
        changed.push("filters");
    }
    active.updated_at = Set(Utc::now());
    let txn = db.begin().await?;
    let updated = active.update(&txn).await?;
    audit::record(
        &txn,
        audit::Entry {
            action: Action::NotificationChannelUpdate,
            actor_user_id: Some(actor_user_id),
            workspace_id: Some(channel.workspace_id),
            tenant_id: None,
            target: Some(("notification_channel", channel.id)),
            metadata: json!({"changed": changed}),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(updated)
}

/// Deletes a channel and its notifications; audited.
pub async fn delete(
    db: &DatabaseConnection,
    actor_user_id: i64,
    channel: &notification_channel::Model,
) -> Result<()> {
    let txn = db.begin().await?;
    entity::notification::Entity::delete_many()
        .filter(entity::notification::Column::ChannelId.eq(channel.id))
        .exec(&txn)
        .await?;
    notification_channel::Entity::delete_by_id(channel.id)
        .exec(&txn)
        .await?;
    audit::record(
        &txn,
        audit::Entry {
            action: Action::NotificationChannelDelete,
            actor_user_id: Some(actor_user_id),
            workspace_id: Some(channel.workspace_id),
            tenant_id: None,
            target: Some(("notification_channel", channel.id)),
            metadata: json!({"name": channel.name}),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// The channel's target URL and secret, opened; `None` when the key is
/// missing or another one sealed them.
pub fn open(
    key: &SecretKey,
    channel: &notification_channel::Model,
) -> Option<(String, Option<Vec<u8>>)> {
    let context = seal_context(channel.workspace_id);
    let target = String::from_utf8(key.open(&context, &channel.target_sealed)?).ok()?;
    let secret = match &channel.secret_sealed {
        Some(sealed) => Some(key.open(&context, sealed)?),
        None => None,
    };
    Some((target, secret))
}
