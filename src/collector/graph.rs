//! The Microsoft Graph client of one collector run: authenticated GETs of
//! list pages and JSON `$batch`es, with throttling honored, a per-tenant
//! concurrency limit shared by every run of this process, and the run's
//! request budget. It reads; it never writes to Graph.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use entity::tenant_connection;
use rand::Rng;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use super::connections::Credential;
use super::secrets::SecretKey;
use super::token::{TokenCache, TokenError};
use crate::evidence::registry::GRAPH_VERSION;

/// At most this many requests in one `$batch` (Graph's limit).
pub const MAX_BATCH_REQUESTS: usize = 20;

#[derive(Clone, Debug)]
pub struct GraphSettings {
    /// `--graph-url`: `https://graph.microsoft.com`, or a national cloud's.
    pub graph_url: String,
    /// `--login-url`: `https://login.microsoftonline.com`, or a national cloud's.
    pub login_url: String,
    /// Requests in flight per tenant, across the runs of this process.
    pub concurrency: usize,
    /// Graph requests one run may make (`--graph-request-budget`); `None`
    /// is unlimited. Token requests are not counted.
    pub request_budget: Option<u64>,
    /// Retries of one request that was throttled or failed on the server.
    pub max_retries: u32,
    /// The first back-off, doubled per retry, with jitter, up to `backoff_cap`.
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    /// The longest `Retry-After` honored as it is; a longer one waits this.
    pub max_retry_after: Duration,
    pub request_timeout: Duration,
    /// A page with more items than this fails its type: no Graph
    /// collection pages that large, so it is not a listing to trust.
    pub max_page_items: usize,
    /// The largest answer read; a larger one fails its request.
    pub max_response_bytes: usize,
}

impl Default for GraphSettings {
    fn default() -> Self {
        Self {
            graph_url: "https://graph.microsoft.com".into(),
            login_url: "https://login.microsoftonline.com".into(),
            concurrency: 4,
            request_budget: None,
            max_retries: 5,
            backoff_base: Duration::from_secs(2),
            backoff_cap: Duration::from_secs(60),
            max_retry_after: Duration::from_secs(300),
            request_timeout: Duration::from_secs(100),
            max_page_items: 10_000,
            max_response_bytes: 64 * 1024 * 1024,
        }
    }
}

/// What every collector run of this process shares: the HTTP client, the
/// server's key, tokens and per-tenant concurrency limits.
pub struct Collector {
    pub settings: GraphSettings,
    key: Option<SecretKey>,
    http: reqwest::Client,
    tokens: TokenCache,
    limits: std::sync::Mutex<HashMap<i64, Arc<Semaphore>>>,
}

impl std::fmt::Debug for Collector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collector")
            .field("graph_url", &self.settings.graph_url)
            .field("login_url", &self.settings.login_url)
            .finish_non_exhaustive()
    }
}

/// Why a request gave no usable answer. Messages are safe to store: no
/// token, no credential, no payload.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    #[error("the run's Graph request budget is used up")]
    BudgetExhausted,
    #[error("no token: {0}")]
    Token(#[from] TokenError),
    #[error("Graph refused the token twice (401): {0}")]
    Unauthorized(String),
    #[error("Graph answered {status}: {message}")]
    Status { status: u16, message: String },
    #[error("Graph throttled the request {0} times in a row; giving up")]
    Throttled(u32),
    #[error("{0}")]
    BadAnswer(String),
    #[error("Graph could not be reached: {0}")]
    Transport(String),
}

/// What a run's requests amounted to, for its context.
#[derive(Debug, Default)]
pub struct Stats {
    pub requests: AtomicU64,
    pub retries: AtomicU64,
    pub throttled: AtomicU64,
    pub token_requests: AtomicU64,
}

impl Stats {
    pub fn to_json(&self) -> Value {
        json!({
            "requests": self.requests.load(Ordering::Relaxed),
            "retries": self.retries.load(Ordering::Relaxed),
            "throttled": self.throttled.load(Ordering::Relaxed),
            "token_requests": self.token_requests.load(Ordering::Relaxed),
        })
    }

    /// Adds counts a previous attempt of the run recorded.
    pub fn resume_from(&self, recorded: &Value) {
        let get = |k: &str| recorded.get(k).and_then(Value::as_u64).unwrap_or(0);
        self.requests.store(get("requests"), Ordering::Relaxed);
        self.retries.store(get("retries"), Ordering::Relaxed);
        self.throttled.store(get("throttled"), Ordering::Relaxed);
        self.token_requests
            .store(get("token_requests"), Ordering::Relaxed);
    }
}

