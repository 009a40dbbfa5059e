//! Tokens from the Microsoft identity platform: the OAuth 2.0
//! client-credentials grant against `{login}/{directoryTenantId}/oauth2/v2.0/token`,
//! with a client secret or a certificate client assertion (an RS256 JWT
//! whose header names the certificate by its SHA-1 thumbprint, `x5t`).
//! Tokens are cached per tenant until shortly before they expire.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use entity::tenant_connection;
use serde::Deserialize;
use serde_json::Value;
use sha1::{Digest, Sha1};

use super::connections::Credential;

/// A cached token is renewed this long before it expires (or at three
/// quarters of its lifetime, for short-lived ones).
const RENEW_BEFORE: Duration = Duration::from_secs(300);
/// Retries of a token request that was throttled or failed on the server.
const TOKEN_RETRIES: u32 = 2;
/// How long a client assertion is valid; the identity platform accepts up
/// to ten minutes.
const ASSERTION_LIFETIME_SECS: i64 = 600;

#[derive(Clone)]
pub struct AccessToken {
    pub value: String,
    renew_at: Instant,
    /// The connection's `configured_at`: a new credential makes a new token.
    configured_at: chrono::DateTime<chrono::Utc>,
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccessToken(..)")
    }
}

/// Tokens of every tenant this process collects from.
#[derive(Default)]
pub struct TokenCache {
    tokens: tokio::sync::Mutex<HashMap<i64, AccessToken>>,
}

/// Why no token was issued. The message is safe to store and show: it
/// names the identity platform's error code and description, never the
/// credential.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TokenError(pub String);

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    /// A number in v2.0 answers; older endpoints wrote a string.
    expires_in: Value,
}

#[derive(serde::Serialize)]
struct AssertionClaims<'a> {
    aud: &'a str,
    iss: &'a str,
    sub: &'a str,
    jti: String,
    nbf: i64,
    iat: i64,
    exp: i64,
}

/// The token endpoint of a directory (tenant) on `login_url`.
pub fn token_url(login_url: &str, directory_tenant_id: &str) -> String {
    format!(
        "{}/{}/oauth2/v2.0/token",
        login_url.trim_end_matches('/'),
        directory_tenant_id
    )
}

/// The DER bytes of the first certificate in `pem_text`.
fn certificate_der(pem_text: &str) -> Result<Vec<u8>, TokenError> {
    pem::parse_many(pem_text)
        .map_err(|e| TokenError(format!("the certificate is not valid PEM: {e}")))?
        .into_iter()
        .find(|p| p.tag() == "CERTIFICATE")
        .map(|p| p.into_contents())
        .ok_or_else(|| TokenError("the certificate PEM holds no CERTIFICATE block".into()))
}

/// Checks that a certificate credential can sign assertions: the key is an
/// RSA private key and the certificate parses.
pub fn check_certificate(private_key_pem: &str, certificate_pem: &str) -> Result<(), TokenError> {
    jsonwebtoken::EncodingKey::from_rsa_pem(private_key_pem.as_bytes()).map_err(|e| {
        TokenError(format!(
            "the private key is not an RSA private key in PEM (PKCS#1 or PKCS#8): {e}"
        ))
    })?;
    certificate_der(certificate_pem).map(|_| ())
}

/// The client assertion for `client_id` at `audience` (the token URL).
pub fn client_assertion(
    client_id: &str,
    audience: &str,
    private_key_pem: &str,
    certificate_pem: &str,
) -> Result<String, TokenError> {
    let der = certificate_der(certificate_pem)?;
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.x5t = Some(URL_SAFE_NO_PAD.encode(Sha1::digest(&der)));
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(private_key_pem.as_bytes())
        .map_err(|e| TokenError(format!("the private key cannot sign: {e}")))?;
    let now = chrono::Utc::now().timestamp();
    let claims = AssertionClaims {
        aud: audience,
        iss: client_id,
        sub: client_id,
        jti: crate::auth::tokens::generate(),
        nbf: now,
        iat: now,
        exp: now + ASSERTION_LIFETIME_SECS,
    };
    jsonwebtoken::encode(&header, &claims, &key)
        .map_err(|e| TokenError(format!("could not sign the client assertion: {e}")))
}

