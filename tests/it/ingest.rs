//! Ingestion over GraphQL: inventory syncs and policy versions from the real
//! corpus, through the real server.

use drift_engine::db::{jsonb_key_order, jsonb_text};
use drift_engine::evidence::hash::hash_value;
use drift_engine::evidence::ingest;
use entity::{evidence_blob, operation_run, policy_version, tenant};
use sea_orm::{ConnectionTrait, DbBackend, EntityTrait, PaginatorTrait, Statement};
use serde_json::{Value, json};

use crate::common::{TestApp, TestDb, error_code};
use crate::corpus::{corpus_files, load};

const SYNC: &str = r#"mutation($input: RecordInventorySyncInput!) {
  recordInventorySync(input: $input) {
    id type status outcome summaryCounts
    inventoryCoverage { policyType status itemCount error }
    warnings { policyType reason }
  }
}"#;

const VERSIONS: &str = r#"mutation($input: RecordPolicyVersionsInput!) {
  recordPolicyVersions(input: $input) {
    id type status outcome summaryCounts
    warnings { policyType externalId reason }
  }
}"#;

const ITEMS: &str = r#"query($t: ID!, $first: Int, $removed: Boolean) {
  tenant(id: $t) {
    inventoryItems(first: $first, includeRemoved: $removed) {
      totalCount
      edges { node { id policyType externalId displayName metaHash removedAt
        currentEvidence { hash provenance { fidelity source observedAt observedOperationRunId } } } }
    }
  }
}"#;

/// The corpus as one tenant's inventory: (policy type, external id, payload).
fn corpus_subjects() -> Vec<(String, String, Value)> {
    corpus_files()
        .into_iter()
        .enumerate()
        .map(|(i, (policy_type, path))| (policy_type, format!("corpus-{i:03}"), load(&path)))
        .collect()
}

fn sync_input(tenant: &str, subjects: &[(String, String, Value)], failed: &[&str]) -> Value {
    let mut types: Vec<&str> = subjects.iter().map(|s| s.0.as_str()).collect();
    types.extend_from_slice(failed);
    types.sort();
    types.dedup();
    json!({
        "tenantId": tenant,
        "policyTypes": types.iter().map(|t| if failed.contains(t) {
            json!({"policyType": t, "status": "FAILED", "error": "Graph returned 503"})
        } else {
            json!({"policyType": t, "status": "SUCCEEDED", "itemCount": subjects.iter().filter(|s| s.0 == *t).count()})
        }).collect::<Vec<_>>(),
        "items": subjects.iter().filter(|s| !failed.contains(&s.0.as_str())).map(|(t, id, payload)| json!({
            "policyType": t,
            "externalId": id,
            "displayName": payload.get("displayName").or(payload.get("name")).and_then(Value::as_str).unwrap_or(id),
            "meta": {"@odata.type": payload.get("@odata.type"), "displayName": payload.get("displayName").or(payload.get("name"))},
        })).collect::<Vec<_>>(),
    })
}

