//! Demo data from the real Intune corpus, so that a first start shows real
//! findings in GraphiQL: a workspace with a reference tenant and a branch
//! tenant, a profile, a captured baseline, a compare whose findings have both
//! fidelities, and a verification report.
//!
//! Everything goes through the engine's own front-door functions (directory,
//! ingestion, profiles, the run queue), exactly as the API would.

use std::path::Path;

use entity::enums::TenantKind;
use entity::{user, workspace, workspace_membership};
use include_dir::{Dir, include_dir};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect};
use serde_json::{Value, json};

use crate::auth::tokens;
use crate::bootstrap::BOOTSTRAP_EMAIL;
use crate::directory;
use crate::drift::profiles::{self, ProfileChanges, Scope};
use crate::drift::{capture, compare};
use crate::evidence::ingest::ListingGuard;
use crate::evidence::registry;
use crate::import::{self, Export};
use crate::runs::{queue, verification, worker};

/// The real exports (MIT, Microsoft; see LICENSES and README.md inside).
static CORPUS: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/tests/fixtures/intune");

pub const DEMO_WORKSPACE: &str = "Demo: Contoso MSP";
pub const REFERENCE_TENANT: &str = "Contoso HQ (reference)";
pub const BRANCH_TENANT: &str = "Fabrikam branch";

/// The policy drifted in the branch tenant: the current export in the
/// reference tenant, its oldest real revision in the branch.
const DRIFTED_CURRENT: &str = "managedAppPolicies/intune-config-frameworks/AppProtectionPolicies/level-3-enterprise-high-data-protection-Android.json";
const DRIFTED_OLD: &str = "_history/intune-config-frameworks/level-3-enterprise-high-data-protection-Android/01_2020-03-06_60dd5475cf23.json";
/// Left out of the branch tenant: a missing policy.
const MISSING: &str = "deviceConfigurations/securedworkstation/PAW/JSON/DeviceConfiguration/PAW-Win10-URLLockProxy-UI_25-11-2020-17-42-13.json";
/// Only in the branch tenant: an unexpected policy (a real older export,
/// under an id of its own).
const UNEXPECTED: &str = "_history/intune-config-frameworks/level-2-iOS-iPadOS-enhanced-security-compliance/01_2021-10-06_adb584ac6c39.json";
/// The type whose content the branch tenant never exported: its subjects
/// only have inventory metadata, so their findings are `meta`.
const META_ONLY_TYPE: &str = "deviceCompliancePolicies";
/// Renamed in the branch inventory: a `meta` difference.
const RENAMED: &str = "deviceCompliancePolicies/securedworkstation/ENT/JSON/DeviceCompliance/ENT-Compliance-Delayed.json";

#[derive(Debug)]
pub enum Outcome {
    /// The demo workspace exists already; nothing was changed.
    AlreadyLoaded {
        workspace_id: i64,
    },
    Loaded(Report),
}

#[derive(Debug)]
pub struct Report {
    pub workspace_id: i64,
    pub reference_tenant_id: i64,
    pub branch_tenant_id: i64,
    pub baseline_profile_id: i64,
    pub compare_run_id: i64,
    pub policies: usize,
    /// A token for the demo owner when this call created that user (shown
    /// once, never logged).
    pub new_owner_token: Option<String>,
    pub owner_email: String,
}