/// One page of a listing.
#[derive(Debug)]
pub struct Page {
    pub items: Vec<Value>,
    pub next_link: Option<String>,
}

/// One answer inside a `$batch`.
#[derive(Debug)]
pub struct SubResponse {
    pub id: String,
    pub status: u16,
    pub retry_after: Option<Duration>,
    pub body: Value,
}

impl SubResponse {
    pub fn is_throttled(&self) -> bool {
        matches!(self.status, 429 | 503 | 504)
    }
}

impl Collector {
    pub fn new(settings: GraphSettings, key: Option<SecretKey>) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(settings.request_timeout)
            .connect_timeout(Duration::from_secs(15))
            .user_agent(concat!("drift-engine/", env!("CARGO_PKG_VERSION")))
            // A redirect could carry the token elsewhere; Graph does not
            // redirect API calls.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("the HTTP client could not be built: {e}"))?;
        for (flag, value) in [
            ("--graph-url", &settings.graph_url),
            ("--login-url", &settings.login_url),
        ] {
            let parsed = url::Url::parse(value)
                .map_err(|e| format!("{flag} `{value}` is not a URL: {e}"))?;
            if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
                return Err(format!(
                    "{flag} `{value}` must be an http(s) URL with a host"
                ));
            }
        }
        Ok(Self {
            settings,
            key,
            http,
            tokens: TokenCache::default(),
            limits: std::sync::Mutex::new(HashMap::new()),
        })
    }

    pub fn key(&self) -> Option<&SecretKey> {
        self.key.as_ref()
    }

    fn limit_of(&self, tenant_id: i64) -> Arc<Semaphore> {
        let mut limits = self
            .limits
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        limits
            .entry(tenant_id)
            .or_insert_with(|| Arc::new(Semaphore::new(self.settings.concurrency.max(1))))
            .clone()
    }

    /// A session for one run against the tenant's connection.
    pub fn session(
        self: &Arc<Self>,
        connection: tenant_connection::Model,
        credential: Credential,
        spent: u64,
    ) -> Session {
        let budget = self.settings.request_budget;
        Session {
            collector: self.clone(),
            limit: self.limit_of(connection.tenant_id),
            connection,
            credential,
            budget_left: budget.map(|b| AtomicU64::new(b.saturating_sub(spent))),
            stats: Stats::default(),
            last_token: std::sync::Mutex::new(None),
        }
    }
}

/// The requests of one run.
pub struct Session {
    collector: Arc<Collector>,
    limit: Arc<Semaphore>,
    connection: tenant_connection::Model,
    credential: Credential,
    budget_left: Option<AtomicU64>,
    pub stats: Stats,
    /// When this session last got a new token, or why it could not.
    pub last_token: std::sync::Mutex<Option<Result<chrono::DateTime<chrono::Utc>, String>>>,
}

enum Body<'a> {
    None,
    Json(&'a Value),
}

impl Session {
    fn version_root(&self) -> String {
        format!(
            "{}/{}",
            self.collector.settings.graph_url.trim_end_matches('/'),
            GRAPH_VERSION
        )
    }

    /// The URL of a collection's first page.
    pub fn collection_url(&self, collection: &str, query: &str) -> String {
        let mut url = format!("{}{}", self.version_root(), collection);
        if !query.is_empty() {
            url.push('?');
            url.push_str(query);
        }
        url
    }

    /// Takes one request from the budget.
    fn spend(&self) -> Result<(), GraphError> {
        let Some(left) = &self.budget_left else {
            return Ok(());
        };
        left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .map(|_| ())
            .map_err(|_| GraphError::BudgetExhausted)
    }

    /// Refuses a `nextLink` that leaves the Graph host we were given: the
    /// token would go with it.
    pub fn check_same_origin(&self, link: &str) -> Result<(), GraphError> {
        let ours = url::Url::parse(&self.collector.settings.graph_url)
            .map_err(|e| GraphError::BadAnswer(e.to_string()))?;
        let theirs = url::Url::parse(link).map_err(|_| {
            GraphError::BadAnswer("the page's @odata.nextLink is not a URL; refused".into())
        })?;
        if theirs.scheme() != ours.scheme()
            || theirs.host_str() != ours.host_str()
            || theirs.port_or_known_default() != ours.port_or_known_default()
        {
            return Err(GraphError::BadAnswer(format!(
                "the page's @odata.nextLink points to another host ({}); refused, so the token is not sent there",
                theirs.host_str().unwrap_or("none")
            )));
        }
        Ok(())
    }

