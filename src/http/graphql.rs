//! GraphQL over HTTP. The body is read and parsed here, not by an extractor,
//! so that an oversized body answers 413 and malformed JSON answers 400, each
//! with a GraphQL-shaped error that carries `extensions.code`.

use async_graphql::parser::types::OperationType;
use async_graphql::{BatchRequest, BatchResponse, Request};
use axum::body::{Body, to_bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::ws::{CloseFrame, Message};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use crate::auth::{Viewer, tokens};
use crate::graphql::guard::BatchBudget;
use crate::graphql::{RequestAuth, errors::ensure_code, field_order, insert_request_data};

pub async fn post(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    // Who asks decides how much may be read: a request without a valid
    // token can only introspect, so it gets a much smaller body.
    let auth = match authenticate(&state, &headers).await {
        Ok(auth) => auth,
        Err(response) => return *response,
    };
    let limit = match auth {
        RequestAuth::Authenticated(_) => state.max_body_bytes,
        _ => state.max_anonymous_body_bytes,
    };
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        && len > limit
    {
        return too_large(limit, &auth);
    }
    let bytes = match to_bytes(body, limit).await {
        Ok(bytes) => bytes,
        Err(_) => return too_large(limit, &auth),
    };
    let batch: BatchRequest = match serde_json::from_slice(&bytes) {
        Ok(batch) => batch,
        Err(err) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                &format!("the request body is not a valid GraphQL request: {err}"),
            );
        }
    };
    execute(&state, &headers, auth, batch).await
}

#[derive(Deserialize)]
pub struct GetParams {
    query: Option<String>,
    #[serde(rename = "operationName")]
    operation_name: Option<String>,
    variables: Option<String>,
    /// JSON, e.g. `{"persistedQuery":{"version":1,"sha256Hash":"…"}}`.
    extensions: Option<String>,
}

/// Queries only: a mutation over GET is refused, as GraphQL over HTTP requires.
pub async fn get(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Result<Query<GetParams>, QueryRejection>,
) -> Response {
    let params = match params {
        Ok(Query(p)) => p,
        Err(err) => return error_response(StatusCode::BAD_REQUEST, &err.body_text()),
    };
    if params.query.is_none() && params.extensions.is_none() {
        if super::graphiql::wants_html(&headers) {
            return super::graphiql::page();
        }
        return error_response(
            StatusCode::BAD_REQUEST,
            "missing `query` parameter: send GET /graphql?query=... or POST a JSON body",
        );
    }
    let mut request = Request::new(params.query.unwrap_or_default());
    if let Some(extensions) = params.extensions.as_deref().filter(|v| !v.is_empty()) {
        match serde_json::from_str(extensions) {
            Ok(e) => request.extensions = e,
            Err(err) => {
                return error_response(
                    StatusCode::BAD_REQUEST,
                    &format!("`extensions` is not a valid JSON object: {err}"),
                );
            }
        }
    }
    if let Err(err) = state.persisted.resolve(&mut request) {
        return apq_error(err);
    }
    let query = request.query.clone();
    if let Some(name) = params.operation_name.clone() {
        request = request.operation_name(name);
    }
    if let Some(vars) = params.variables.as_deref().filter(|v| !v.is_empty()) {
        match serde_json::from_str(vars) {
            Ok(v) => request = request.variables(async_graphql::Variables::from_json(v)),
            Err(err) => {
                return error_response(
                    StatusCode::BAD_REQUEST,
                    &format!("`variables` is not valid JSON: {err}"),
                );
            }
        }
    }
    if let Ok(doc) = async_graphql::parser::parse_query(&query) {
        let op_type = match (&params.operation_name, &doc.operations) {
            (Some(name), ops) => ops
                .iter()
                .find(|(n, _)| n.map(|n| n.as_str()) == Some(name.as_str()))
                .map(|(_, op)| op.node.ty),
            (None, ops) => ops.iter().next().map(|(_, op)| op.node.ty),
        };
        if op_type == Some(OperationType::Mutation) {
            let mut response = error_response(
                StatusCode::METHOD_NOT_ALLOWED,
                "mutations must be sent with POST",
            );
            response
                .headers_mut()
                .insert(header::ALLOW, header::HeaderValue::from_static("POST"));
            return response;
        }
    }
    let auth = match authenticate(&state, &headers).await {
        Ok(auth) => auth,
        Err(response) => return *response,
    };
    execute(&state, &headers, auth, BatchRequest::Single(request)).await
}

