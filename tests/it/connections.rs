//! Tenant connections: the credential is sealed with the server's key,
//! write-only through the API, and absent from audit entries.

use base64::Engine as _;
use drift_engine::collector::connections::{Credential, open_credential};
use drift_engine::collector::secrets::SecretKey;
use entity::{audit_log, tenant_connection};
use sea_orm::EntityTrait;
use serde_json::{Value, json};

use crate::common::{TestApp, error_code};

pub fn test_key() -> SecretKey {
    SecretKey::from_base64(&base64::engine::general_purpose::STANDARD.encode([42u8; 32]))
        .expect("a key")
}

const SET: &str = "mutation($i: SetTenantConnectionInput!) { setTenantConnection(input: $i) {
    id connection { directoryTenantId clientId credentialKind configuredAt lastTokenAt lastError } } }";

const SECRET: &str = "very-secret-client-secret-value~1";

/// A throwaway test key and certificate (tests/fixtures/graph/README.md).
pub const PRIVATE_KEY: &str = include_str!("../fixtures/graph/client.key.pem");
pub const CERTIFICATE: &str = include_str!("../fixtures/graph/client.cert.pem");

/// A line from the middle of the private key: never to be seen outside the
/// sealed column.
fn key_material() -> &'static str {
    PRIVATE_KEY.lines().nth(5).expect("a key line")
}

async fn setup(app: &TestApp) -> (String, String) {
    let (_, token) = app.user("conn@example.com").await;
    let (_, tenant) = app.workspace_with_tenant(&token).await;
    (token, tenant)
}

fn input(tenant: &str, extra: Value) -> Value {
    let mut i = json!({
        "tenantId": tenant,
        "directoryTenantId": "contoso.onmicrosoft.com",
        "clientId": "2f8b0c7e-1a4d-4c1b-9f7e-0d5a6b3c2e10",
    });
    for (k, v) in extra.as_object().expect("object") {
        i[k] = v.clone();
    }
    i
}

#[tokio::test]
async fn credentials_are_sealed_write_only_and_never_audited() {
    let app = TestApp::spawn_with(|c| c.secret_key = Some(test_key())).await;
    let (token, tenant) = setup(&app).await;

    let data = app
        .gql_ok(
            &token,
            SET,
            json!({"i": input(&tenant, json!({"clientSecret": SECRET}))}),
        )
        .await;
    let connection = &data["setTenantConnection"]["connection"];
    assert_eq!(connection["directoryTenantId"], "contoso.onmicrosoft.com");
    assert_eq!(
        connection["clientId"],
        "2f8b0c7e-1a4d-4c1b-9f7e-0d5a6b3c2e10"
    );
    assert_eq!(connection["credentialKind"], "CLIENT_SECRET");
    assert_eq!(connection["lastTokenAt"], Value::Null);
    assert!(!data.to_string().contains(SECRET));

    // At rest: sealed, and it opens with the key.
    let rows = tenant_connection::Entity::find()
        .all(&app.db)
        .await
        .expect("rows");
    assert_eq!(rows.len(), 1);
    assert!(rows[0].sealed_credential.starts_with("v1:"));
    assert!(!format!("{:?}", rows[0]).contains(SECRET));
    match open_credential(&test_key(), &rows[0]) {
        Some(Credential::ClientSecret(s)) => assert_eq!(s, SECRET),
        other => panic!("the secret opens: {other:?}"),
    }

    // Replaced by a certificate; nothing of either credential is audited.
    let data = app
        .gql_ok(
            &token,
            SET,
            json!({"i": input(&tenant, json!({"certificate": {"privateKeyPem": PRIVATE_KEY, "certificatePem": CERTIFICATE}}))}),
        )
        .await;
    assert_eq!(
        data["setTenantConnection"]["connection"]["credentialKind"],
        "CERTIFICATE"
    );
    let rows = tenant_connection::Entity::find()
        .all(&app.db)
        .await
        .expect("rows");
    assert_eq!(rows.len(), 1, "one connection per tenant");
    assert!(!rows[0].sealed_credential.contains(key_material()));
    let audit: Vec<String> = audit_log::Entity::find()
        .all(&app.db)
        .await
        .expect("audit")
        .into_iter()
        .filter(|e| e.action.starts_with("tenant.connection"))
        .map(|e| format!("{} {}", e.action, e.metadata))
        .collect();
    assert_eq!(audit.len(), 2, "{audit:?}");
    assert!(
        audit
            .iter()
            .all(|e| !e.contains(SECRET) && !e.contains(key_material()) && !e.contains("v1:")),
        "{audit:?}"
    );
    assert!(audit[1].contains("certificate"));

    // Bad input: both credentials, none, a key that is no PEM.
    for bad in [
        json!({"clientSecret": SECRET, "certificate": {"privateKeyPem": PRIVATE_KEY, "certificatePem": CERTIFICATE}}),
        json!({}),
        json!({"certificate": {"privateKeyPem": "not a key", "certificatePem": CERTIFICATE}}),
        // PEM armor around something that is no RSA key.
        json!({"certificate": {"privateKeyPem": "-----BEGIN PRIVATE KEY-----\nMIIBVQIBADANBgkqhkiG9w0BAQEFAASCAT8wggE7AgEAAkEA\n-----END PRIVATE KEY-----", "certificatePem": CERTIFICATE}}),
        json!({"clientSecret": ""}),
    ] {
        let answer = app
            .gql(Some(&token), SET, json!({"i": input(&tenant, bad.clone())}))
            .await;
        assert_eq!(
            error_code(&answer),
            Some("BAD_USER_INPUT"),
            "{bad}: {answer}"
        );
    }
    let mut bad_directory = input(&tenant, json!({"clientSecret": SECRET}));
    bad_directory["directoryTenantId"] = json!("../other");
    let answer = app
        .gql(Some(&token), SET, json!({"i": bad_directory}))
        .await;
    assert_eq!(error_code(&answer), Some("BAD_USER_INPUT"), "{answer}");

    // Cleared: gone, and audited.
    let data = app
        .gql_ok(
            &token,
            "mutation($t: ID!) { clearTenantConnection(input: {tenantId: $t}) { connection { clientId } } }",
            json!({"t": tenant}),
        )
        .await;
    assert_eq!(data["clearTenantConnection"]["connection"], Value::Null);
    assert!(
        tenant_connection::Entity::find()
            .all(&app.db)
            .await
            .expect("rows")
            .is_empty()
    );
}

#[tokio::test]
async fn without_a_server_key_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let (token, tenant) = setup(&app).await;
    let answer = app
        .gql(
            Some(&token),
            SET,
            json!({"i": input(&tenant, json!({"clientSecret": SECRET}))}),
        )
        .await;
    assert_eq!(error_code(&answer), Some("BAD_USER_INPUT"), "{answer}");
    assert!(answer.to_string().contains("DRIFT_SECRET_KEY"), "{answer}");
    assert!(!answer.to_string().contains(SECRET));
    assert!(
        tenant_connection::Entity::find()
            .all(&app.db)
            .await
            .expect("rows")
            .is_empty()
    );
}