    async fn token(&self) -> Result<String, GraphError> {
        // The identity platform refused this run's credential once: every
        // other request would be refused the same way.
        if let Some(Some(Err(message))) = self.last_token.lock().ok().map(|t| t.clone()) {
            return Err(TokenError(message).into());
        }
        let c = &self.collector;
        match c
            .tokens
            .get(
                &c.http,
                &c.settings.login_url,
                &c.settings.graph_url,
                &self.connection,
                &self.credential,
            )
            .await
        {
            Ok((token, fetched)) => {
                if fetched {
                    self.stats.token_requests.fetch_add(1, Ordering::Relaxed);
                    *self
                        .last_token
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) =
                        Some(Ok(chrono::Utc::now()));
                }
                Ok(token.value)
            }
            Err(err) => {
                self.stats.token_requests.fetch_add(1, Ordering::Relaxed);
                *self
                    .last_token
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Err(err.0.clone()));
                Err(err.into())
            }
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let s = &self.collector.settings;
        let exp = s
            .backoff_base
            .saturating_mul(2u32.saturating_pow(attempt.min(16)))
            .min(s.backoff_cap);
        // Full jitter in [exp/2, exp]: retries of many runs spread out.
        let half = exp / 2;
        let jitter = rand::rng().random_range(0..=half.as_millis().max(1) as u64);
        half + Duration::from_millis(jitter)
    }

    fn retry_after(&self, headers: &reqwest::header::HeaderMap) -> Option<Duration> {
        let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
        parse_retry_after(value).map(|d| d.min(self.collector.settings.max_retry_after))
    }

    /// Sends one request, retrying throttling (429, 503, 504), other server
    /// errors and transport failures, and refreshing the token once on 401.
    async fn send(&self, url: &str, body: Body<'_>) -> Result<Value, GraphError> {
        let settings = &self.collector.settings;
        let mut refreshed = false;
        let mut attempt: u32 = 0;
        loop {
            self.spend()?;
            let token = self.token().await?;
            let answer = {
                let _permit =
                    self.limit.acquire().await.map_err(|_| {
                        GraphError::Transport("the collector is shutting down".into())
                    })?;
                self.stats.requests.fetch_add(1, Ordering::Relaxed);
                let request = match body {
                    Body::None => self.collector.http.get(url),
                    Body::Json(json) => self.collector.http.post(url).json(json),
                };
                match request
                    .bearer_auth(&token)
                    .header(reqwest::header::ACCEPT, "application/json")
                    .send()
                    .await
                {
                    Ok(response) => {
                        let status = response.status();
                        let retry_after = self.retry_after(response.headers());
                        let is_json = response
                            .headers()
                            .get(reqwest::header::CONTENT_TYPE)
                            .and_then(|v| v.to_str().ok())
                            .is_some_and(|v| v.to_ascii_lowercase().contains("json"));
                        let read = read_limited(response, settings.max_response_bytes).await;
                        Ok((status, retry_after, is_json, read))
                    }
                    Err(err) => Err(err),
                }
            };
            let retryable = |attempt: u32| attempt < settings.max_retries;
            match answer {
                Err(err) => {
                    if retryable(attempt) {
                        self.stats.retries.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(self.backoff(attempt)).await;
                        attempt += 1;
                        continue;
                    }
                    return Err(GraphError::Transport(err.without_url().to_string()));
                }
                Ok((status, retry_after, is_json, read)) => {
                    if status == StatusCode::UNAUTHORIZED {
                        let message = read
                            .ok()
                            .and_then(|b| graph_error_message(&b))
                            .unwrap_or_else(|| "unauthorized".into());
                        if refreshed {
                            return Err(GraphError::Unauthorized(message));
                        }
                        refreshed = true;
                        self.collector
                            .tokens
                            .invalidate(self.connection.tenant_id)
                            .await;
                        self.stats.retries.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    if matches!(status.as_u16(), 429 | 503 | 504) {
                        self.stats.throttled.fetch_add(1, Ordering::Relaxed);
                        if !retryable(attempt) {
                            return Err(GraphError::Throttled(attempt + 1));
                        }
                        self.stats.retries.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(retry_after.unwrap_or_else(|| self.backoff(attempt)))
                            .await;
                        attempt += 1;
                        continue;
                    }
                    if status.is_server_error() {
                        if retryable(attempt) {
                            self.stats.retries.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(self.backoff(attempt)).await;
                            attempt += 1;
                            continue;
                        }
                        let message = match read {
                            Ok(b) => graph_error_message(&b).unwrap_or_else(|| {
                                format!("{} instead of a Graph error", describe_non_json(&b))
                            }),
                            Err(e) => e.to_string(),
                        };
                        return Err(GraphError::Status {
                            status: status.as_u16(),
                            message: format!("{message} (after {} retries)", attempt),
                        });
                    }
                    let bytes = read?;
                    if !status.is_success() {
                        return Err(GraphError::Status {
                            status: status.as_u16(),
                            message: graph_error_message(&bytes)
                                .unwrap_or_else(|| describe_non_json(&bytes)),
                        });
                    }
                    if !is_json {
                        return Err(GraphError::BadAnswer(format!(
                            "Graph answered {status} with {}, not JSON",
                            describe_non_json(&bytes)
                        )));
                    }
                    return serde_json::from_slice(&bytes).map_err(|e| {
                        GraphError::BadAnswer(format!(
                            "Graph's answer is not complete JSON ({e}); it may have been cut off"
                        ))
                    });
                }
            }
        }
    }

    /// One page of a listing at `url` (the first page, or a `nextLink`).
    pub async fn page(&self, url: &str) -> Result<Page, GraphError> {
        self.check_same_origin(url)?;
        let answer = self.send(url, Body::None).await?;
        let Some(items) = answer.get("value").and_then(Value::as_array) else {
            return Err(GraphError::BadAnswer(
                "the page has no `value` array; it is not a collection".into(),
            ));
        };
        if items.len() > self.collector.settings.max_page_items {
            return Err(GraphError::BadAnswer(format!(
                "a page holds {} items, more than the {} a Graph page can hold; the listing is not trusted",
                items.len(),
                self.collector.settings.max_page_items
            )));
        }
        let next_link = match answer.get("@odata.nextLink") {
            None | Some(Value::Null) => None,
            Some(Value::String(link)) => {
                // OData allows a relative link; it is relative to the page.
                let link = url::Url::parse(url)
                    .and_then(|base| base.join(link))
                    .map(String::from)
                    .map_err(|_| {
                        GraphError::BadAnswer(
                            "the page's @odata.nextLink is not a URL; refused".into(),
                        )
                    })?;
                self.check_same_origin(&link)?;
                if link == url {
                    return Err(GraphError::BadAnswer(
                        "the page's @odata.nextLink is the page itself; the listing would never end"
                            .into(),
                    ));
                }
                Some(link)
            }
            Some(_) => {
                return Err(GraphError::BadAnswer(
                    "the page's @odata.nextLink is not a string".into(),
                ));
            }
        };
        let Value::Object(mut map) = answer else {
            return Err(GraphError::BadAnswer(
                "the page is not a JSON object".into(),
            ));
        };
        let Some(Value::Array(items)) = map.remove("value") else {
            return Err(GraphError::BadAnswer(
                "the page has no `value` array".into(),
            ));
        };
        Ok(Page { items, next_link })
    }

    /// A JSON `$batch` of GETs, `(id, url relative to the version root)`,
    /// at most [`MAX_BATCH_REQUESTS`]. The batch itself is retried like any
    /// request; its sub-responses are returned as they are, throttled ones
    /// included, for the caller to send again.
    pub async fn batch(
        &self,
        requests: &[(String, String)],
    ) -> Result<Vec<SubResponse>, GraphError> {
        debug_assert!(requests.len() <= MAX_BATCH_REQUESTS);
        let body = json!({
            "requests": requests
                .iter()
                .map(|(id, url)| json!({"id": id, "method": "GET", "url": url}))
                .collect::<Vec<_>>(),
        });
        let url = format!("{}/$batch", self.version_root());
        let answer = self.send(&url, Body::Json(&body)).await?;
        let Some(responses) = answer.get("responses").and_then(Value::as_array) else {
            return Err(GraphError::BadAnswer(
                "the $batch answer has no `responses` array".into(),
            ));
        };
        let mut out = Vec::with_capacity(responses.len());
        for r in responses {
            let Some(id) = r.get("id").and_then(Value::as_str) else {
                return Err(GraphError::BadAnswer(
                    "a $batch sub-response has no id".into(),
                ));
            };
            let status = r
                .get("status")
                .and_then(Value::as_u64)
                .and_then(|s| u16::try_from(s).ok())
                .ok_or_else(|| {
                    GraphError::BadAnswer(format!("$batch sub-response {id} has no status"))
                })?;
            let retry_after = r
                .get("headers")
                .and_then(Value::as_object)
                .and_then(|h| {
                    h.iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case("retry-after"))
                        .and_then(|(_, v)| {
                            v.as_str()
                                .map(str::to_owned)
                                .or_else(|| v.as_u64().map(|n| n.to_string()))
                        })
                })
                .and_then(|v| parse_retry_after(&v))
                .map(|d| d.min(self.collector.settings.max_retry_after));
            if matches!(status, 429 | 503 | 504) {
                self.stats.throttled.fetch_add(1, Ordering::Relaxed);
            }
            out.push(SubResponse {
                id: id.to_owned(),
                status,
                retry_after,
                body: r.get("body").cloned().unwrap_or(Value::Null),
            });
        }
        Ok(out)
    }

    /// The back-off before resending throttled sub-responses: the longest
    /// `Retry-After` among them, or the exponential back-off.
    pub fn sub_backoff(&self, throttled: &[&SubResponse], round: u32) -> Duration {
        throttled
            .iter()
            .filter_map(|s| s.retry_after)
            .max()
            .unwrap_or_else(|| self.backoff(round))
    }

    /// Requests of one run in flight at once (the tenant's limit also holds).
    pub fn concurrency(&self) -> usize {
        self.collector.settings.concurrency.max(1)
    }

    /// Counts sub-requests sent again after throttling as retries.
    pub fn count_retries(&self, n: u64) {
        self.stats.retries.fetch_add(n, Ordering::Relaxed);
    }

    pub fn max_retries(&self) -> u32 {
        self.collector.settings.max_retries
    }
}