async fn execute(
    state: &AppState,
    headers: &HeaderMap,
    auth: RequestAuth,
    mut batch: BatchRequest,
) -> Response {
    let operations_in_batch = batch.iter().count();
    if operations_in_batch > state.max_batch {
        return error_response(
            StatusCode::BAD_REQUEST,
            &format!(
                "the batch holds {operations_in_batch} operations; at most {} are allowed \
                 (--max-batch, DRIFT_MAX_BATCH)",
                state.max_batch
            ),
        );
    }
    let names: Vec<&str> = batch
        .iter()
        .filter_map(|r| r.operation_name.as_deref())
        // A GraphQL name, as the specification defines one; anything else a
        // client put there stays out of the logs.
        .filter(|n| n.len() <= 100 && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
        .collect();
    if !names.is_empty() {
        tracing::Span::current().record("operation", tracing::field::display(names.join(",")));
    }
    // Persisted queries are filled in before anything reads the documents.
    for request in batch.iter_mut() {
        if let Err(err) = state.persisted.resolve(request) {
            return apq_error(err);
        }
    }
    // One complexity budget for the whole batch (see graphql::guard).
    let budget = BatchBudget::default();
    let mut operations = Vec::new();
    for request in batch.iter_mut() {
        insert_request_data(&mut request.data, auth.clone(), &state.db);
        request.data.insert(budget.clone());
        operations.push((request.query.clone(), request.operation_name.clone()));
    }
    let mut response = state.schema.execute_batch(batch).await;
    let responses: Vec<&mut async_graphql::Response> = match &mut response {
        BatchResponse::Single(r) => vec![r],
        BatchResponse::Batch(rs) => rs.iter_mut().collect(),
    };
    for (r, (query, operation_name)) in responses.into_iter().zip(&operations) {
        r.errors.iter_mut().for_each(ensure_code);
        field_order::in_selection_order(r, query, operation_name.as_deref());
    }
    let codes = match &response {
        BatchResponse::Single(r) => r.errors.iter().collect::<Vec<_>>(),
        BatchResponse::Batch(rs) => rs.iter().flat_map(|r| r.errors.iter()).collect(),
    };
    for error in codes {
        if let Some(code) = error.extensions.as_ref().and_then(|e| e.get("code")) {
            crate::metrics::graphql_error(&code.to_string().replace('"', ""));
        }
    }
    if accepts_graphql_response_json(headers)
        && let BatchResponse::Single(single) = &response
    {
        return graphql_response_json(single, state.max_response_bytes);
    }
    let body = match serde_json::to_vec(&response) {
        Ok(body) if body.len() <= state.max_response_bytes => body,
        Ok(_) => return response_too_large(state.max_response_bytes),
        Err(err) => {
            tracing::error!(error = %err, "could not serialize a GraphQL response");
            return error_response_code(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error",
                "INTERNAL",
            );
        }
    };
    (
        [(header::CONTENT_TYPE, "application/json")],
        Body::from(body),
    )
        .into_response()
}

/// Apollo's answers: `PersistedQueryNotFound` is a 200 with the error, so
/// that clients send the query with its hash; a bad `persistedQuery` is a
/// 400. In a batch, one unknown hash answers for the whole batch.
fn apq_error(err: super::apq::ApqError) -> Response {
    match err {
        super::apq::ApqError::NotFound => error_response_code(
            StatusCode::OK,
            super::apq::NOT_FOUND_MESSAGE,
            super::apq::NOT_FOUND_CODE,
        ),
        super::apq::ApqError::Invalid(message) => error_response(StatusCode::BAD_REQUEST, &message),
    }
}

fn response_too_large(limit: usize) -> Response {
    error_response(
        StatusCode::OK,
        &format!(
            "the answer would be larger than {limit} bytes; ask for smaller pages or fewer \
             fields, or split the batch (--max-response-bytes, DRIFT_MAX_RESPONSE_BYTES)"
        ),
    )
}

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";

/// Whether the client asked for `application/graphql-response+json` (GraphQL
/// over HTTP), which lets the status code tell request errors apart.
fn accepts_graphql_response_json(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|media| {
            media
                .split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case(GRAPHQL_RESPONSE_JSON))
        })
}