#[tokio::test]
async fn corpus_ingestion_end_to_end() {
    let app = TestApp::spawn().await;
    let (_, token) = app.user("sync@example.com").await;
    let (_, tenant) = app.workspace_with_tenant(&token).await;
    let subjects = corpus_subjects();

    let data = app
        .gql_ok(
            &token,
            SYNC,
            json!({"input": sync_input(&tenant, &subjects, &[])}),
        )
        .await;
    let run = &data["recordInventorySync"];
    assert_eq!(run["type"], "INVENTORY_SYNC");
    assert_eq!(run["status"], "COMPLETED");
    assert_eq!(run["outcome"], "SUCCEEDED");
    assert_eq!(run["summaryCounts"]["items_total"], subjects.len());
    let coverage = run["inventoryCoverage"].as_array().expect("coverage");
    assert_eq!(coverage.len(), 6);
    assert!(coverage.iter().all(|c| c["status"] == "succeeded"));

    let versions: Vec<Value> = subjects
        .iter()
        .map(|(t, id, payload)| json!({"policyType": t, "externalId": id, "content": payload}))
        .collect();
    let data = app
        .gql_ok(
            &token,
            VERSIONS,
            json!({"input": {"tenantId": tenant, "versions": versions}}),
        )
        .await;
    let run = &data["recordPolicyVersions"];
    assert_eq!(run["type"], "POLICY_CAPTURE");
    assert_eq!(run["outcome"], "SUCCEEDED", "{run}");
    assert_eq!(run["summaryCounts"]["versions_normalized"], subjects.len());
    assert_eq!(run["warnings"], json!([]));

    // Content-identical exports share a blob; no blob holds a tenant
    // identifier. Assignment sets are blobs of their own, holding names.
    let blobs = evidence_blob::Entity::find()
        .all(&app.db)
        .await
        .expect("blobs");
    let stored_versions = policy_version::Entity::find()
        .all(&app.db)
        .await
        .expect("stored_versions");
    let content_hashes: std::collections::HashSet<String> = stored_versions
        .iter()
        .filter_map(|v| v.content_hash.clone())
        .collect();
    let assignment_hashes: std::collections::HashSet<String> = stored_versions
        .iter()
        .filter_map(|v| v.assignments_hash.clone())
        .collect();
    let with_assignments = stored_versions
        .iter()
        .filter(|v| v.content.get("assignments").is_some())
        .count();
    assert!(with_assignments > 0, "the corpus has assigned policies");
    assert_eq!(
        stored_versions
            .iter()
            .filter(|v| v.assignments_hash.is_some())
            .count(),
        with_assignments,
        "every version that carried assignments has their hash"
    );
    let content_blobs = blobs
        .iter()
        .filter(|b| content_hashes.contains(&b.hash))
        .count();
    assert!(
        content_blobs < subjects.len(),
        "identical content is stored once"
    );
    assert_eq!(
        blobs.len(),
        content_blobs + assignment_hashes.len(),
        "every blob is content or an assignment set"
    );
    for blob in &blobs {
        let text = blob.content.to_string();
        let needles: &[&str] = if assignment_hashes.contains(&blob.hash) {
            // Names, never ids: the corpus's assignment and source ids.
            &[
                "\"groupId\"",
                "sourceId",
                "a8994b69",
                "070e9f28",
                "_add56c8b",
            ]
        } else {
            &[
                "\"assignments\"",
                "\"groupId\"",
                "roleScopeTagIds",
                "Privileged Workstation Users",
                "Emergency Breakglass",
            ]
        };
        for needle in needles {
            assert!(!text.contains(needle), "blob {} holds {needle}", blob.hash);
        }
        // What is stored is the content that was hashed.
        assert_eq!(hash_value(&blob.content), blob.hash, "{}", blob.byte_size);
    }
    assert!(
        blobs.iter().any(|b| b
            .content
            .to_string()
            .contains("exclusionGroup:Emergency Breakglass")),
        "assignments are compared by group name"
    );
    assert_eq!(
        run["summaryCounts"]["blobs_total"],
        blobs.len(),
        "the run counts the blobs it stored"
    );

    // Every item now shows content evidence from the version just recorded.
    let data = app
        .gql_ok(&token, ITEMS, json!({"t": tenant, "first": 100}))
        .await;
    let items = data["tenant"]["inventoryItems"]["edges"]
        .as_array()
        .expect("edges");
    assert_eq!(items.len(), subjects.len());
    for edge in items {
        let evidence = &edge["node"]["currentEvidence"];
        assert_eq!(evidence["provenance"]["fidelity"], "CONTENT", "{edge}");
        assert_eq!(evidence["provenance"]["source"], "POLICY_VERSION");
        assert_eq!(evidence["provenance"]["observedOperationRunId"], run["id"]);
    }

    // The page's evidence is resolved in batches: 5 items or 50 cost the same.
    let (small, _) = app
        .count_statements(&token, ITEMS, json!({"t": tenant, "first": 5}))
        .await;
    let (large, _) = app
        .count_statements(&token, ITEMS, json!({"t": tenant, "first": 50}))
        .await;
    assert_eq!(small, large, "statements must not grow with the page");
    assert!(
        large <= 8,
        "a page of items with evidence costs {large} statements"
    );

    // A second sync that no longer lists one item marks it removed; a failed
    // type leaves its items alone.
    let mut fewer = subjects.clone();
    let dropped = fewer.remove(0);
    let failed_type = fewer.last().expect("some").0.clone();
    let data = app
        .gql_ok(
            &token,
            SYNC,
            json!({"input": sync_input(&tenant, &fewer, &[failed_type.as_str()])}),
        )
        .await;
    assert_eq!(
        data["recordInventorySync"]["outcome"],
        "PARTIALLY_SUCCEEDED"
    );
    assert_eq!(
        data["recordInventorySync"]["summaryCounts"]["items_removed"],
        1
    );
    let failed = data["recordInventorySync"]["inventoryCoverage"]
        .as_array()
        .expect("coverage")
        .iter()
        .find(|c| c["policyType"] == failed_type.as_str())
        .cloned()
        .expect("failed type listed");
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["error"], "Graph returned 503");
    let data = app
        .gql_ok(
            &token,
            ITEMS,
            json!({"t": tenant, "first": 100, "removed": true}),
        )
        .await;
    let edges = data["tenant"]["inventoryItems"]["edges"]
        .as_array()
        .expect("edges")
        .clone();
    assert_eq!(edges.len(), subjects.len(), "removed items stay as history");
    let removed: Vec<&Value> = edges
        .iter()
        .filter(|e| !e["node"]["removedAt"].is_null())
        .collect();
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0]["node"]["externalId"], dropped.1.as_str());

    // The same content captured again stores versions but no new blob.
    let again = app
        .gql_ok(
            &token,
            VERSIONS,
            json!({"input": {"tenantId": tenant, "versions": versions}}),
        )
        .await;
    let again = &again["recordPolicyVersions"];
    assert_eq!(
        again["summaryCounts"]["versions_normalized"],
        subjects.len()
    );
    assert_eq!(again["summaryCounts"]["blobs_total"], 0, "{again}");
    let blobs_after = evidence_blob::Entity::find()
        .count(&app.db)
        .await
        .expect("count");
    assert_eq!(blobs_after as usize, blobs.len());
}

