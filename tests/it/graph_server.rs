//! A Microsoft Graph-compatible test server (axum on 127.0.0.1:0): the
//! identity platform's token endpoint (client secret or certificate client
//! assertion, verified with the certificate's public key), collections with
//! `@odata.nextLink` paging, GET by id with `$expand`, and JSON `$batch`,
//! as Graph documents them. It can inject what real tenants do: 429 with
//! `Retry-After`, throttled `$batch` sub-responses, 500 in the middle of a
//! listing, expired tokens, slow answers, and broken answers.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};
use sha1::Digest as _;

pub const DIRECTORY: &str = "contoso.onmicrosoft.com";
pub const CLIENT_ID: &str = "2f8b0c7e-1a4d-4c1b-9f7e-0d5a6b3c2e10";
pub const CLIENT_SECRET: &str = "graph-test-secret~42";

/// Graph's collection for each policy type, from the Graph beta reference
/// (written here independently of the server's registry), and the
/// navigation properties a listing leaves out.
pub const COLLECTIONS: &[(&str, &str, &[&str])] = &[
    (
        "configurationPolicies",
        "/deviceManagement/configurationPolicies",
        &["settings", "assignments"],
    ),
    (
        "deviceCompliancePolicies",
        "/deviceManagement/deviceCompliancePolicies",
        &["scheduledActionsForRule", "assignments"],
    ),
    (
        "deviceConfigurations",
        "/deviceManagement/deviceConfigurations",
        &["assignments"],
    ),
    (
        "deviceManagementIntents",
        "/deviceManagement/intents",
        &["settings", "assignments"],
    ),
    (
        "groupPolicyConfigurations",
        "/deviceManagement/groupPolicyConfigurations",
        &["definitionValues", "assignments"],
    ),
    (
        "managedAppPolicies",
        "/deviceAppManagement/managedAppPolicies",
        &["apps", "assignments"],
    ),
    // What assignments point at (no corpus files: tests add their own).
    ("groups", "/groups", &[]),
    (
        "assignmentFilters",
        "/deviceManagement/assignmentFilters",
        &[],
    ),
];

pub fn collection_of(policy_type: &str) -> &'static str {
    COLLECTIONS
        .iter()
        .find(|c| c.0 == policy_type)
        .map(|c| c.1)
        .unwrap_or_else(|| panic!("no collection for {policy_type}"))
}

#[derive(Clone)]
pub enum Accepts {
    Secret(String),
    /// The certificate's DER bytes: assertions must be signed by its key.
    Certificate(Vec<u8>),
}

/// Faults to inject; each counter is used up as it fires.
#[derive(Default)]
pub struct Faults {
    /// The next N Graph requests answer 429 with `Retry-After`.
    pub throttle_next: u32,
    pub retry_after_secs: u64,
    /// The next N `$batch` sub-responses answer 429 (the batch is 200).
    pub throttle_sub_responses: u32,
    /// Every request for this page (collection, 0-based page) answers 500.
    pub fail_page: Option<(String, usize)>,
    /// Tokens issued so far stop working (as if they expired).
    pub expire_tokens: bool,
    /// Every Graph answer waits this long first.
    pub delay: Duration,
    /// Broken answers for one collection's listing.
    pub html_for: Option<String>,
    pub truncated_for: Option<String>,
    pub foreign_next_link_for: Option<String>,
    pub huge_page_for: Option<String>,
    /// An item without `id` in this collection's first page.
    pub item_without_id_for: Option<String>,
    /// `nextLink`s relative to the page, as OData allows.
    pub relative_next_link_for: Option<String>,
    /// A `nextLink` that names the page itself.
    pub looping_next_link_for: Option<String>,
}

pub struct ServerState {
    pub base: String,
    pub accepts: Accepts,
    pub page_size: usize,
    /// Items by collection path, in order.
    pub data: std::sync::Mutex<BTreeMap<String, Vec<Value>>>,
    pub faults: std::sync::Mutex<Faults>,
    tokens: std::sync::Mutex<HashMap<String, Instant>>,
    pub token_lifetime_secs: u64,
    /// Graph requests (GETs and `$batch` POSTs), and what each asked for.
    pub requests: AtomicU64,
    pub token_requests: AtomicU64,
    pub log: std::sync::Mutex<Vec<String>>,
    /// Assertions that verified (certificate credentials).
    pub verified_assertions: AtomicU64,
    /// Graph requests being answered now, and the most there ever were.
    in_flight: AtomicU64,
    pub max_in_flight: AtomicU64,
}

