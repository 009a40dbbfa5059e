//! The resolver and ingestion against a real database.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{Duration, Utc};
use drift_engine::evidence::SubjectRef;
use drift_engine::evidence::resolver::{CHUNK_SIZE, resolve_current_state, resolve_present};
use entity::enums::{Fidelity, TenantKind};
use entity::{inventory_item, policy_version, tenant, workspace};
use sea_orm::{ActiveModelTrait, DatabaseConnection, EntityTrait, Set};
use serde_json::json;

use crate::common::TestDb;

pub async fn seed_tenant(db: &DatabaseConnection) -> tenant::Model {
    let ws = workspace::ActiveModel {
        name: Set("w".into()),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("workspace");
    tenant::ActiveModel {
        workspace_id: Set(ws.id),
        name: Set("t".into()),
        kind: Set(TenantKind::Intune),
        external_ref: Set(None),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("tenant")
}

pub fn subject(i: usize) -> SubjectRef {
    let policy_type = [
        "deviceConfigurations",
        "deviceCompliancePolicies",
        "configurationPolicies",
    ][i % 3];
    SubjectRef::new(policy_type, format!("policy-{i:06}"))
}

/// Inventory for every subject; content for the even ones.
pub async fn seed_subjects(db: &DatabaseConnection, tenant_id: i64, n: usize) {
    let now = Utc::now();
    let items: Vec<inventory_item::ActiveModel> = (0..n)
        .map(|i| {
            let s = subject(i);
            inventory_item::ActiveModel {
                tenant_id: Set(tenant_id),
                policy_type: Set(s.policy_type),
                display_name: Set(format!("Policy {i}")),
                meta_hash: Set(Some(format!("{i:064x}"))),
                meta_jsonb: Set(json!({"displayName": format!("Policy {i}")})),
                external_id: Set(s.external_id),
                first_seen_at: Set(now),
                last_seen_at: Set(now),
                last_seen_operation_run_id: Set(None),
                removed_at: Set(None),
                ..Default::default()
            }
        })
        .collect();
    for chunk in items.chunks(1000) {
        inventory_item::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(db)
            .await
            .expect("items");
    }
    let versions: Vec<policy_version::ActiveModel> = (0..n)
        .filter(|i| i % 2 == 0)
        .map(|i| {
            let s = subject(i);
            policy_version::ActiveModel {
                tenant_id: Set(tenant_id),
                policy_type: Set(s.policy_type),
                external_id: Set(s.external_id),
                captured_at: Set(now),
                operation_run_id: Set(None),
                content: Set(json!({})),
                content_hash: Set(Some(format!("{:064x}", i + 1_000_000))),
                normalize_warning: Set(None),
                created_at: Set(now),
                ..Default::default()
            }
        })
        .collect();
    for chunk in versions.chunks(1000) {
        policy_version::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(db)
            .await
            .expect("versions");
    }
}

fn counting(db: &DatabaseConnection) -> (DatabaseConnection, Arc<AtomicUsize>) {
    let counter = Arc::new(AtomicUsize::new(0));
    let mut counted = db.clone();
    let c = counter.clone();
    counted.set_metric_callback(move |_| {
        c.fetch_add(1, Ordering::SeqCst);
    });
    (counted, counter)
}

/// The resolver issues a fixed number of statements per chunk (one per
/// provider), however many subjects the batch holds.
#[tokio::test]
async fn statement_count_per_chunk_is_constant() {
    let test_db = TestDb::new().await;
    let tenant = seed_tenant(&test_db.db).await;
    seed_subjects(&test_db.db, tenant.id, 10_000).await;
    let (db, counter) = counting(&test_db.db);
    let mut per_chunk = Vec::new();
    for n in [10usize, 1_000, 10_000] {
        let subjects: Vec<SubjectRef> = (0..n).map(subject).collect();
        counter.store(0, Ordering::SeqCst);
        let resolution = resolve_current_state(&db, tenant.id, &subjects, None)
            .await
            .expect("resolve");
        let statements = counter.load(Ordering::SeqCst);
        let chunks = n.div_ceil(CHUNK_SIZE);
        per_chunk.push(statements as f64 / chunks as f64);

        assert_eq!(resolution.states.len(), n, "every subject resolved");
        let content = resolution
            .states
            .values()
            .filter(|s| s.evidence.provenance.fidelity == Fidelity::Content)
            .count();
        assert_eq!(content, n.div_ceil(2), "even subjects have content");
        let odd = resolution.get(&subject(1)).expect("odd subject");
        assert_eq!(odd.evidence.provenance.fidelity, Fidelity::Meta);
        assert_eq!(odd.evidence.hash, format!("{:064x}", 1));
        let even = resolution.get(&subject(0)).expect("even subject");
        assert_eq!(even.evidence.hash, format!("{:064x}", 1_000_000));
        assert_eq!(
            even.meta.as_ref().map(|m| m.hash.clone()),
            Some(format!("{:064x}", 0)),
            "meta rides along"
        );
    }
    assert_eq!(
        per_chunk,
        vec![2.0, 2.0, 2.0],
        "statements per chunk for 10, 1,000 and 10,000 subjects"
    );
}

/// Resolving a tenant's types reads each provider once, however many
/// subjects the tenant has, and agrees with resolving the same subjects as
/// a list (the two selections share one chain).
#[tokio::test]
async fn resolving_a_tenant_is_two_reads_and_agrees_with_the_list_resolver() {
    let test_db = TestDb::new().await;
    let types: Vec<String> = (0..3).map(|i| subject(i).policy_type).collect();
    let (db, counter) = counting(&test_db.db);
    for n in [10usize, 3_000] {
        let tenant = seed_tenant(&test_db.db).await;
        seed_subjects(&test_db.db, tenant.id, n).await;
        // Another tenant's evidence never leaks in.
        let other = seed_tenant(&test_db.db).await;
        seed_subjects(&test_db.db, other.id, 5).await;
        counter.store(0, Ordering::SeqCst);
        let presence = resolve_present(&db, tenant.id, &types, None, false)
            .await
            .expect("resolve");
        assert_eq!(
            counter.load(Ordering::SeqCst),
            2,
            "inventory and versions, one statement each, for {n} subjects"
        );
        assert_eq!(presence.subjects.len(), n);
        assert!(presence.warnings.is_empty());
        assert!(presence.subjects.iter().all(|s| s.meta_text.is_none()));

        let refs: Vec<SubjectRef> = (0..n).map(subject).collect();
        let listed = resolve_current_state(&test_db.db, tenant.id, &refs, None)
            .await
            .expect("list");
        for present in &presence.subjects {
            let key = SubjectRef::new(present.policy_type.clone(), present.external_id.clone());
            assert_eq!(present.state.as_ref(), listed.get(&key), "{key:?}");
        }
    }
}

/// Content older than `since` is ignored; content that did not normalize
/// falls back to meta with a warning; no evidence at all is a gap.
#[tokio::test]
async fn since_rule_and_fallbacks() {
    let test_db = TestDb::new().await;
    let db = &test_db.db;
    let tenant = seed_tenant(db).await;
    seed_subjects(db, tenant.id, 6).await;
    let since = Utc::now() + Duration::seconds(60);

    // Before `since`: every subject falls back to meta.
    let subjects: Vec<SubjectRef> = (0..6).map(subject).collect();
    let resolution = resolve_current_state(db, tenant.id, &subjects, Some(since))
        .await
        .expect("resolve");
    assert!(
        resolution
            .states
            .values()
            .all(|s| s.evidence.provenance.fidelity == Fidelity::Meta)
    );

    // A fresh but unnormalizable version of subject 0, a fresh good one of subject 2.
    let fresh = since + Duration::seconds(1);
    for (i, hash, warning) in [
        (
            0usize,
            None,
            Some("the payload is not a JSON object (got an array)"),
        ),
        (2, Some("f".repeat(64)), None),
    ] {
        let s = subject(i);
        policy_version::ActiveModel {
            tenant_id: Set(tenant.id),
            policy_type: Set(s.policy_type),
            external_id: Set(s.external_id),
            captured_at: Set(fresh),
            operation_run_id: Set(None),
            content: Set(json!([])),
            content_hash: Set(hash),
            normalize_warning: Set(warning.map(str::to_owned)),
            created_at: Set(fresh),
            ..Default::default()
        }
        .insert(db)
        .await
        .expect("version");
    }
    let mut with_gap = subjects.clone();
    with_gap.push(SubjectRef::new("deviceConfigurations", "never-seen"));
    let resolution = resolve_current_state(db, tenant.id, &with_gap, Some(since))
        .await
        .expect("resolve");
    let zero = resolution.get(&subject(0)).expect("subject 0");
    assert_eq!(
        zero.evidence.provenance.fidelity,
        Fidelity::Meta,
        "unnormalizable content falls back to meta"
    );
    assert_eq!(resolution.warnings.len(), 1);
    assert!(resolution.warnings[0].reason.contains("not normalizable"));
    assert_eq!(
        resolution.warnings[0].external_id.as_deref(),
        Some(subject(0).external_id.as_str())
    );
    let two = resolution.get(&subject(2)).expect("subject 2");
    assert_eq!(two.evidence.provenance.fidelity, Fidelity::Content);
    assert_eq!(
        two.evidence.provenance.observed_at.timestamp(),
        fresh.timestamp()
    );
    assert!(
        resolution
            .get(&SubjectRef::new("deviceConfigurations", "never-seen"))
            .is_none(),
        "a gap"
    );

    // Duplicate subjects in one batch resolve once each.
    let dupes = vec![subject(1), subject(1), subject(1)];
    let resolution = resolve_current_state(db, tenant.id, &dupes, None)
        .await
        .expect("resolve");
    assert_eq!(resolution.states.len(), 1);
}