#[tokio::test]
async fn thousands_of_items_in_one_call() {
    let app = TestApp::spawn().await;
    let (_, token) = app.user("bulk@example.com").await;
    let (_, tenant) = app.workspace_with_tenant(&token).await;
    // A real ~9 KB device configuration, the typical size of a policy.
    let (_, template_path) = corpus_files()
        .into_iter()
        .find(|(_, p)| p.to_string_lossy().contains("level-1-iOS_iPadOS-personal"))
        .expect("template");
    let template = load(&template_path);
    let n = 2_000;
    let subjects: Vec<(String, String, Value)> = (0..n)
        .map(|i| {
            let mut payload = template.clone();
            payload["displayName"] = json!(format!("Policy {i}"));
            (
                "deviceConfigurations".to_owned(),
                format!("bulk-{i:05}"),
                payload,
            )
        })
        .collect();
    let data = app
        .gql_ok(
            &token,
            SYNC,
            json!({"input": sync_input(&tenant, &subjects, &[])}),
        )
        .await;
    assert_eq!(
        data["recordInventorySync"]["summaryCounts"]["items_upserted"],
        n
    );
    let versions: Vec<Value> = subjects
        .iter()
        .map(|(t, id, p)| json!({"policyType": t, "externalId": id, "content": p}))
        .collect();
    let data = app
        .gql_ok(
            &token,
            VERSIONS,
            json!({"input": {"tenantId": tenant, "versions": versions}}),
        )
        .await;
    assert_eq!(
        data["recordPolicyVersions"]["summaryCounts"]["versions_normalized"],
        n
    );
    assert_eq!(
        policy_version::Entity::find()
            .count(&app.db)
            .await
            .expect("count"),
        n as u64
    );
    let data = app
        .gql_ok(&token, ITEMS, json!({"t": tenant, "first": 1}))
        .await;
    assert_eq!(data["tenant"]["inventoryItems"]["totalCount"], n);
}