/// Counts a request as in flight until it is answered.
struct InFlight<'a>(&'a ServerState);

impl<'a> InFlight<'a> {
    fn new(state: &'a ServerState) -> Self {
        let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        state.max_in_flight.fetch_max(now, Ordering::SeqCst);
        Self(state)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

pub struct GraphServer {
    pub url: String,
    pub state: Arc<ServerState>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for GraphServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl GraphServer {
    /// Serves `data` (items by policy type) on 127.0.0.1:0.
    pub async fn start(
        data: &BTreeMap<String, Vec<Value>>,
        accepts: Accepts,
        page_size: usize,
    ) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the Graph test server");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let by_collection = data
            .iter()
            .map(|(t, items)| (collection_of(t).to_owned(), items.clone()))
            .collect();
        let state = Arc::new(ServerState {
            base: url.clone(),
            accepts,
            page_size,
            data: std::sync::Mutex::new(by_collection),
            faults: std::sync::Mutex::new(Faults {
                retry_after_secs: 1,
                ..Faults::default()
            }),
            tokens: std::sync::Mutex::new(HashMap::new()),
            token_lifetime_secs: 3600,
            requests: AtomicU64::new(0),
            token_requests: AtomicU64::new(0),
            log: std::sync::Mutex::new(Vec::new()),
            verified_assertions: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            max_in_flight: AtomicU64::new(0),
        });
        let app = Router::new()
            .route("/{directory}/oauth2/v2.0/token", post(token))
            .route("/beta/$batch", post(batch))
            .route("/beta/{*path}", get(read))
            .with_state(state.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { url, state, task }
    }

    pub fn faults(&self) -> std::sync::MutexGuard<'_, Faults> {
        self.state.faults.lock().expect("faults")
    }

    pub fn requests(&self) -> u64 {
        self.state.requests.load(Ordering::SeqCst)
    }

    pub fn log(&self) -> Vec<String> {
        self.state.log.lock().expect("log").clone()
    }

    /// Replaces one item of a policy type (by id), as a change in the tenant.
    pub fn edit(&self, policy_type: &str, id: &str, edit: impl FnOnce(&mut Value)) {
        let mut data = self.state.data.lock().expect("data");
        let items = data
            .get_mut(collection_of(policy_type))
            .expect("collection");
        let item = items.iter_mut().find(|i| i["id"] == id).expect("the item");
        edit(item);
    }

    pub fn remove(&self, policy_type: &str, id: &str) {
        let mut data = self.state.data.lock().expect("data");
        data.get_mut(collection_of(policy_type))
            .expect("collection")
            .retain(|i| i["id"] != id);
    }
}

fn graph_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        json!({"error": {"code": code, "message": message, "innerError": {"request-id": "test"}}})
            .to_string(),
    )
        .into_response()
}

fn identity_error(description: &str) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::CONTENT_TYPE, "application/json")],
        json!({"error": "invalid_client", "error_description": description, "error_codes": [7000215]}).to_string(),
    )
        .into_response()
}

async fn token(
    State(state): State<Arc<ServerState>>,
    Path(directory): Path<String>,
    body: Bytes,
) -> Response {
    state.token_requests.fetch_add(1, Ordering::SeqCst);
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    if directory != DIRECTORY {
        return identity_error("AADSTS90002: Tenant not found.");
    }
    if form.get("grant_type").map(String::as_str) != Some("client_credentials")
        || form.get("client_id").map(String::as_str) != Some(CLIENT_ID)
        || form.get("scope").map(String::as_str) != Some(&format!("{}/.default", state.base))
    {
        return identity_error(
            "AADSTS70011: The provided request must include a valid 'scope' and client_id.",
        );
    }
    match &state.accepts {
        Accepts::Secret(secret) => {
            if form.get("client_secret") != Some(secret) {
                return identity_error("AADSTS7000215: Invalid client secret provided.");
            }
        }
        Accepts::Certificate(der) => {
            if form.get("client_assertion_type").map(String::as_str)
                != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
            {
                return identity_error("AADSTS7000216: 'client_assertion' is required.");
            }
            let assertion = form.get("client_assertion").cloned().unwrap_or_default();
            let audience = format!("{}/{DIRECTORY}/oauth2/v2.0/token", state.base);
            if let Err(why) = verify_assertion(&assertion, der, &audience) {
                return identity_error(&format!(
                    "AADSTS700027: Client assertion failed signature validation: {why}"
                ));
            }
            state.verified_assertions.fetch_add(1, Ordering::SeqCst);
        }
    }
    let access = format!("test-token-{}", state.token_requests.load(Ordering::SeqCst));
    state.tokens.lock().expect("tokens").insert(
        access.clone(),
        Instant::now() + Duration::from_secs(state.token_lifetime_secs),
    );
    (
        [(header::CONTENT_TYPE, "application/json")],
        json!({"token_type": "Bearer", "expires_in": state.token_lifetime_secs, "ext_expires_in": state.token_lifetime_secs, "access_token": access}).to_string(),
    )
        .into_response()
}