impl TokenCache {
    /// Forgets the tenant's token (Graph answered 401 with it).
    pub async fn invalidate(&self, tenant_id: i64) {
        self.tokens.lock().await.remove(&tenant_id);
    }

    /// A valid token for the connection, from the cache or the identity
    /// platform. `fetched` tells whether a request was made.
    pub async fn get(
        &self,
        http: &reqwest::Client,
        login_url: &str,
        graph_url: &str,
        connection: &tenant_connection::Model,
        credential: &Credential,
    ) -> Result<(AccessToken, bool), TokenError> {
        // Held across the request, so concurrent requests of a run wait for
        // one token instead of each asking for their own.
        let mut tokens = self.tokens.lock().await;
        if let Some(token) = tokens.get(&connection.tenant_id)
            && token.configured_at == connection.configured_at
            && Instant::now() < token.renew_at
        {
            return Ok((token.clone(), false));
        }
        let token = request_token(http, login_url, graph_url, connection, credential).await?;
        tokens.insert(connection.tenant_id, token.clone());
        Ok((token, true))
    }
}

async fn request_token(
    http: &reqwest::Client,
    login_url: &str,
    graph_url: &str,
    connection: &tenant_connection::Model,
    credential: &Credential,
) -> Result<AccessToken, TokenError> {
    let url = token_url(login_url, &connection.directory_tenant_id);
    let scope = format!("{}/.default", graph_url.trim_end_matches('/'));
    let mut form: Vec<(&str, String)> = vec![
        ("client_id", connection.client_id.clone()),
        ("scope", scope),
        ("grant_type", "client_credentials".to_owned()),
    ];
    match credential {
        Credential::ClientSecret(secret) => form.push(("client_secret", secret.clone())),
        Credential::Certificate {
            private_key_pem,
            certificate_pem,
        } => {
            form.push((
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned(),
            ));
            form.push((
                "client_assertion",
                client_assertion(
                    &connection.client_id,
                    &url,
                    private_key_pem,
                    certificate_pem,
                )?,
            ));
        }
    }
    let started = Instant::now();
    // The identity platform throttles and fails like any service: a few
    // tries, a second and then two apart.
    let mut attempt = 0;
    let response = loop {
        let sent = http.post(&url).form(&form).send().await;
        let retry = match &sent {
            Ok(r) => r.status().as_u16() == 429 || r.status().is_server_error(),
            Err(_) => true,
        };
        if !retry || attempt >= TOKEN_RETRIES {
            break sent.map_err(|e| {
                TokenError(format!(
                    "the token endpoint could not be reached: {}",
                    e.without_url()
                ))
            })?;
        }
        attempt += 1;
        tokio::time::sleep(Duration::from_secs(u64::from(attempt))).await;
    };
    let status = response.status();
    let body = response.bytes().await.map_err(|e| {
        TokenError(format!(
            "the token answer could not be read: {}",
            e.without_url()
        ))
    })?;
    let json: Option<Value> = serde_json::from_slice(&body).ok();
    if !status.is_success() {
        let described = json
            .as_ref()
            .map(|j| {
                let code = j.get("error").and_then(Value::as_str).unwrap_or("error");
                let text = j
                    .get("error_description")
                    .and_then(Value::as_str)
                    .and_then(|d| d.lines().next())
                    .unwrap_or("");
                format!("{code}: {text}")
            })
            .unwrap_or_else(|| "the answer was not JSON".to_owned());
        return Err(TokenError(format!(
            "the identity platform refused the credential ({status}): {}",
            truncate(&described, 300)
        )));
    }
    let answer: TokenAnswer = json
        .and_then(|j| serde_json::from_value(j).ok())
        .ok_or_else(|| TokenError("the token answer has no access_token".into()))?;
    let lifetime = match &answer.expires_in {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
    .map(Duration::from_secs)
    .ok_or_else(|| TokenError("the token answer has no expires_in".into()))?;
    let renew_in = lifetime.saturating_sub(RENEW_BEFORE.min(lifetime / 4));
    Ok(AccessToken {
        value: answer.access_token,
        renew_at: started + renew_in,
        configured_at: connection.configured_at,
    })
}

fn truncate(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}
