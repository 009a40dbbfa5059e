//! The delivery side of notifications: every `serve` process runs one loop
//! that claims due outbox rows and sends them. A claim moves the row's
//! `next_attempt_at` past the send's timeout in one guarded `UPDATE ...
//! RETURNING`, so two processes never send the same row at once. A 2xx
//! delivers it; a timeout, a connection error, a 429 or a 5xx is tried
//! again with exponential back-off up to `max_attempts`; any other answer
//! fails it at once. EMAIL channels go through the server's SMTP relay,
//! where a 4xx reply or a connection error is tried again and a 5xx reply
//! fails. A dead target only ever holds its own rows: compares write the
//! outbox and never wait for it.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::{notification, notification_channel};
use hmac::{Hmac, Mac};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::channels::{self, ChannelKind};
use super::notify::{DELIVERED, FAILED, PENDING};
use crate::collector::secrets::SecretKey;

/// How the delivery loop runs.
#[derive(Clone, Debug)]
pub struct DeliverySettings {
    /// How often the loop looks for due notifications.
    pub interval: Duration,
    /// One send's limit.
    pub timeout: Duration,
    /// Attempts before a notification is failed.
    pub max_attempts: i32,
    /// The wait after the first failed attempt; doubled after each.
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    /// The SMTP relay of EMAIL channels; none: EMAIL channels are refused.
    pub smtp: Option<SmtpSettings>,
}

/// Where EMAIL notifications are sent from.
#[derive(Clone)]
pub struct SmtpSettings {
    /// lettre's connection URL: `smtp://host:25`, `smtp://user:pass@host:587?tls=required`
    /// (STARTTLS) or `smtps://user:pass@host` (TLS); it may hold a password.
    pub url: String,
    /// The From address, `drift-engine <drift@example.com>` or bare.
    pub from: String,
}

impl std::fmt::Debug for SmtpSettings {
    // The URL may carry the relay's password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("url", &"<redacted>")
            .field("from", &self.from)
            .finish()
    }
}

impl Default for DeliverySettings {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(2),
            timeout: Duration::from_secs(10),
            max_attempts: 5,
            backoff_base: Duration::from_secs(30),
            backoff_cap: Duration::from_secs(3600),
            smtp: None,
        }
    }
}

/// Rows one pass claims.
const BATCH: u64 = 20;
/// The signature header of WEBHOOK deliveries.
pub const SIGNATURE_HEADER: &str = "X-Drift-Signature";

