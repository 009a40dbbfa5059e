//! GraphiQL at `GET /graphql` for browsers. Its assets are the versions
//! pinned in `web/package.json`: embedded into the binary when `npm ci
//! --prefix web` ran before the build, otherwise loaded from a public CDN.

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

pub struct Asset {
    pub name: &'static str,
    pub content_type: &'static str,
    pub bytes: &'static [u8],
}

mod generated {
    use super::Asset;
    include!(concat!(env!("OUT_DIR"), "/graphiql_assets.rs"));
}

/// Whether the build embedded the npm assets (else the page uses the CDN).
pub fn assets_embedded() -> bool {
    generated::EMBEDDED
}

/// Our own page script (not a third-party bundle), always embedded.
const PAGE_SCRIPT: &str = include_str!("../../web/graphiql.js");

const CDN: &str = "https://cdn.jsdelivr.net/npm";

/// Whether this request is a browser asking for a page rather than a
/// GraphQL client asking for a result.
pub fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"))
}

/// Said once at startup, so operators know where the page loads from.
pub fn log_asset_source() {
    if generated::EMBEDDED {
        tracing::info!(
            graphiql = generated::GRAPHIQL_VERSION,
            "GraphiQL at GET /graphql uses assets embedded in this binary"
        );
    } else {
        tracing::warn!(
            graphiql = generated::GRAPHIQL_VERSION,
            cdn = CDN,
            "GraphiQL assets were not embedded at build time (run `npm ci --prefix web`, then \
             rebuild): GET /graphql loads them from the public CDN"
        );
    }
}

fn asset_url(name: &str) -> String {
    if generated::EMBEDDED {
        return format!("/graphql/assets/{name}");
    }
    let (package, version, file) = match name {
        "react.production.min.js" => (
            "react",
            generated::REACT_VERSION,
            "umd/react.production.min.js",
        ),
        "react-dom.production.min.js" => (
            "react-dom",
            generated::REACT_DOM_VERSION,
            "umd/react-dom.production.min.js",
        ),
        "graphql-ws.min.js" => (
            "graphql-ws",
            generated::GRAPHQL_WS_VERSION,
            "umd/graphql-ws.min.js",
        ),
        other => ("graphiql", generated::GRAPHIQL_VERSION, other),
    };
    format!("{CDN}/{package}@{version}/{file}")
}

pub fn page() -> Response {
    let html = format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>drift-engine · GraphiQL</title>
<style>html, body {{ height: 100%; margin: 0; }} #graphiql {{ height: 100vh; }}</style>
<link rel="stylesheet" href="{css}">
</head>
<body>
<div id="graphiql" data-endpoint="/graphql" data-ws-endpoint="/graphql/ws">Loading GraphiQL…</div>
<script src="{react}"></script>
<script src="{react_dom}"></script>
<script src="{graphiql}"></script>
<script src="{graphql_ws}"></script>
<script src="/graphql/assets/drift-graphiql.js"></script>
</body>
</html>
"#,
        css = asset_url("graphiql.min.css"),
        react = asset_url("react.production.min.js"),
        react_dom = asset_url("react-dom.production.min.js"),
        graphiql = asset_url("graphiql.min.js"),
        graphql_ws = asset_url("graphql-ws.min.js"),
    );
    // Embedded: nothing but this origin. From the CDN: that host too.
    let source = if generated::EMBEDDED {
        "'self'".to_owned()
    } else {
        format!("'self' {CDN}")
    };
    let policy = format!(
        "default-src 'self'; script-src {source}; style-src {source} 'unsafe-inline'; \
         font-src {source} data:; img-src 'self' data:; connect-src 'self' ws: wss:; \
         frame-ancestors 'none'"
    );
    let mut response = ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response();
    if let Ok(value) = HeaderValue::from_str(&policy) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, value);
    }
    response
}

pub async fn asset(Path(name): Path<String>) -> Response {
    let (content_type, bytes): (&str, &'static [u8]) = if name == "drift-graphiql.js" {
        ("text/javascript; charset=utf-8", PAGE_SCRIPT.as_bytes())
    } else {
        match generated::ASSETS.iter().find(|a| a.name == name) {
            Some(a) => (a.content_type, a.bytes),
            None => return StatusCode::NOT_FOUND.into_response(),
        }
    };
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        bytes,
    )
        .into_response()
}