/// Verifies a client assertion as the identity platform does: RS256 signed
/// by the registered certificate's key, `x5t` its SHA-1 thumbprint, the
/// token endpoint as audience, the client as issuer and subject.
fn verify_assertion(assertion: &str, der: &[u8], audience: &str) -> Result<(), String> {
    let header = jsonwebtoken::decode_header(assertion).map_err(|e| e.to_string())?;
    if header.alg != jsonwebtoken::Algorithm::RS256 {
        return Err("not RS256".into());
    }
    let thumbprint = URL_SAFE_NO_PAD.encode(sha1::Sha1::digest(der));
    if header.x5t.as_deref() != Some(thumbprint.as_str()) {
        return Err("x5t does not name the certificate".into());
    }
    let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| e.to_string())?;
    let public_key = cert.public_key().subject_public_key.data.to_vec();
    let key = jsonwebtoken::DecodingKey::from_rsa_der(&public_key);
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[audience]);
    validation.set_issuer(&[CLIENT_ID]);
    validation.set_required_spec_claims(&["exp", "aud", "iss", "sub", "nbf"]);
    let data =
        jsonwebtoken::decode::<Value>(assertion, &key, &validation).map_err(|e| e.to_string())?;
    if data.claims["sub"] != CLIENT_ID || data.claims["jti"].as_str().is_none_or(str::is_empty) {
        return Err("sub or jti is wrong".into());
    }
    Ok(())
}

/// Authenticates a Graph request, and applies the request-wide faults.
async fn admit(state: &ServerState, headers: &HeaderMap, what: String) -> Result<(), Response> {
    state.requests.fetch_add(1, Ordering::SeqCst);
    state.log.lock().expect("log").push(what);
    let (delay, throttle, retry_after, expire) = {
        let mut f = state.faults.lock().expect("faults");
        let throttle = f.throttle_next > 0;
        if throttle {
            f.throttle_next -= 1;
        }
        let expire = std::mem::take(&mut f.expire_tokens);
        (f.delay, throttle, f.retry_after_secs, expire)
    };
    if expire {
        state.tokens.lock().expect("tokens").clear();
    }
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let valid = state
        .tokens
        .lock()
        .expect("tokens")
        .get(bearer)
        .is_some_and(|until| Instant::now() < *until);
    if !valid {
        return Err(graph_error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            "Access token has expired or is not yet valid.",
        ));
    }
    if throttle {
        let mut response = graph_error(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequests",
            "Too many requests from this application",
        );
        response.headers_mut().insert(
            header::RETRY_AFTER,
            retry_after.to_string().parse().expect("header"),
        );
        return Err(response);
    }
    Ok(())
}

/// The top-level names in a `$expand` (`a,b($expand=c)` gives a and b).
fn expanded(query: &HashMap<String, String>) -> Vec<String> {
    let Some(expand) = query.get("$expand") else {
        return Vec::new();
    };
    let (mut names, mut depth, mut current) = (Vec::new(), 0, String::new());
    for c in expand.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => names.push(std::mem::take(&mut current)),
            _ if depth == 0 => current.push(c),
            _ => {}
        }
    }
    names.push(current);
    names
        .into_iter()
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty())
        .collect()
}

fn navigation_of(collection: &str) -> &'static [&'static str] {
    COLLECTIONS
        .iter()
        .find(|c| c.1 == collection)
        .map(|c| c.2)
        .unwrap_or(&[])
}

/// An item as Graph returns it: navigation properties only when expanded.
fn shaped(item: &Value, collection: &str, expand: &[String]) -> Value {
    let mut out = item.clone();
    if let Some(map) = out.as_object_mut() {
        for nav in navigation_of(collection) {
            if !expand.iter().any(|e| e == nav) {
                map.remove(*nav);
            }
        }
    }
    out
}