/// `Retry-After` in seconds (what Graph sends); an HTTP date is read too.
fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    (at.with_timezone(&chrono::Utc) - chrono::Utc::now())
        .to_std()
        .ok()
}

async fn read_limited(mut response: reqwest::Response, max: usize) -> Result<Vec<u8>, GraphError> {
    let mut bytes = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if bytes.len() + chunk.len() > max {
                    return Err(GraphError::BadAnswer(format!(
                        "Graph's answer is larger than {max} bytes; refused"
                    )));
                }
                bytes.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(bytes),
            Err(err) => {
                return Err(GraphError::BadAnswer(format!(
                    "Graph's answer was cut off: {}",
                    err.without_url()
                )));
            }
        }
    }
}

/// Graph's error `{"error": {"code", "message"}}`, as `code: message`.
fn graph_error_message(bytes: &[u8]) -> Option<String> {
    let json: Value = serde_json::from_slice(bytes).ok()?;
    let error = json.get("error")?;
    let code = error.get("code").and_then(Value::as_str).unwrap_or("error");
    let message = error.get("message").and_then(Value::as_str).unwrap_or("");
    Some(format!(
        "{code}: {}",
        message.chars().take(300).collect::<String>()
    ))
}

/// What a non-JSON answer looks like, without repeating it.
fn describe_non_json(bytes: &[u8]) -> String {
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(256)]).to_ascii_lowercase();
    if head.contains("<html") || head.contains("<!doctype") {
        "an HTML page".to_owned()
    } else if bytes.is_empty() {
        "an empty body".to_owned()
    } else {
        format!("{} bytes that are not JSON", bytes.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after(" 0 "), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon"), None);
        let later = (chrono::Utc::now() + chrono::Duration::seconds(30)).to_rfc2822();
        let parsed = parse_retry_after(&later).unwrap_or_default();
        assert!(parsed <= Duration::from_secs(30) && parsed >= Duration::from_secs(25));
    }

    #[test]
    fn non_json_answers_are_described_not_repeated() {
        assert_eq!(
            describe_non_json(b"<!DOCTYPE html><html>x</html>"),
            "an HTML page"
        );
        assert_eq!(describe_non_json(b""), "an empty body");
        assert_eq!(describe_non_json(b"abc"), "3 bytes that are not JSON");
    }
}