/// In `application/graphql-response+json`, a request that never reached
/// execution (unparsable document, failed validation, bad variables) answers
/// 400 with no `data` entry; anything that executed answers 200.
fn graphql_response_json(response: &async_graphql::Response, max_bytes: usize) -> Response {
    let request_error = response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty());
    let mut body = serde_json::to_value(response).unwrap_or_else(|_| json!({}));
    let status = if request_error {
        if let Some(map) = body.as_object_mut() {
            map.remove("data");
        }
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let body = body.to_string();
    if body.len() > max_bytes {
        return response_too_large(max_bytes);
    }
    (
        status,
        [(
            header::CONTENT_TYPE,
            "application/graphql-response+json; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<RequestAuth, Box<Response>> {
    let header = headers
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or_default());
    resolve_auth(&state.db, header).await.map_err(|err| {
        tracing::error!(error = %format!("{:#}", anyhow::Error::from(err)), "authentication failed with an internal error");
        Box::new(error_response_code(StatusCode::INTERNAL_SERVER_ERROR, "internal error", "INTERNAL"))
    })
}

/// The caller behind an `Authorization` value (`Bearer <token>`), whether it
/// came in an HTTP header or a WebSocket `connection_init` payload.
pub(super) async fn resolve_auth(
    db: &sea_orm::DatabaseConnection,
    authorization: Option<&str>,
) -> Result<RequestAuth, crate::error::Error> {
    let Some(value) = authorization else {
        return Ok(RequestAuth::Anonymous);
    };
    let Some(presented) = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
    else {
        return Ok(RequestAuth::Invalid);
    };
    match tokens::authenticate(db, presented).await? {
        Some((token, user)) => {
            let mut viewer = Viewer::load(db, user, Some(token.id)).await?;
            viewer.read_only = token.read_only;
            Ok(RequestAuth::Authenticated(Box::new(viewer)))
        }
        None => Ok(RequestAuth::Invalid),
    }
}

fn too_large(limit: usize, auth: &RequestAuth) -> Response {
    let message = match auth {
        RequestAuth::Authenticated(_) => format!(
            "the request body is larger than the limit of {limit} bytes; split the batch or raise \
             --max-body-bytes (DRIFT_MAX_BODY_BYTES)"
        ),
        _ => format!(
            "the request body is larger than the limit of {limit} bytes for requests without a \
             valid token (--max-anonymous-body-bytes)"
        ),
    };
    error_response(StatusCode::PAYLOAD_TOO_LARGE, &message)
}

fn error_response(status: StatusCode, message: &str) -> Response {
    error_response_code(status, message, "BAD_USER_INPUT")
}

pub(super) fn error_response_code(status: StatusCode, message: &str, code: &str) -> Response {
    crate::metrics::graphql_error(code);
    (
        status,
        axum::Json(json!({"errors": [{"message": message, "extensions": {"code": code}}]})),
    )
        .into_response()
}

/// GraphQL subscriptions over WebSocket (graphql-transport-ws, and the older
/// graphql-ws protocol). The token travels in `connection_init`:
/// `{"Authorization": "Bearer <token>"}`. The handshake is ours, because
/// the protocol's close codes are: no `connection_init` within the timeout
/// closes with 4408, one that does not authenticate (subscriptions need a
/// viewer) with 4403, any other first message with 4401.
pub async fn websocket(
    State(state): State<AppState>,
    protocol: async_graphql_axum::GraphQLProtocol,
    upgrade: axum::extract::ws::WebSocketUpgrade,
) -> Response {
    upgrade
        .protocols(async_graphql::http::ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| async move {
            use futures_util::{SinkExt as _, StreamExt as _};
            let (mut sink, mut stream) = socket.split();
            let close = |code: u16, reason: &'static str| {
                Message::Close(Some(CloseFrame {
                    code,
                    reason: reason.into(),
                }))
            };
            let first = tokio::time::timeout(state.ws_init_timeout, async {
                while let Some(Ok(message)) = stream.next().await {
                    if let Message::Text(_) | Message::Binary(_) = message {
                        return Some(message);
                    }
                }
                None
            })
            .await;
            let init = match first {
                Err(_) => {
                    let _ = sink
                        .send(close(4408, "Connection initialisation timeout"))
                        .await;
                    return;
                }
                Ok(None) => return,
                Ok(Some(message)) => message,
            };
            let payload = match connection_init_payload(&init) {
                Some(payload) => payload,
                None => {
                    let _ = sink.send(close(4401, "Unauthorized")).await;
                    return;
                }
            };
            let authorization = ["Authorization", "authorization"]
                .iter()
                .find_map(|k| payload.get(*k).and_then(|v| v.as_str()).map(str::to_owned));
            let auth = match resolve_auth(&state.db, authorization.as_deref()).await {
                Ok(auth @ RequestAuth::Authenticated(_)) => auth,
                Ok(_) => {
                    let _ = sink.send(close(4403, "Forbidden")).await;
                    return;
                }
                Err(err) => {
                    tracing::error!(error = %format!("{:#}", anyhow::Error::from(err)), "authentication failed with an internal error");
                    let _ = sink.send(close(1011, "internal error")).await;
                    return;
                }
            };
            let mut data = async_graphql::Data::default();
            insert_request_data(&mut data, auth, &state.db);
            // The init message goes on to async-graphql, which acknowledges
            // it with the data decided here.
            let stream = futures_util::stream::once(async move { Ok(init) }).chain(stream);
            async_graphql_axum::GraphQLWebSocket::new_with_pair(
                sink,
                stream,
                state.schema.clone(),
                protocol,
            )
            .on_connection_init(move |_| async move { Ok(data) })
            .serve()
            .await;
        })
}

/// The payload of a `connection_init` message (`{}` when it has none), or
/// `None` for any other message.
fn connection_init_payload(
    message: &Message,
) -> Option<serde_json::Map<String, serde_json::Value>> {
    let bytes: &[u8] = match message {
        Message::Text(text) => text.as_bytes(),
        Message::Binary(bytes) => bytes,
        _ => return None,
    };
    let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    if value.get("type")?.as_str()? != "connection_init" {
        return None;
    }
    match value.get("payload") {
        None | Some(serde_json::Value::Null) => Some(serde_json::Map::new()),
        Some(serde_json::Value::Object(map)) => Some(map.clone()),
        Some(_) => None,
    }
}