/// An item with only the properties `$select` names (OData keeps
/// `@odata.type` where the item is of a derived type; none here are).
fn selected(item: Value, query: &HashMap<String, String>) -> Value {
    let Some(select) = query.get("$select") else {
        return item;
    };
    let wanted: Vec<&str> = select.split(',').map(str::trim).collect();
    match item {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(k, _)| wanted.contains(&k.as_str()))
                .collect(),
        ),
        other => other,
    }
}

/// Answers one GET (a listing page or an item), as a status and a body.
fn answer_get(
    state: &ServerState,
    path: &str,
    query: &HashMap<String, String>,
) -> (StatusCode, Value) {
    let data = state.data.lock().expect("data");
    let faults = state.faults.lock().expect("faults");
    if let Some(items) = data.get(path) {
        let offset: usize = query
            .get("$skiptoken")
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let page_index = offset / state.page_size.max(1);
        if faults
            .fail_page
            .as_ref()
            .is_some_and(|(c, p)| c == path && *p == page_index)
        {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"error": {"code": "InternalServerError", "message": "An internal server error occurred."}}),
            );
        }
        let mut page: Vec<Value> = items
            .iter()
            .skip(offset)
            .take(state.page_size)
            .map(|i| selected(shaped(i, path, &[]), query))
            .collect();
        if faults.item_without_id_for.as_deref() == Some(path) && offset == 0 {
            page.push(json!({"displayName": "an item without id"}));
        }
        if faults.huge_page_for.as_deref() == Some(path) {
            page = (0..100_000)
                .map(|n| json!({"id": format!("x{n}"), "displayName": "x"}))
                .collect();
        }
        let mut body = json!({
            "@odata.context": format!("{}/beta/$metadata#{}", state.base, path.trim_start_matches('/')),
            "value": page,
        });
        let next = offset + state.page_size;
        if next < items.len() {
            // Graph's nextLink carries the request's query options on.
            let select = query
                .get("$select")
                .map(|s| format!("&$select={s}"))
                .unwrap_or_default();
            body["@odata.nextLink"] = json!(format!(
                "{}/beta{path}?$skiptoken={next}{select}",
                state.base
            ));
        }
        if faults.relative_next_link_for.as_deref() == Some(path) && next < items.len() {
            body["@odata.nextLink"] = json!(format!(
                "{}?$skiptoken={next}",
                path.rsplit('/').next().unwrap_or_default()
            ));
        }
        if faults.looping_next_link_for.as_deref() == Some(path) {
            body["@odata.nextLink"] = json!(format!("{}/beta{path}", state.base));
        }
        if faults.foreign_next_link_for.as_deref() == Some(path) {
            body["@odata.nextLink"] = json!(format!(
                "https://graph.attacker.example/beta{path}?$skiptoken={next}"
            ));
        }
        return (StatusCode::OK, body);
    }
    let (collection, id) = path.rsplit_once('/').unwrap_or(("", ""));
    let id = percent_decode(id);
    match data
        .get(collection)
        .and_then(|items| items.iter().find(|i| i["id"] == id.as_str()))
    {
        Some(item) => {
            let mut body = shaped(item, collection, &expanded(query));
            if let Some(map) = body.as_object_mut() {
                map.insert(
                    "@odata.context".into(),
                    json!(format!(
                        "{}/beta/$metadata#{}/$entity",
                        state.base,
                        collection.trim_start_matches('/')
                    )),
                );
            }
            (StatusCode::OK, body)
        }
        None => (
            StatusCode::NOT_FOUND,
            json!({"error": {"code": "ResourceNotFound", "message": "Resource not found"}}),
        ),
    }
}