#[tokio::test]
async fn bad_evidence_input_is_refused_or_recorded_with_a_reason() {
    let app = TestApp::spawn().await;
    let (_, token) = app.user("bad@example.com").await;
    let (_, tenant) = app.workspace_with_tenant(&token).await;
    let runs_before = operation_run::Entity::find()
        .count(&app.db)
        .await
        .expect("count");

    // Duplicate subjects in one batch: refused as a whole, nothing written.
    let dup = json!({"policyType": "deviceConfigurations", "externalId": "x", "content": {"a": 1}});
    let body = app
        .gql(
            Some(&token),
            VERSIONS,
            json!({"input": {"tenantId": tenant, "versions": [dup, dup]}}),
        )
        .await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"));
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("deviceConfigurations/x")
    );
    let item = json!({"policyType": "deviceConfigurations", "externalId": "x", "displayName": "X"});
    for (input, needle) in [
        (
            json!({"tenantId": tenant, "policyTypes": [{"policyType": "deviceConfigurations", "status": "SUCCEEDED"}], "items": [item, item]}),
            "more than once",
        ),
        (
            json!({"tenantId": tenant, "policyTypes": [{"policyType": "deviceConfigurations", "status": "FAILED"}], "items": [item]}),
            "FAILED",
        ),
        (
            json!({"tenantId": tenant, "policyTypes": [{"policyType": "deviceConfigurations", "status": "SUCCEEDED", "itemCount": 5}], "items": [item]}),
            "full listing",
        ),
        (
            json!({"tenantId": tenant, "policyTypes": [{"policyType": "other", "status": "SUCCEEDED"}], "items": [item]}),
            "not in policyTypes",
        ),
        (
            json!({"tenantId": tenant, "policyTypes": [], "items": []}),
            "at least one",
        ),
        (
            json!({"tenantId": tenant, "policyTypes": [{"policyType": "deviceConfigurations", "status": "SUCCEEDED"}], "items": [{"policyType": "deviceConfigurations", "externalId": "", "displayName": "X"}]}),
            "externalId",
        ),
        (
            json!({"tenantId": tenant, "policyTypes": [{"policyType": "deviceConfigurations", "status": "SUCCEEDED"}], "items": [{"policyType": "deviceConfigurations", "externalId": "y", "displayName": "Y", "meta": [1]}]}),
            "JSON object",
        ),
    ] {
        let body = app.gql(Some(&token), SYNC, json!({"input": input})).await;
        assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .unwrap_or_default()
                .contains(needle),
            "{needle}: {body}"
        );
    }
    assert_eq!(
        operation_run::Entity::find()
            .count(&app.db)
            .await
            .expect("count"),
        runs_before,
        "nothing was written"
    );

    // Nesting beyond the JSON parser's limit: a clear 400.
    let mut deep = json!(1);
    for _ in 0..200 {
        deep = json!({"n": deep});
    }
    let body: Value = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(&token)
        .body(json!({"query": VERSIONS, "variables": {"input": {"tenantId": tenant, "versions": [{"policyType": "x", "externalId": "y", "content": deep}]}}}).to_string())
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");

    // Content that cannot be normalized is kept, with its reason, and no hash.
    let mut nested = json!(1);
    for _ in 0..80 {
        nested = json!({"n": nested});
    }
    let huge = json!({"displayName": "big", "blob": "x".repeat(2_000_000)});
    let data = app
        .gql_ok(
            &token,
            VERSIONS,
            json!({"input": {"tenantId": tenant, "versions": [
                {"policyType": "deviceConfigurations", "externalId": "array", "content": [1, 2]},
                {"policyType": "deviceConfigurations", "externalId": "nested", "content": nested},
                {"policyType": "deviceConfigurations", "externalId": "huge", "content": huge},
                {"policyType": "madeUpPolicies", "externalId": "new", "content": {"a": 1}},
                {"policyType": "deviceConfigurations", "externalId": "text", "content": "a \"quoted\" \\ text"},
                {"policyType": "deviceConfigurations", "externalId": "id \"with\" \\ quotes, é and 🙂", "content": {"displayName": "Quoted"}},
            ]}}),
        )
        .await;
    let run = &data["recordPolicyVersions"];
    assert_eq!(run["outcome"], "PARTIALLY_SUCCEEDED");
    assert_eq!(run["summaryCounts"]["versions_total"], 6);
    assert_eq!(run["summaryCounts"]["versions_not_normalizable"], 3);
    let warnings = run["warnings"].as_array().expect("warnings");
    let reason = |id: &str| {
        warnings
            .iter()
            .find(|w| w["externalId"] == id)
            .and_then(|w| w["reason"].as_str())
            .unwrap_or_default()
            .to_owned()
    };
    assert!(reason("array").contains("not a JSON object"));
    assert!(reason("nested").contains("deeper than"));
    assert!(warnings.iter().any(|w| {
        w["policyType"] == "madeUpPolicies"
            && w["reason"]
                .as_str()
                .unwrap_or_default()
                .contains("not in the registry")
    }));
    // A JSON null payload, which the API's `JSON!` cannot carry but the
    // engine takes, is kept as JSON null.
    let tenant_row = tenant::Entity::find()
        .one(&app.db)
        .await
        .expect("query")
        .expect("the test's tenant");
    ingest::record_policy_versions(
        &app.db,
        None,
        &tenant_row,
        ingest::PolicyVersions {
            captured_at: chrono::Utc::now(),
            versions: vec![ingest::PolicyVersionInput {
                policy_type: "deviceConfigurations".to_owned(),
                external_id: "null".to_owned(),
                content: Value::Null,
            }],
        },
    )
    .await
    .expect("recorded");
    let stored = policy_version::Entity::find()
        .all(&app.db)
        .await
        .expect("versions");
    assert_eq!(stored.len(), 7, "nothing is lost");
    // Payloads and keys come back as they were sent, whatever they hold.
    let content = |id: &str| {
        stored
            .iter()
            .find(|v| v.external_id == id)
            .map(|v| v.content.clone())
    };
    assert_eq!(content("null"), Some(Value::Null));
    assert_eq!(content("text"), Some(json!("a \"quoted\" \\ text")));
    assert_eq!(
        content("id \"with\" \\ quotes, é and 🙂"),
        Some(json!({"displayName": "Quoted"}))
    );
    let array = stored
        .iter()
        .find(|v| v.external_id == "array")
        .expect("kept");
    assert!(array.content_hash.is_none());
    assert!(
        array
            .normalize_warning
            .as_deref()
            .unwrap_or_default()
            .contains("not a JSON object")
    );
    assert!(
        stored
            .iter()
            .find(|v| v.external_id == "huge")
            .expect("kept")
            .content_hash
            .is_some()
    );
}

