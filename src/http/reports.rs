//! `GET /reports/findings?tenantId=…&baselineProfileId=…&format=csv|json|html[&status=OPEN,…]`:
//! a findings report, streamed as the engine produces it. The bearer token
//! and the authorization are those of the `findings` query
//! (`tenant_findings.view` on the tenant); errors are GraphQL-shaped, with
//! `extensions.code`.

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::TryStreamExt;
use serde::Deserialize;

use super::AppState;
use super::graphql::{error_response_code, resolve_auth};
use crate::auth::{self, Capability};
use crate::delivery::report::{self, Format, Ids};
use crate::error::Error;
use crate::graphql::RequestAuth;
use crate::graphql::ids::{self, NodeKind};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportQuery {
    tenant_id: Option<String>,
    baseline_profile_id: Option<String>,
    format: Option<String>,
    status: Option<String>,
}

/// Global ids, as the API hands them out.
pub const GLOBAL_IDS: Ids = Ids {
    finding: |id| ids::encode(NodeKind::Finding, id).0,
    run: |id| ids::encode(NodeKind::OperationRun, id).0,
    tenant: |id| ids::encode(NodeKind::Tenant, id).0,
    profile: |id| ids::encode(NodeKind::BaselineProfile, id).0,
};

fn error(err: &Error) -> Response {
    let status = match err {
        Error::Unauthenticated => StatusCode::UNAUTHORIZED,
        Error::Forbidden(_) => StatusCode::FORBIDDEN,
        Error::NotFound(_) => StatusCode::NOT_FOUND,
        Error::BadUserInput(_) => StatusCode::BAD_REQUEST,
        Error::Conflict(_) => StatusCode::CONFLICT,
        Error::Internal(e) => {
            tracing::error!(error = %format!("{e:#}"), "report failed");
            return error_response_code(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error",
                "INTERNAL",
            );
        }
    };
    error_response_code(status, &err.to_string(), err.code())
}

fn required<'a>(value: &'a Option<String>, name: &str) -> Result<&'a str, Error> {
    value
        .as_deref()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| Error::bad_input(format!("the query parameter {name} is required")))
}

pub async fn findings(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<ReportQuery>, QueryRejection>,
) -> Response {
    match prepare(&state, &headers, query).await {
        Ok(response) => response,
        Err(err) => error(&err),
    }
}

async fn prepare(
    state: &AppState,
    headers: &HeaderMap,
    query: Result<Query<ReportQuery>, QueryRejection>,
) -> Result<Response, Error> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or_default());
    let viewer = match resolve_auth(&state.db, authorization).await? {
        RequestAuth::Authenticated(viewer) => viewer,
        RequestAuth::Anonymous | RequestAuth::Invalid => return Err(Error::Unauthenticated),
    };
    let Query(q) = query.map_err(|e| Error::bad_input(e.body_text()))?;
    let format = Format::parse(required(&q.format, "format")?)?;
    let tenant_id = ids::decode_as(
        &async_graphql::ID(required(&q.tenant_id, "tenantId")?.to_owned()),
        NodeKind::Tenant,
    )?;
    let profile_id = ids::decode_as(
        &async_graphql::ID(required(&q.baseline_profile_id, "baselineProfileId")?.to_owned()),
        NodeKind::BaselineProfile,
    )?;
    let statuses = match &q.status {
        Some(text) => report::parse_statuses(text)?,
        None => report::DEFAULT_STATUSES.to_vec(),
    };
    let tenant = auth::authorized_tenant(
        &state.db,
        &viewer,
        tenant_id,
        Some(Capability::TenantFindingsView),
    )
    .await?;
    let scope = report::scope(&state.db, tenant, profile_id, statuses).await?;
    let disposition = format!(
        "{}; filename=\"{}\"",
        if format == Format::Html {
            "inline"
        } else {
            "attachment"
        },
        report::file_name(&scope, format)
    );
    let body = Body::from_stream(
        report::stream(state.db.clone(), scope, format, GLOBAL_IDS).map_err(|err| {
            // Headers are sent; cutting the body off is how the client learns.
            tracing::error!(error = %err, "report stream failed");
            std::io::Error::other("the report could not be completed")
        }),
    );
    let mut response = (StatusCode::OK, body).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, value);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // The page needs nothing but its own inline style: no script, no
    // request, whatever a display name holds.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
    );
    Ok(response)
}