fn percent_decode(text: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", text.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

async fn read(
    State(state): State<Arc<ServerState>>,
    Path(path): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let _in_flight = InFlight::new(&state);
    if let Err(refused) = admit(&state, &headers, format!("GET {uri}")).await {
        return refused;
    }
    let path = format!("/{path}");
    {
        let faults = state.faults.lock().expect("faults");
        if faults.html_for.as_deref() == Some(path.as_str()) {
            return (
                StatusCode::BAD_GATEWAY,
                [(header::CONTENT_TYPE, "text/html")],
                "<!DOCTYPE html><html><body>502 Bad Gateway</body></html>",
            )
                .into_response();
        }
        if faults.truncated_for.as_deref() == Some(path.as_str()) {
            return (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                "{\"value\": [{\"id\": \"a\", \"displayName\": \"cut o",
            )
                .into_response();
        }
    }
    let (status, body) = answer_get(&state, &path, &query);
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn batch(State(state): State<Arc<ServerState>>, headers: HeaderMap, body: Bytes) -> Response {
    let _in_flight = InFlight::new(&state);
    let request: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(_) => {
            return graph_error(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "Invalid batch payload.",
            );
        }
    };
    let requests = request["requests"].as_array().cloned().unwrap_or_default();
    let urls: Vec<String> = requests
        .iter()
        .filter_map(|r| r["url"].as_str().map(str::to_owned))
        .collect();
    if let Err(refused) = admit(&state, &headers, format!("BATCH {}", urls.join(" "))).await {
        return refused;
    }
    if requests.is_empty() || requests.len() > 20 {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "The number of batch requests must be between 1 and 20.",
        );
    }
    let mut responses = Vec::new();
    for r in &requests {
        let id = r["id"].clone();
        let throttled = {
            let mut f = state.faults.lock().expect("faults");
            let t = f.throttle_sub_responses > 0;
            if t {
                f.throttle_sub_responses -= 1;
            }
            t.then_some(f.retry_after_secs)
        };
        if let Some(retry_after) = throttled {
            responses.push(json!({
                "id": id, "status": 429,
                "headers": {"Retry-After": retry_after.to_string(), "Content-Type": "application/json"},
                "body": {"error": {"code": "TooManyRequests", "message": "Too many requests"}},
            }));
            continue;
        }
        let url = r["url"].as_str().unwrap_or_default();
        let (path, query) = url.split_once('?').unwrap_or((url, ""));
        let query: HashMap<String, String> = url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        let (status, body) = answer_get(&state, path, &query);
        responses.push(json!({
            "id": id, "status": status.as_u16(),
            "headers": {"Content-Type": "application/json"},
            "body": body,
        }));
    }
    // Graph does not promise the order of sub-responses.
    responses.reverse();
    (
        [(header::CONTENT_TYPE, "application/json")],
        json!({"responses": responses}).to_string(),
    )
        .into_response()
}

/// The corpus (tests/fixtures/intune) as a tenant Graph would serve: every export of the listed
/// types, with an id where the export has none, and ADMX definition values
/// wrapped in their policy object.
pub fn corpus_tenant() -> BTreeMap<String, Vec<Value>> {
    let root = crate::corpus::fixtures();
    let mut out: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for (t, (policy_type, _, _)) in COLLECTIONS.iter().enumerate() {
        let mut files: Vec<std::path::PathBuf> = walkdir::WalkDir::new(root.join(policy_type))
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .map(|e| e.path().to_path_buf())
            .collect();
        files.sort();
        for (n, file) in files.iter().enumerate() {
            let bytes = std::fs::read(file).expect("corpus file");
            let text = drift_engine::import::decode_text(&bytes).expect("text");
            let mut value: Value = serde_json::from_str(&text).expect("json");
            if value.is_array() {
                let stem = file
                    .file_stem()
                    .expect("stem")
                    .to_string_lossy()
                    .into_owned();
                value = json!({"displayName": stem, "definitionValues": value});
            }
            let map: &mut Map<String, Value> = value.as_object_mut().expect("an object");
            // Some exports carry no id, and exports of one policy from two
            // repositories share theirs; a tenant has one of each.
            let taken = out
                .get(*policy_type)
                .is_some_and(|items| items.iter().any(|i| i.get("id") == map.get("id")));
            if taken
                || map
                    .get("id")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
            {
                map.insert(
                    "id".into(),
                    json!(format!("{t:08x}-0000-4000-8000-{n:012x}")),
                );
            }
            out.entry((*policy_type).to_owned())
                .or_default()
                .push(value);
        }
    }
    out
}

/// Writes a tenant's items as export files in drift-engine's layout.
pub fn write_exports(dir: &std::path::Path, data: &BTreeMap<String, Vec<Value>>) {
    for (policy_type, items) in data {
        let folder = dir.join(policy_type);
        std::fs::create_dir_all(&folder).expect("folder");
        for item in items {
            let id = item["id"].as_str().expect("id");
            std::fs::write(folder.join(format!("{id}.json")), item.to_string()).expect("write");
        }
    }
}