/// Policy documents go to PostgreSQL with their keys in jsonb's own order, so
/// that the server's sort of each object finds it sorted: that order has to
/// be the server's.
#[tokio::test]
async fn jsonb_text_writes_keys_in_the_order_postgres_keeps() {
    let test_db = TestDb::new().await;
    if !test_db.is_postgres {
        eprintln!("skipped: the order is PostgreSQL's (set TEST_DATABASE_URL)");
        return;
    }
    let keys = [
        "bb", "a", "ab", "", "é", "z", "zz", "Z", "aa", "a b", "\u{e000}", "😀", "settings", "id",
    ];
    let object = Value::Object(keys.iter().map(|k| ((*k).to_owned(), json!(1))).collect());
    let row = test_db
        .db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT array_agg(k ORDER BY n) AS keys \
             FROM jsonb_object_keys($1::jsonb) WITH ORDINALITY AS t(k, n)",
            [jsonb_text(&object).into()],
        ))
        .await
        .expect("query")
        .expect("a row");
    let server_order: Vec<String> = row.try_get("", "keys").expect("keys");
    let mut ours: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
    ours.sort_by(|a, b| jsonb_key_order(a, b));
    assert_eq!(server_order, ours);
    assert!(jsonb_text(&object).starts_with(
        r#"{"":1,"Z":1,"a":1,"z":1,"aa":1,"ab":1,"bb":1,"id":1,"zz":1,"é":1,"a b":1"#
    ));
}