/// `t=<unix>,v1=<hex HMAC-SHA256 of "t.body">`, in the manner of Stripe's
/// webhook signatures.
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    // HMAC takes a key of any length.
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret).expect("any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

/// One line that says what changed.
fn summary(payload: &Value) -> String {
    let c = &payload["counts"];
    let tenant = payload["tenant"]["name"].as_str().unwrap_or("a tenant");
    let profile = payload["baseline_profile"]["name"]
        .as_str()
        .unwrap_or("its baseline");
    if payload["event"] == "test" {
        return format!("drift-engine test notification for {tenant}");
    }
    format!(
        "Drift on {tenant} against {profile}: {} new, {} resolved, {} open",
        c["new"], c["resolved"], c["open"]
    )
}

fn finding_lines(payload: &Value) -> Vec<String> {
    payload["findings"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|f| {
                    let paths = f["paths"].as_array().map_or(0, Vec::len);
                    format!(
                        "{} {} {} ({}){}",
                        f["severity"].as_str().unwrap_or_default().to_uppercase(),
                        f["finding_type"].as_str().unwrap_or_default(),
                        f["display_name"].as_str().unwrap_or_default(),
                        f["policy_type"].as_str().unwrap_or_default(),
                        if paths > 0 {
                            format!(", {paths} setting changes")
                        } else {
                            String::new()
                        }
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The body a channel of `kind` receives for `payload`.
pub fn body_for(kind: ChannelKind, payload: &Value) -> Value {
    match kind {
        ChannelKind::Webhook | ChannelKind::Email => payload.clone(),
        // Slack's incoming-webhook message: `text` is the fallback, blocks
        // are what the client shows.
        ChannelKind::Slack => {
            let lines = finding_lines(payload);
            let mut blocks = vec![
                json!({"type": "section", "text": {"type": "mrkdwn", "text": format!("*{}*", summary(payload))}}),
            ];
            if !lines.is_empty() {
                blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": lines.iter().map(|l| format!("• {l}")).collect::<Vec<_>>().join("\n")}}));
            }
            json!({"text": summary(payload), "blocks": blocks})
        }
        // Teams (Workflows) incoming webhooks take a message whose
        // attachment is an Adaptive Card.
        ChannelKind::Teams => {
            let mut body = vec![
                json!({"type": "TextBlock", "text": summary(payload), "weight": "Bolder", "wrap": true}),
            ];
            body.extend(finding_lines(payload).into_iter().map(
                |l| json!({"type": "TextBlock", "text": l, "wrap": true, "spacing": "Small"}),
            ));
            json!({"type": "message", "attachments": [{
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": null,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "body": body,
                },
            }]})
        }
    }
}

/// How one send went.
#[derive(Debug, PartialEq, Eq)]
pub enum Sent {
    Delivered(u16),
    /// Worth another attempt: timeouts, connection errors, 429, 5xx.
    Retry(String),
    /// Another attempt would fare no better.
    Refused(String),
}

type Mailer = lettre::AsyncSmtpTransport<lettre::Tokio1Executor>;

/// What deliveries are sent with: one HTTP client, and the SMTP relay when
/// there is one. Built once per process.
#[derive(Clone)]
pub struct Senders {
    http: reqwest::Client,
    mail: Option<(Mailer, lettre::message::Mailbox)>,
}

impl Senders {
    /// Refuses a relay URL or From address that does not parse, so a
    /// server does not start with EMAIL channels it cannot serve.
    pub fn new(settings: &DeliverySettings) -> anyhow::Result<Self> {
        let mail = match &settings.smtp {
            None => None,
            Some(smtp) => {
                let transport = Mailer::from_url(&smtp.url)
                    .map_err(|e| anyhow::anyhow!("--smtp-url is not a usable SMTP URL ({e})"))?
                    .timeout(Some(settings.timeout))
                    .build();
                let from = smtp.from.parse().map_err(|e| {
                    anyhow::anyhow!("--smtp-from {:?} is not an address ({e})", smtp.from)
                })?;
                Some((transport, from))
            }
        };
        Ok(Self {
            http: client(settings),
            mail,
        })
    }

    /// Senders without an SMTP relay.
    pub fn http_only() -> Self {
        Self {
            http: client(&DeliverySettings::default()),
            mail: None,
        }
    }

    /// Whether EMAIL channels can be sent.
    pub fn has_smtp(&self) -> bool {
        self.mail.is_some()
    }
}

/// The subject and plain-text body of an EMAIL notification.
pub fn email_for(payload: &Value) -> (String, String) {
    let subject = summary(payload);
    let mut text = format!("{subject}\n");
    let lines = finding_lines(payload);
    let findings = payload["findings"].as_array().cloned().unwrap_or_default();
    if !lines.is_empty() {
        text.push('\n');
        for (line, finding) in lines.iter().zip(&findings) {
            text.push_str(&format!("- {line}\n"));
            for path in finding["paths"].as_array().into_iter().flatten() {
                text.push_str(&format!("    {}\n", path.as_str().unwrap_or_default()));
            }
        }
    }
    if let Some(run) = payload["run"]["id"].as_i64() {
        text.push_str(&format!("\nCompare run {run}.\n"));
    }
    text.push_str("\nSent by drift-engine; setting values are never included.\n");
    (subject, text)
}

async fn send_email(senders: &Senders, target: &str, payload: &Value) -> Sent {
    let Some((mailer, from)) = &senders.mail else {
        return Sent::Refused("this server has no SMTP relay (--smtp-url)".into());
    };
    let recipients = match channels::recipients(target) {
        Ok(r) => r,
        Err(e) => return Sent::Refused(e.to_string()),
    };
    let (subject, text) = email_for(payload);
    let mut message = lettre::Message::builder()
        .from(from.clone())
        .subject(subject)
        .header(lettre::message::header::ContentType::TEXT_PLAIN);
    for to in recipients {
        message = message.to(lettre::message::Mailbox::new(None, to));
    }
    let message = match message.body(text) {
        Ok(m) => m,
        Err(e) => return Sent::Refused(format!("the message could not be built ({e})")),
    };
    use lettre::AsyncTransport;
    match mailer.send(message).await {
        Ok(response) => Sent::Delivered(u16::from(response.code())),
        // Replies are reported by code only: their text may name a recipient.
        Err(e) => match e.status() {
            Some(code) if e.is_permanent() => Sent::Refused(format!("SMTP {code}")),
            Some(code) => Sent::Retry(format!("SMTP {code}")),
            None if e.is_timeout() => Sent::Retry("SMTP timeout".into()),
            None => Sent::Retry(format!("SMTP: {e}")),
        },
    }
}

/// Sends `payload` to `channel` once.
pub async fn send(
    senders: &Senders,
    key: &SecretKey,
    channel: &notification_channel::Model,
    delivery_id: Option<i64>,
    payload: &Value,
) -> Sent {
    let Some((target, secret)) = channels::open(key, channel) else {
        return Sent::Refused(
            "the channel's target could not be opened with this server's key".into(),
        );
    };
    let kind = ChannelKind::parse(&channel.kind).unwrap_or(ChannelKind::Webhook);
    if kind == ChannelKind::Email {
        return send_email(senders, &target, payload).await;
    }
    let body = serde_json::to_vec(&body_for(kind, payload)).unwrap_or_default();
    let mut request = senders
        .http
        .post(&target)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(
            "X-Drift-Event",
            payload["event"].as_str().unwrap_or("drift.changed"),
        );
    if let Some(id) = delivery_id {
        request = request.header("X-Drift-Delivery", id.to_string());
    }
    if let (ChannelKind::Webhook, Some(secret)) = (kind, &secret) {
        request = request.header(
            SIGNATURE_HEADER,
            signature(secret, Utc::now().timestamp(), &body),
        );
    }
    match request.body(body).send().await {
        Ok(response) => {
            let status = response.status();
            if status.is_success() {
                Sent::Delivered(status.as_u16())
            } else if status.as_u16() == 429 || status.is_server_error() {
                Sent::Retry(format!("HTTP {}", status.as_u16()))
            } else {
                Sent::Refused(format!("HTTP {}", status.as_u16()))
            }
        }
        // Without the URL: an incoming-webhook URL is a credential.
        Err(err) => Sent::Retry(err.without_url().to_string()),
    }
}

/// The HTTP client deliveries use: no redirects (a target that moved is an
/// error to fix, and a redirect must not carry the payload elsewhere).
pub fn client(settings: &DeliverySettings) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(settings.timeout)
        .user_agent(concat!("drift-engine/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}

fn backoff(settings: &DeliverySettings, attempts: i32) -> chrono::Duration {
    let factor = 2u32.saturating_pow(attempts.saturating_sub(1).max(0) as u32);
    let wait = settings
        .backoff_base
        .saturating_mul(factor)
        .min(settings.backoff_cap);
    chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::hours(1))
}

/// Claims due notifications: their `next_attempt_at` moves past a send's
/// timeout, so no other process takes them meanwhile.
async fn claim(
    db: &DatabaseConnection,
    settings: &DeliverySettings,
    now: DateTime<Utc>,
) -> Result<Vec<notification::Model>, DbErr> {
    let due: Vec<i64> = notification::Entity::find()
        .select_only()
        .column(notification::Column::Id)
        .filter(notification::Column::Status.eq(PENDING))
        .filter(notification::Column::NextAttemptAt.lte(now))
        .order_by_asc(notification::Column::NextAttemptAt)
        .limit(BATCH)
        .into_tuple()
        .all(db)
        .await?;
    if due.is_empty() {
        return Ok(Vec::new());
    }
    let lease =
        chrono::Duration::from_std(settings.timeout * 3).unwrap_or(chrono::Duration::minutes(1));
    notification::Entity::update_many()
        .col_expr(
            notification::Column::NextAttemptAt,
            Expr::value(now + lease),
        )
        .filter(notification::Column::Id.is_in(due))
        .filter(notification::Column::Status.eq(PENDING))
        .filter(notification::Column::NextAttemptAt.lte(now))
        .exec_with_returning(db)
        .await
}

/// One pass: sends what is due. Returns how many were delivered.
pub async fn deliver_due(
    db: &DatabaseConnection,
    senders: &Senders,
    key: &SecretKey,
    settings: &DeliverySettings,
) -> Result<usize, DbErr> {
    let claimed = claim(db, settings, Utc::now()).await?;
    if claimed.is_empty() {
        return Ok(0);
    }
    let channels: std::collections::HashMap<i64, notification_channel::Model> =
        notification_channel::Entity::find()
            .filter(notification_channel::Column::Id.is_in(claimed.iter().map(|n| n.channel_id)))
            .all(db)
            .await?
            .into_iter()
            .map(|c| (c.id, c))
            .collect();
    let mut delivered = 0;
    // Each row records its own outcome as it is sent.
    for n in claimed {
        let attempts = n.attempts + 1;
        let sent = match channels.get(&n.channel_id) {
            Some(channel) => send(senders, key, channel, Some(n.id), &n.payload).await,
            None => Sent::Refused("the channel is gone".into()),
        };
        let now = Utc::now();
        let mut update = notification::Entity::update_many()
            .col_expr(notification::Column::Attempts, Expr::value(attempts))
            .filter(notification::Column::Id.eq(n.id));
        update = match &sent {
            Sent::Delivered(_) => {
                delivered += 1;
                update
                    .col_expr(notification::Column::Status, Expr::value(DELIVERED))
                    .col_expr(notification::Column::DeliveredAt, Expr::value(now))
                    .col_expr(
                        notification::Column::LastError,
                        Expr::value(Option::<String>::None),
                    )
            }
            Sent::Retry(error) if attempts < settings.max_attempts => update
                .col_expr(notification::Column::LastError, Expr::value(error.clone()))
                .col_expr(
                    notification::Column::NextAttemptAt,
                    Expr::value(now + backoff(settings, attempts)),
                ),
            Sent::Retry(error) | Sent::Refused(error) => update
                .col_expr(notification::Column::Status, Expr::value(FAILED))
                .col_expr(notification::Column::LastError, Expr::value(error.clone())),
        };
        update.exec(db).await?;
        tracing::info!(notification_id = n.id, channel_id = n.channel_id, attempts, outcome = ?sent, "notification sent");
    }
    Ok(delivered)
}

/// The delivery loop of a `serve` process; it does nothing without a key
/// (no channel can have been created).
pub fn spawn(
    db: DatabaseConnection,
    settings: DeliverySettings,
    senders: Senders,
    key: Option<SecretKey>,
    mut shutdown: watch::Receiver<bool>,
) -> Option<JoinHandle<()>> {
    let key = Arc::new(key?);
    Some(tokio::spawn(async move {
        loop {
            if *shutdown.borrow() {
                break;
            }
            if let Err(err) = deliver_due(&db, &senders, &key, &settings).await {
                tracing::warn!(error = %err, "could not deliver notifications");
            }
            tokio::select! {
                _ = tokio::time::sleep(settings.interval) => {}
                _ = shutdown.changed() => {}
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload() -> Value {
        json!({"event": "drift.changed", "tenant": {"name": "Contoso"},
               "baseline_profile": {"name": "Gold"},
               "counts": {"new": 1, "resolved": 0, "open": 2},
               "findings": [{"severity": "high", "finding_type": "different_version",
                             "display_name": "Passwords", "policy_type": "deviceConfigurations",
                             "paths": ["passwordMinimumLength"]}]})
    }

    #[test]
    fn back_off_doubles_up_to_its_cap() {
        let settings = DeliverySettings {
            backoff_base: Duration::from_secs(30),
            backoff_cap: Duration::from_secs(100),
            ..DeliverySettings::default()
        };
        let secs: Vec<i64> = (1..=4)
            .map(|a| backoff(&settings, a).num_seconds())
            .collect();
        assert_eq!(secs, [30, 60, 100, 100]);
    }

    #[test]
    fn signatures_are_stripe_style_and_depend_on_time_and_body() {
        let s = signature(b"secret", 1_700_000_000, b"{}");
        let (t, v1) = s.split_once(",v1=").expect("two parts");
        assert_eq!(t, "t=1700000000");
        assert_eq!(v1.len(), 64);
        assert_ne!(s, signature(b"secret", 1_700_000_001, b"{}"));
        assert_ne!(s, signature(b"secret", 1_700_000_000, b"{ }"));
        assert_ne!(s, signature(b"other", 1_700_000_000, b"{}"));
    }

    #[test]
    fn slack_and_teams_get_their_message_formats() {
        let slack = body_for(ChannelKind::Slack, &payload());
        assert_eq!(
            slack["text"],
            "Drift on Contoso against Gold: 1 new, 0 resolved, 2 open"
        );
        assert!(
            slack["blocks"][1]["text"]["text"]
                .as_str()
                .expect("finding lines")
                .contains(
                    "HIGH different_version Passwords (deviceConfigurations), 1 setting changes"
                )
        );
        let teams = body_for(ChannelKind::Teams, &payload());
        assert_eq!(teams["type"], "message");
        let card = &teams["attachments"][0];
        assert_eq!(
            card["contentType"],
            "application/vnd.microsoft.card.adaptive"
        );
        assert_eq!(card["content"]["type"], "AdaptiveCard");
        assert_eq!(body_for(ChannelKind::Webhook, &payload()), payload());
    }
}