/// Loads the demo unless its workspace exists; the owner is the bootstrap
/// owner (created here, with a new token, on a database without one).
pub async fn load(db: &DatabaseConnection) -> anyhow::Result<Outcome> {
    let (owner, new_owner_token) = match user::Entity::find()
        .filter(user::Column::Email.eq(BOOTSTRAP_EMAIL))
        .one(db)
        .await?
    {
        Some(owner) => (owner, None),
        None => {
            let (owner, token) = tokens::create_for_email(db, BOOTSTRAP_EMAIL, "demo")
                .await
                .map_err(|e| anyhow::anyhow!("creating the demo owner: {e}"))?;
            (owner, Some(token))
        }
    };
    let existing: Option<i64> = workspace::Entity::find()
        .select_only()
        .column(workspace::Column::Id)
        .inner_join(workspace_membership::Entity)
        .filter(workspace::Column::Name.eq(DEMO_WORKSPACE))
        .filter(workspace_membership::Column::UserId.eq(owner.id))
        .into_tuple()
        .one(db)
        .await?;
    if let Some(workspace_id) = existing {
        return Ok(Outcome::AlreadyLoaded { workspace_id });
    }
    let fail = |what: &'static str| move |e: crate::error::Error| anyhow::anyhow!("{what}: {e}");

    let (ws, _) = directory::create_workspace(db, owner.id, DEMO_WORKSPACE)
        .await
        .map_err(fail("creating the demo workspace"))?;
    let reference = directory::create_tenant(
        db,
        owner.id,
        ws.id,
        REFERENCE_TENANT,
        TenantKind::Intune,
        None,
    )
    .await
    .map_err(fail("creating the reference tenant"))?;
    let branch =
        directory::create_tenant(db, owner.id, ws.id, BRANCH_TENANT, TenantKind::Intune, None)
            .await
            .map_err(fail("creating the branch tenant"))?;

    let reference_exports = current_exports()?;
    let policies = reference_exports.len();
    let branch_exports = branch_exports(&reference_exports)?;
    import::record_exports(
        db,
        &reference,
        reference_exports.clone(),
        &[],
        ListingGuard::default(),
        |_| true,
    )
    .await?;

    let mut types: Vec<String> = reference_exports
        .iter()
        .map(|e| e.policy_type.clone())
        .collect();
    types.sort();
    types.dedup();
    let profile = profiles::create_profile(
        db,
        owner.id,
        ws.id,
        ProfileChanges {
            name: Some("Windows and mobile security baseline".into()),
            description: Some(Some(
                "Captured from the reference tenant; every branch must match it.".into(),
            )),
            scope: Some(Scope {
                policy_types: types,
                foundation_types: vec![],
            }),
            ..ProfileChanges::default()
        },
    )
    .await
    .map_err(fail("creating the demo profile"))?;
    profiles::assign(db, owner.id, &profile, &branch)
        .await
        .map_err(fail("assigning the demo profile"))?;

    let settings = worker::WorkerSettings::default();
    queue::enqueue(db, capture::new_run(&profile, &reference, Some(owner.id))).await?;
    worker::drain(db, &settings).await?;
    // The branch reports after the capture: a compare reads content captured
    // since the baseline, and falls back to metadata for the rest.
    import::record_exports(
        db,
        &branch,
        branch_exports,
        &[],
        ListingGuard::default(),
        |e| e.policy_type != META_ONLY_TYPE,
    )
    .await?;
    let (compare_run, _) =
        queue::enqueue(db, compare::new_run(&profile, &branch, Some(owner.id))).await?;
    worker::drain(db, &settings).await?;
    queue::enqueue(db, verification::new_run(&branch, Some(owner.id))).await?;
    worker::drain(db, &settings).await?;

    Ok(Outcome::Loaded(Report {
        workspace_id: ws.id,
        reference_tenant_id: reference.id,
        branch_tenant_id: branch.id,
        baseline_profile_id: profile.id,
        compare_run_id: compare_run.id,
        policies,
        new_owner_token,
        owner_email: owner.email,
    }))
}

/// `policy_type`: needed for `_history` files, whose folder names no type.
fn parse(path: &str, policy_type: Option<&str>) -> anyhow::Result<Export> {
    let file = CORPUS
        .get_file(path)
        .ok_or_else(|| anyhow::anyhow!("the embedded corpus has no {path}"))?;
    import::parse_export(None, Path::new(path), file.contents(), policy_type)
        .map_err(|reason| anyhow::anyhow!("{path}: {reason}"))
}

/// Every current export of a supported type in the embedded corpus (not the
/// `_history` revisions); also the shapes benchmarks vary.
pub fn current_exports() -> anyhow::Result<Vec<Export>> {
    let mut paths = Vec::new();
    for dir in CORPUS.dirs() {
        let name = dir.path().to_string_lossy();
        if !registry::is_supported(&name) {
            continue;
        }
        collect_json(dir, &mut paths);
    }
    paths.sort();
    let mut exports = paths
        .iter()
        .map(|p| parse(p, None))
        .collect::<anyhow::Result<Vec<_>>>()?;
    import::dedupe(&mut exports);
    Ok(exports)
}

fn collect_json(dir: &Dir<'_>, out: &mut Vec<String>) {
    for file in dir.files() {
        if file.path().extension().is_some_and(|x| x == "json") {
            out.push(file.path().to_string_lossy().into_owned());
        }
    }
    for sub in dir.dirs() {
        collect_json(sub, out);
    }
}

/// The branch tenant: the reference exports with one policy at an older
/// real revision, one missing, one renamed, and one extra.
fn branch_exports(reference: &[Export]) -> anyhow::Result<Vec<Export>> {
    let find = |path: &str| -> anyhow::Result<Export> {
        let wanted = parse(path, None)?;
        reference
            .iter()
            .find(|e| e.path == wanted.path)
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("{path} is not among the reference exports"))
    };
    let drifted = find(DRIFTED_CURRENT)?;
    let missing = find(MISSING)?;
    let renamed = find(RENAMED)?;

    let mut branch: Vec<Export> = reference
        .iter()
        .filter(|e| e.path != missing.path)
        .cloned()
        .collect();
    for export in &mut branch {
        if export.path == drifted.path {
            let old = parse(DRIFTED_OLD, Some(&drifted.policy_type))?;
            export.content = old.content;
        } else if export.path == renamed.path {
            export.display_name = format!("{} (local copy)", export.display_name);
            export.content["displayName"] = Value::String(export.display_name.clone());
        }
    }
    let mut unexpected = parse(UNEXPECTED, Some(META_ONLY_TYPE))?;
    unexpected.external_id = "fabrikam-local-ios-compliance".to_owned();
    unexpected.display_name = "iOS compliance (kept locally)".to_owned();
    unexpected.content["displayName"] = json!(unexpected.display_name);
    branch.push(unexpected);
    Ok(branch)
}
