//! Baseline compare (profile × tenant): latest complete snapshot, `since` =
//! its capture time, coverage from the latest inventory syncs, the union of
//! baseline and current subjects, batched resolution, comparison at equal
//! fidelity only, and the finding lifecycle.

use std::collections::BTreeMap;

use indexmap::IndexMap;

/// Findings written once this many are pending. A batch holds fewer than
/// this plus one chunk of subjects, well inside both backends' bind limits.
const FINDINGS_BATCH: usize = 250;

/// (policy type, subject key) to what is known of it, in the order the
/// subjects were read. foldhash rather than SipHash: the maps hold every
/// subject of a tenant and are hashed a few times per subject; its seeded
/// quality variant keeps collisions random.
type SubjectMap<V> = IndexMap<(String, String), V, foldhash::quality::RandomState>;

use chrono::{DateTime, Utc};
use entity::enums::{CaptureMode, Fidelity, FindingType, RunOutcome, SnapshotStatus, SubjectMatch};
use entity::{baseline_profile, baseline_snapshot, baseline_snapshot_item, tenant};
use futures_util::TryStreamExt as _;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::findings::{self, Observed};
use super::profiles::{Scope, severity_for};
use super::subjects::{TypeCoverage, inventory_coverage, key_of};
use crate::evidence::resolver::{CHUNK_SIZE, CurrentState, resolve_present};
use crate::evidence::{Evidence, EvidenceSource, EvidenceWarning, Provenance};
use crate::governance::exclusions::{Rules, path_excluded, stored_patterns};
use crate::runs::identity_hash;
use crate::runs::queue::{Completion, NewRun};
use crate::runs::summary_counts;
use crate::runs::worker::{Finished, JobError, RunContext};

#[derive(Deserialize)]
pub struct CompareRequest {
    pub baseline_profile_id: i64,
    pub tenant_id: i64,
}

/// The queued run for a compare of `tenant` against `profile`; one identity
/// per (profile, tenant) whichever front door starts it.
pub fn new_run(
    profile: &baseline_profile::Model,
    tenant: &tenant::Model,
    initiator_user_id: Option<i64>,
) -> NewRun {
    NewRun {
        workspace_id: profile.workspace_id,
        tenant_id: tenant.id,
        run_type: entity::enums::RunType::BaselineCompare,
        initiator_user_id,
        run_identity_hash: run_identity(profile.id, tenant.id),
        context: json!({"baseline_compare": {"baseline_profile_id": profile.id, "tenant_id": tenant.id}}),
    }
}

/// The identity of every compare of `profile_id` on `tenant_id`.
pub fn run_identity(profile_id: i64, tenant_id: i64) -> String {
    identity_hash(&[
        "baseline_compare",
        &profile_id.to_string(),
        &tenant_id.to_string(),
    ])
}

/// A baseline item as read, by position: policy type, subject key, display
/// name, baseline hash, meta hash, `meta_jsonb` as text and the
/// assignments hash.
type BaselineRow = (
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    Option<String>,
);

/// A baseline item with its evidence parsed once, when it is loaded, not
/// once per look during the comparison.
struct Baseline {
    display_name: String,
    /// The evidence the capture chose (content where it had it).
    evidence: Option<Evidence>,
    /// The meta evidence, for comparing against a meta-only current side.
    meta_evidence: Option<Evidence>,
}

/// Provenance as a capture stores it in `meta_jsonb`, its time still text.
#[derive(Deserialize)]
struct StoredProvenance<'a> {
    fidelity: Fidelity,
    source: EvidenceSource,
    #[serde(borrow)]
    observed_at: std::borrow::Cow<'a, str>,
    observed_operation_run_id: Option<i64>,
}

/// The two sides a capture stores (other keys are ignored).
#[derive(Deserialize, Default)]
struct StoredSides<'a> {
    #[serde(borrow)]
    evidence: Option<StoredProvenance<'a>>,
    #[serde(borrow)]
    meta_evidence: Option<StoredProvenance<'a>>,
}

impl<'a> StoredSides<'a> {
    /// One malformed side must not hide the other, so a document the typed
    /// parse refuses is read again side by side.
    fn parse(text: &'a str) -> Self {
        if let Ok(sides) = serde_json::from_str::<StoredSides>(text) {
            return sides;
        }
        let Ok(value) = serde_json::from_str::<Value>(text) else {
            return StoredSides::default();
        };
        let side = |key: &str| {
            let provenance = StoredProvenance::deserialize(value.get(key)?).ok()?;
            // Owned: `value` is dropped here.
            Some(StoredProvenance {
                observed_at: provenance.observed_at.into_owned().into(),
                ..provenance
            })
        };
        StoredSides {
            evidence: side("evidence"),
            meta_evidence: side("meta_evidence"),
        }
    }
}

/// The times a baseline's items were observed, parsed once each. A capture
/// takes its items from a few runs (one inventory sync, a few policy
/// captures), so a snapshot of 100k items holds a handful of distinct times,
/// and parsing two per item was a twentieth of a compare.
#[derive(Default)]
struct ObservedTimes {
    recent: Vec<(String, DateTime<Utc>)>,
}

impl ObservedTimes {
    /// Distinct times remembered; beyond them the oldest is forgotten.
    const KEPT: usize = 8;

    /// Captures write RFC 3339 (chrono's serde form); `None` for text that
    /// is not a time.
    fn parse(&mut self, text: &str) -> Option<DateTime<Utc>> {
        if let Some((_, time)) = self.recent.iter().find(|(t, _)| t == text) {
            return Some(*time);
        }
        let time = DateTime::parse_from_rfc3339(text).ok()?.with_timezone(&Utc);
        if self.recent.len() == Self::KEPT {
            self.recent.remove(0);
        }
        self.recent.push((text.to_owned(), time));
        Some(time)
    }
}

fn with_hash(
    stored: Option<StoredProvenance>,
    hash: Option<String>,
    times: &mut ObservedTimes,
) -> Option<Evidence> {
    let stored = stored?;
    Some(Evidence {
        hash: hash?,
        provenance: Provenance {
            fidelity: stored.fidelity,
            source: stored.source,
            observed_at: times.parse(&stored.observed_at)?,
            observed_operation_run_id: stored.observed_operation_run_id,
        },
        assignments_hash: None,
    })
}

impl Baseline {
    /// From an item's hashes and its `meta_jsonb` as text, parsed straight
    /// into `StoredSides`.
    fn new(
        display_name: String,
        baseline_hash: Option<String>,
        meta_hash: Option<String>,
        meta_text: &str,
        times: &mut ObservedTimes,
    ) -> Self {
        let sides = StoredSides::parse(meta_text);
        let evidence = with_hash(sides.evidence, baseline_hash, times);
        let meta_evidence = with_hash(sides.meta_evidence, meta_hash, times).or_else(|| {
            // A meta-only baseline's chosen evidence is its meta evidence.
            evidence
                .clone()
                .filter(|e| e.provenance.source == EvidenceSource::Inventory)
        });
        Baseline {
            display_name,
            evidence,
            meta_evidence,
        }
    }
}

#[derive(Default)]
struct Tally {
    subjects: u64,
    resolved_content: u64,
    resolved_meta: u64,
    missing_baseline: u64,
    missing_current: u64,
    missing_both: u64,
    findings: u64,
    findings_new: u64,
    /// Findings an exclusion hid (whole subjects, or every change).
    excluded: u64,
    equal_at_content: u64,
    /// Content comparisons with `compareAssignments` where a side had no
    /// assignment set captured, so assignments were not compared.
    assignments_uncompared: u64,
}

/// What differs in a subject found different (`changedAspects`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Aspects {
    settings: bool,
    assignments: bool,
    metadata: bool,
}

impl Aspects {
    fn names(self) -> Vec<&'static str> {
        [
            (self.settings, "settings"),
            (self.assignments, "assignments"),
            (self.metadata, "metadata"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect()
    }
}

/// What one subject's comparison concluded.
enum Verdict {
    /// Equal; `content` when both sides were compared at content fidelity.
    Unchanged {
        content: bool,
        /// Assignments were to be compared but a side had none captured.
        assignments_uncompared: bool,
    },
    Finding {
        finding_type: FindingType,
        baseline: Option<Evidence>,
        current: Option<Evidence>,
        aspects: Aspects,
        assignments_uncompared: bool,
    },
    MissingBaseline,
    MissingCurrent,
    MissingBoth,
}

/// Content evidence keeps its assignment hash only where assignments are
/// compared: elsewhere a finding's sides are what they were before the
/// option existed.
fn kept(mut e: Evidence, with_assignments: bool) -> Evidence {
    if !with_assignments {
        e.assignments_hash = None;
    }
    e
}

/// The table of DESIGN.md, with hashes compared only at equal fidelity.
/// `with_assignments`: the profile compares assignment sets too, where
/// both sides are content and both carry one.
fn judge(
    baseline: Option<&Baseline>,
    present: bool,
    current: Option<&CurrentState>,
    with_assignments: bool,
) -> Verdict {
    match (baseline, present) {
        (None, false) => Verdict::Unchanged {
            content: false,
            assignments_uncompared: false,
        },
        (Some(b), false) => match b.evidence.clone() {
            Some(e) => Verdict::Finding {
                finding_type: FindingType::MissingPolicy,
                baseline: Some(kept(e, with_assignments)),
                current: None,
                aspects: Aspects::default(),
                assignments_uncompared: false,
            },
            None => Verdict::MissingBaseline,
        },
        (None, true) => match current {
            Some(c) => Verdict::Finding {
                finding_type: FindingType::UnexpectedPolicy,
                baseline: None,
                current: Some(kept(c.evidence.clone(), with_assignments)),
                aspects: Aspects::default(),
                assignments_uncompared: false,
            },
            None => Verdict::MissingCurrent,
        },
        (Some(b), true) => {
            // References until a finding needs its own copy: most subjects
            // are unchanged.
            let (base, cur) = match (b.evidence.as_ref(), current) {
                (None, None) => return Verdict::MissingBoth,
                (None, Some(_)) => return Verdict::MissingBaseline,
                (Some(_), None) => return Verdict::MissingCurrent,
                (Some(base), Some(cur)) => (base, cur),
            };
            let both_content = base.provenance.fidelity == Fidelity::Content
                && cur.evidence.provenance.fidelity == Fidelity::Content;
            let (base, cur) = if both_content {
                (base, &cur.evidence)
            } else {
                // One side is meta: compare meta with meta, never content with meta.
                match (b.meta_evidence.as_ref(), cur.meta.as_ref()) {
                    (Some(bm), Some(cm)) => (bm, cm),
                    (None, Some(_)) => return Verdict::MissingBaseline,
                    (Some(_), None) => return Verdict::MissingCurrent,
                    (None, None) => return Verdict::MissingBoth,
                }
            };
            let compare_assignments = with_assignments && both_content;
            let (assignments_differ, assignments_uncompared) = if compare_assignments {
                match (&base.assignments_hash, &cur.assignments_hash) {
                    (Some(a), Some(b)) => (a != b, false),
                    _ => (false, true),
                }
            } else {
                (false, false)
            };
            let aspects = Aspects {
                settings: both_content && base.hash != cur.hash,
                assignments: assignments_differ,
                metadata: !both_content && base.hash != cur.hash,
            };
            if aspects == Aspects::default() {
                Verdict::Unchanged {
                    content: both_content,
                    assignments_uncompared,
                }
            } else {
                Verdict::Finding {
                    finding_type: FindingType::DifferentVersion,
                    baseline: Some(kept(base.clone(), compare_assignments)),
                    current: Some(kept(cur.clone(), compare_assignments)),
                    aspects,
                    assignments_uncompared,
                }
            }
        }
    }
}

fn side_json(e: &Option<Evidence>) -> Value {
    match e {
        None => Value::Null,
        Some(e) => {
            let mut side = json!({"hash": e.hash, "provenance": e.provenance});
            if let Some(a) = &e.assignments_hash {
                side["assignments_hash"] = json!(a);
            }
            side
        }
    }
}

/// The weaker of the two sides (meta if either side is meta).
fn overall_fidelity(a: &Option<Evidence>, b: &Option<Evidence>) -> Fidelity {
    let meta = [a, b]
        .iter()
        .filter_map(|e| e.as_ref())
        .any(|e| e.provenance.fidelity == Fidelity::Meta);
    if meta {
        Fidelity::Meta
    } else {
        Fidelity::Content
    }
}

/// The snapshot's items of the covered types in (policy type, subject key)
/// order, which the unique subject index yields without a sort, streamed,
/// each item's evidence parsed from its text into typed provenance as it
/// arrives: holding every row and a JSON tree per item was most of a
/// compare's memory and a third of its time at 100k.
async fn load_baseline(
    db: DatabaseConnection,
    snapshot: baseline_snapshot::Model,
    covered: Vec<String>,
) -> Result<SubjectMap<Baseline>, DbErr> {
    if covered.is_empty() {
        return Ok(SubjectMap::default());
    }
    // Sized from the item count the capture recorded (bounded, in case the
    // row was edited): grown by doubling, the map held a third more than
    // its items and, while growing, both sizes at once.
    let expected = usize::try_from(snapshot.item_count).unwrap_or(0);
    let mut baseline_by_key =
        SubjectMap::with_capacity_and_hasher(expected.min(1 << 22), Default::default());
    let snapshot_id = snapshot.id;
    let mut items = baseline_snapshot_item::Entity::find()
        .select_only()
        .columns([
            baseline_snapshot_item::Column::PolicyType,
            baseline_snapshot_item::Column::SubjectKey,
            baseline_snapshot_item::Column::DisplayName,
            baseline_snapshot_item::Column::BaselineHash,
            baseline_snapshot_item::Column::MetaHash,
        ])
        .expr_as(Expr::cust("CAST(meta_jsonb AS TEXT)"), "meta_text")
        .column(baseline_snapshot_item::Column::AssignmentsHash)
        .filter(baseline_snapshot_item::Column::BaselineSnapshotId.eq(snapshot_id))
        .filter(baseline_snapshot_item::Column::PolicyType.is_in(covered))
        .order_by_asc(baseline_snapshot_item::Column::PolicyType)
        .order_by_asc(baseline_snapshot_item::Column::SubjectKey)
        .into_tuple::<BaselineRow>()
        .stream(&db)
        .await?;
    let mut times = ObservedTimes::default();
    while let Some((
        policy_type,
        subject_key,
        display_name,
        baseline_hash,
        meta_hash,
        meta_text,
        assignments_hash,
    )) = items.try_next().await?
    {
        let mut baseline = Baseline::new(
            display_name,
            baseline_hash,
            meta_hash,
            &meta_text,
            &mut times,
        );
        if let Some(e) = baseline.evidence.as_mut()
            && e.provenance.fidelity == Fidelity::Content
        {
            e.assignments_hash = assignments_hash;
        }
        baseline_by_key.insert((policy_type, subject_key), baseline);
    }
    Ok(baseline_by_key)
}

/// What other profiles assigned to the tenant expect of the same subject
/// keys, where they expect another hash at the same fidelity: (policy
/// type, subject key) to (profile id, expected hash). Three queries: the
/// other assignments, their latest complete snapshots, and those
/// snapshots' items of the covered types (streamed; only keys this
/// baseline has are kept).
async fn conflicting_expectations(
    db: &DatabaseConnection,
    tenant_id: i64,
    profile_id: i64,
    covered: &[String],
    baseline: &SubjectMap<Baseline>,
) -> Result<BTreeMap<(String, String), Vec<(i64, String)>>, DbErr> {
    use entity::baseline_tenant_assignment;
    let mut out: BTreeMap<(String, String), Vec<(i64, String)>> = BTreeMap::new();
    if covered.is_empty() || baseline.is_empty() {
        return Ok(out);
    }
    let others: Vec<i64> = baseline_tenant_assignment::Entity::find()
        .select_only()
        .column(baseline_tenant_assignment::Column::BaselineProfileId)
        .filter(baseline_tenant_assignment::Column::TenantId.eq(tenant_id))
        .filter(baseline_tenant_assignment::Column::BaselineProfileId.ne(profile_id))
        .into_tuple()
        .all(db)
        .await?;
    if others.is_empty() {
        return Ok(out);
    }
    let snapshots: Vec<(i64, i64, DateTime<Utc>)> = baseline_snapshot::Entity::find()
        .select_only()
        .columns([
            baseline_snapshot::Column::Id,
            baseline_snapshot::Column::BaselineProfileId,
            baseline_snapshot::Column::CapturedAt,
        ])
        .filter(baseline_snapshot::Column::BaselineProfileId.is_in(others))
        .filter(baseline_snapshot::Column::Status.eq(SnapshotStatus::Complete))
        .into_tuple()
        .all(db)
        .await?;
    let mut latest: BTreeMap<i64, (DateTime<Utc>, i64)> = BTreeMap::new();
    for (id, profile, at) in snapshots {
        let entry = latest.entry(profile).or_insert((at, id));
        if (at, id) > *entry {
            *entry = (at, id);
        }
    }
    let profile_of: BTreeMap<i64, i64> = latest.iter().map(|(p, (_, s))| (*s, *p)).collect();
    if profile_of.is_empty() {
        return Ok(out);
    }
    let mut items = baseline_snapshot_item::Entity::find()
        .select_only()
        .columns([
            baseline_snapshot_item::Column::BaselineSnapshotId,
            baseline_snapshot_item::Column::PolicyType,
            baseline_snapshot_item::Column::SubjectKey,
            baseline_snapshot_item::Column::BaselineHash,
            baseline_snapshot_item::Column::MetaHash,
        ])
        .expr_as(Expr::cust("CAST(meta_jsonb AS TEXT)"), "meta_text")
        .filter(
            baseline_snapshot_item::Column::BaselineSnapshotId
                .is_in(profile_of.keys().copied().collect::<Vec<_>>()),
        )
        .filter(baseline_snapshot_item::Column::PolicyType.is_in(covered.to_vec()))
        .into_tuple::<(i64, String, String, Option<String>, Option<String>, String)>()
        .stream(db)
        .await?;
    let mut times = ObservedTimes::default();
    while let Some((snapshot_id, policy_type, subject_key, hash, meta_hash, meta_text)) =
        items.try_next().await?
    {
        let key = (policy_type, subject_key);
        let Some(ours) = baseline.get(&key) else {
            continue;
        };
        let theirs = Baseline::new(String::new(), hash, meta_hash, &meta_text, &mut times);
        // At equal fidelity only: content with content, else meta with meta.
        let both_content = [&ours.evidence, &theirs.evidence].iter().all(|e| {
            e.as_ref()
                .is_some_and(|e| e.provenance.fidelity == Fidelity::Content)
        });
        let (a, b) = if both_content {
            (&ours.evidence, &theirs.evidence)
        } else {
            (&ours.meta_evidence, &theirs.meta_evidence)
        };
        if let (Some(a), Some(b)) = (a, b)
            && a.hash != b.hash
            && let Some(profile) = profile_of.get(&snapshot_id)
        {
            out.entry(key).or_default().push((*profile, b.hash.clone()));
        }
    }
    Ok(out)
}

/// Conflicts listed in a compare's context; all are counted.
const MAX_LISTED_CONFLICTS: usize = 500;

/// Drops the setting changes that path exclusions hide from findings of
/// subjects that differ at content fidelity, reading both sides' blobs in
/// one query. Each check comes back `Ok` with the finding that remains
/// (with the count of hidden changes), or `Err` when it hid every change.
async fn apply_path_exclusions(
    db: &DatabaseConnection,
    checks: Vec<Observed>,
    warnings: &mut Vec<EvidenceWarning>,
) -> Result<Vec<std::result::Result<Observed, Observed>>, DbErr> {
    let wanted: Vec<String> = checks
        .iter()
        .flat_map(|o| crate::evidence::diff::finding_blob_pairs(&o.evidence))
        .flat_map(|(a, b)| [a, b])
        .collect();
    let blobs = crate::evidence::blobs::load(db, wanted).await?;
    let mut out = Vec::with_capacity(checks.len());
    for mut o in checks {
        let Ok(changes) = crate::evidence::diff::finding_changes(&o.evidence, &blobs) else {
            warnings.push(EvidenceWarning {
                code: Some("exclusion_not_applied".into()),
                policy_type: o.policy_type.clone(),
                external_id: None,
                reason: "the normalized content of a side is not stored, so setting-path exclusions could not be applied; the finding is kept whole".into(),
            });
            out.push(Ok(o));
            continue;
        };
        let patterns = stored_patterns(&o.evidence);
        let hidden = changes
            .iter()
            .filter(|c| path_excluded(&patterns, &c.path))
            .count();
        if hidden == changes.len() {
            out.push(Err(o));
        } else {
            o.evidence["excluded_changes"] = json!(hidden);
            out.push(Ok(o));
        }
    }
    Ok(out)
}

pub async fn execute(ctx: &RunContext) -> Result<Finished, JobError> {
    let db = &ctx.db;
    let run = &ctx.run;
    let request: CompareRequest = serde_json::from_value(run.context["baseline_compare"].clone())
        .map_err(|_| JobError::Failed {
        reason_code: "invalid_request",
        message: "the run does not name a profile and a tenant".into(),
    })?;
    let profile = baseline_profile::Entity::find_by_id(request.baseline_profile_id)
        .one(db)
        .await?
        .ok_or(JobError::Failed {
            reason_code: "profile_not_found",
            message: "the baseline profile no longer exists".into(),
        })?;
    let tenant = tenant::Entity::find_by_id(request.tenant_id)
        .one(db)
        .await?
        .ok_or(JobError::Failed {
            reason_code: "tenant_not_found",
            message: "the tenant no longer exists".into(),
        })?;
    let snapshot = baseline_snapshot::Entity::find()
        .filter(baseline_snapshot::Column::BaselineProfileId.eq(profile.id))
        .filter(baseline_snapshot::Column::Status.eq(SnapshotStatus::Complete))
        .order_by_desc(baseline_snapshot::Column::CapturedAt)
        .order_by_desc(baseline_snapshot::Column::Id)
        .one(db)
        .await?
        .ok_or(JobError::Failed {
            reason_code: "no_baseline_snapshot",
            message: "the profile has no complete baseline snapshot; run a baseline capture first"
                .into(),
        })?;
    let since: DateTime<Utc> = snapshot.captured_at;
    let types = Scope::of(&profile).effective_types();

    // Coverage: only types the latest sync proved complete are compared.
    let coverage = inventory_coverage(db, tenant.id, &types).await?;
    let covered: Vec<String> = coverage
        .iter()
        .filter(|(_, c)| matches!(c, TypeCoverage::Covered(_)))
        .map(|(t, _)| t.clone())
        .collect();
    // FULL_CONTENT: content older than the subject's latest listing is
    // fetched again first, when the tenant has a connection.
    let content_capture = if profile.capture_mode == CaptureMode::FullContent {
        crate::collector::content::refresh_before(ctx, tenant.id, &covered).await?
    } else {
        None
    };

    // The baseline and the tenant's present state are independent reads:
    // the baseline loads on another task (and, on PostgreSQL, another
    // connection) while the resolver reads the tenant.
    let baseline_load = tokio::spawn(load_baseline(db.clone(), snapshot.clone(), covered.clone()));
    // Every present subject of the covered types with its current state:
    // the same chain as capture, each provider read in one stream.
    let presence = match resolve_present(
        db,
        tenant.id,
        &covered,
        Some(since),
        profile.subject_match == SubjectMatch::DisplayName,
    )
    .await
    {
        Ok(presence) => presence,
        Err(e) => {
            baseline_load.abort();
            return Err(e.into());
        }
    };
    let baseline_by_key = baseline_load.await.map_err(|e| JobError::Failed {
        reason_code: "internal",
        message: format!("loading the baseline stopped: {e}"),
    })??;
    let conflicts =
        conflicting_expectations(db, tenant.id, profile.id, &covered, &baseline_by_key).await?;
    let present = presence.subjects;
    let mut warnings: Vec<EvidenceWarning> = presence.warnings;
    let mut current_by_key: SubjectMap<usize> =
        SubjectMap::with_capacity_and_hasher(present.len(), Default::default());
    for (i, subject) in present.iter().enumerate() {
        let key = (
            subject.policy_type.clone(),
            key_of(profile.subject_match, subject),
        );
        if current_by_key.contains_key(&key) {
            warnings.push(EvidenceWarning {
                code: None,
                policy_type: subject.policy_type.clone(),
                external_id: Some(subject.external_id.clone()),
                reason: format!(
                    "another subject of this tenant has the key `{}`; it was compared once",
                    key.1
                ),
            });
            continue;
        }
        current_by_key.insert(key, i);
    }
    // Subjects in (policy type, key) order: the baseline's, then the
    // tenant's that the baseline lacks. Both are read in that order (see
    // `load_baseline` and `resolve_present`), so the two runs are usually
    // sorted already, and a stable sort, which finds and merges runs, orders
    // them in linear time; an unsorted read costs a full sort, not a wrong
    // result. Sorting every key from scratch was a tenth of a compare.
    let mut keys: Vec<&(String, String)> = baseline_by_key
        .keys()
        .chain(
            current_by_key
                .keys()
                .filter(|k| !baseline_by_key.contains_key(*k)),
        )
        .collect();
    keys.sort();
    let total = keys.len() as i64;
    ctx.progress(0, total).await?;

    let mut per_type: BTreeMap<String, Tally> = BTreeMap::new();
    let mut tally = Tally::default();
    let now = Utc::now();
    let rules = Rules::active(db, profile.id, tenant.id, now).await?;
    // Subjects an exclusion hid in this compare: their findings, if any
    // remain from before, are resolved as `excluded`.
    let mut excluded_keys: Vec<(String, String)> = Vec::new();
    // Findings are written in batches of their own: with 1% drift a chunk
    // of subjects holds about five, and a statement pair per chunk was a
    // fifth of a compare at 100k on PostgreSQL.
    let mut observed = Vec::new();
    // Findings whose setting changes an exclusion may hide: diffed per
    // chunk, their blobs read in one query.
    let mut path_checks: Vec<Observed> = Vec::new();
    for (n, chunk) in keys.chunks(CHUNK_SIZE).enumerate() {
        let before = observed.len();
        for key in chunk {
            let baseline = baseline_by_key.get(*key);
            let present = current_by_key.get(*key).map(|&i| &present[i]);
            let state = present.and_then(|s| s.state.as_ref());
            let t = match per_type.get_mut(&key.0) {
                Some(t) => t,
                None => per_type.entry(key.0.clone()).or_default(),
            };
            t.subjects += 1;
            tally.subjects += 1;
            if let Some(state) = state {
                let (a, b) = match state.evidence.provenance.fidelity {
                    Fidelity::Content => (&mut t.resolved_content, &mut tally.resolved_content),
                    Fidelity::Meta => (&mut t.resolved_meta, &mut tally.resolved_meta),
                };
                *a += 1;
                *b += 1;
            }
            match judge(
                baseline,
                present.is_some(),
                state,
                profile.compare_assignments,
            ) {
                Verdict::Unchanged {
                    content,
                    assignments_uncompared,
                } => {
                    if content {
                        tally.equal_at_content += 1;
                    }
                    tally.assignments_uncompared += u64::from(assignments_uncompared);
                }
                Verdict::MissingBaseline => tally.missing_baseline += 1,
                Verdict::MissingCurrent => tally.missing_current += 1,
                Verdict::MissingBoth => tally.missing_both += 1,
                Verdict::Finding {
                    finding_type,
                    baseline: base,
                    current: cur,
                    aspects,
                    assignments_uncompared,
                } => {
                    tally.assignments_uncompared += u64::from(assignments_uncompared);
                    let display_name = present
                        .map(|s| s.display_name.clone())
                        .or_else(|| baseline.map(|b| b.display_name.clone()))
                        .unwrap_or_default();
                    if !rules.is_empty() && rules.subject_excluded(&key.0, &key.1, &display_name) {
                        tally.excluded += 1;
                        excluded_keys.push((*key).clone());
                        continue;
                    }
                    let fidelity = overall_fidelity(&base, &cur);
                    let patterns: Vec<String> = if rules.is_empty()
                        || finding_type != FindingType::DifferentVersion
                        || fidelity != Fidelity::Content
                    {
                        Vec::new()
                    } else {
                        rules
                            .path_patterns(&key.0, &key.1, &display_name)
                            .into_iter()
                            .map(|p| p.source.clone())
                            .collect()
                    };
                    let change = findings::change_type(finding_type);
                    let target = if patterns.is_empty() {
                        &mut observed
                    } else {
                        &mut path_checks
                    };
                    target.push(Observed {
                        tenant_id: tenant.id,
                        workspace_id: tenant.workspace_id,
                        baseline_profile_id: profile.id,
                        baseline_snapshot_id: snapshot.id,
                        policy_type: key.0.clone(),
                        subject_key: key.1.clone(),
                        display_name,
                        finding_type,
                        fidelity,
                        severity: severity_for(&profile, finding_type),
                        evidence: json!({
                            "change_type": change.as_str(),
                            "changed_aspects": aspects.names(),
                            "baseline": side_json(&base),
                            "current": side_json(&cur),
                            "excluded_paths": (!patterns.is_empty()).then_some(&patterns),
                            "conflicts": conflicts.get(*key).map(|c| c.iter()
                                .map(|(p, h)| json!({"baseline_profile_id": p, "expected_hash": h}))
                                .collect::<Vec<_>>()),
                            // The key the subject was matched on names
                            // it when it is missing here: under
                            // EXTERNAL_ID matching that key is its id.
                            "subject": {"external_id": present
                                .map(|s| s.external_id.clone())
                                .or_else(|| (profile.subject_match == SubjectMatch::ExternalId)
                                    .then(|| key.1.clone()))},
                        }),
                    });
                }
            }
        }
        if !path_checks.is_empty() {
            let checks = std::mem::take(&mut path_checks);
            let kept = apply_path_exclusions(db, checks, &mut warnings).await?;
            for checked in kept {
                match checked {
                    Ok(o) => observed.push(o),
                    Err(o) => {
                        tally.excluded += 1;
                        excluded_keys.push((o.policy_type, o.subject_key));
                    }
                }
            }
        }
        tally.findings += (observed.len() - before) as u64;
        for o in &observed[before..] {
            crate::metrics::findings_emitted(&o.finding_type.as_str(), &o.fidelity.as_str(), 1);
        }
        if observed.len() >= FINDINGS_BATCH {
            let batch = std::mem::take(&mut observed);
            let txn = ctx.begin_write().await?;
            tally.findings_new += findings::upsert_seen(&txn, run.id, now, batch).await?;
            txn.commit().await?;
        }
        ctx.progress(((n + 1) * CHUNK_SIZE).min(keys.len()) as i64, total)
            .await?;
    }
    // The last findings, the resolution of those not seen and the run's
    // result commit together, under the claim.
    let txn = ctx.begin_final_write().await?;
    tally.findings_new += findings::upsert_seen(&txn, run.id, now, observed).await?;
    let resolved_excluded =
        findings::resolve_excluded(&txn, tenant.id, profile.id, &excluded_keys, now).await?;
    let resolved = resolved_excluded
        + findings::resolve_unseen(&txn, tenant.id, profile.id, &covered, run.id, now).await?;
    // Counters of the scope, from its findings as this compare leaves them.
    crate::governance::summary::recount_scope(&txn, tenant.id, profile.id).await?;
    // Notifications of changed drift: the outbox rows land with the result.
    let notifications =
        crate::delivery::notify::on_compare(&txn, &tenant, &profile, run.id, now).await?;
    let uncovered_types: Vec<String> = types
        .iter()
        .filter(|t| !covered.contains(t))
        .cloned()
        .collect();
    let uncovered_subjects = if uncovered_types.is_empty() {
        0
    } else {
        baseline_snapshot_item::Entity::find()
            .filter(baseline_snapshot_item::Column::BaselineSnapshotId.eq(snapshot.id))
            .filter(baseline_snapshot_item::Column::PolicyType.is_in(uncovered_types))
            .count(&txn)
            .await?
    };
    let point = crate::governance::alignment::record_point(
        &txn,
        crate::governance::alignment::CompareCounts {
            tenant_id: tenant.id,
            workspace_id: tenant.workspace_id,
            baseline_profile_id: profile.id,
            run_id: run.id,
            subjects: tally.subjects,
            excluded: tally.excluded,
            equal_at_content: tally.equal_at_content,
            uncovered: uncovered_subjects,
            at: now,
        },
    )
    .await?;

    let policy_types: serde_json::Map<String, Value> = types
        .iter()
        .map(|t| {
            let stats = per_type.get(t);
            let label = match coverage.get(t) {
                Some(TypeCoverage::Covered(_)) if stats.is_some_and(|s| s.resolved_meta > 0) => {
                    "meta"
                }
                Some(TypeCoverage::Covered(_)) => "content",
                _ => "uncovered",
            };
            (
                t.clone(),
                json!({
                    "coverage": label,
                    "subjects": stats.map_or(0, |s| s.subjects),
                    "resolved_content": stats.map_or(0, |s| s.resolved_content),
                    "resolved_meta": stats.map_or(0, |s| s.resolved_meta),
                }),
            )
        })
        .collect();
    let uncovered: Vec<Value> = coverage
        .iter()
        .filter_map(|(t, c)| match c {
            TypeCoverage::Covered(_) => None,
            TypeCoverage::Failed(run_id) => Some(json!({"policy_type": t, "reason": "latest_inventory_sync_failed", "inventory_sync_run_id": run_id})),
            TypeCoverage::Unconfirmed(run_id, code) => Some(json!({"policy_type": t, "reason": code, "inventory_sync_run_id": run_id})),
            TypeCoverage::NeverSynced => Some(json!({"policy_type": t, "reason": "never_synced"})),
        })
        .collect();
    let gaps = tally.missing_baseline + tally.missing_current + tally.missing_both;
    // A failed sync is a partial result; a type no sync ever reported is
    // listed as uncovered but is not a failure of this run.
    let sync_failed = coverage
        .values()
        .any(|c| matches!(c, TypeCoverage::Failed(_) | TypeCoverage::Unconfirmed(..)));
    // A listing nobody confirmed yet is no deletion: say why the type is
    // not compared, ahead of the per-subject warnings that may be cut.
    let mut unconfirmed = Vec::new();
    for (t, c) in &coverage {
        if let TypeCoverage::Unconfirmed(run_id, code) = c {
            unconfirmed.push(EvidenceWarning {
                policy_type: t.clone(),
                external_id: None,
                code: Some(code.clone()),
                reason: format!(
                    "inventory sync {run_id} listed this type empty or much shorter than its last full listing, and no second sync confirmed it; the type was not compared and its findings keep their state"
                ),
            });
        }
    }
    warnings.splice(0..0, unconfirmed);
    let outcome = if sync_failed {
        RunOutcome::PartiallySucceeded
    } else {
        RunOutcome::Succeeded
    };
    warnings.truncate(100);
    let completion = Completion {
        outcome,
        summary_counts: summary_counts(&[
            ("subjects_total", tally.subjects),
            ("resolved_content", tally.resolved_content),
            ("resolved_meta", tally.resolved_meta),
            ("evidence_gaps", gaps),
            ("findings_total", tally.findings),
            ("findings_new", tally.findings_new),
            ("findings_resolved", resolved),
            ("warnings", warnings.len() as u64),
        ]),
        context: json!({"baseline_compare": {
            "baseline_profile_id": profile.id,
            "tenant_id": tenant.id,
            "since": since,
            "baseline_snapshot_id": snapshot.id,
            "coverage": {
                "subjects_total": tally.subjects,
                "resolved_total": tally.resolved_content + tally.resolved_meta,
                "resolved_content": tally.resolved_content,
                "resolved_meta": tally.resolved_meta,
            },
            "evidence_gaps": {
                "missing_baseline": tally.missing_baseline,
                "missing_current": tally.missing_current,
                "missing_both": tally.missing_both,
            },
            "excluded": tally.excluded,
            "findings_resolved_excluded": resolved_excluded,
            "compare_assignments": profile.compare_assignments,
            "assignments_uncompared": tally.assignments_uncompared,
            "alignment_point_id": point.id,
            "notifications": notifications,
            "conflicts": conflicts.len(),
            "conflicts_list": conflicts.iter().take(MAX_LISTED_CONFLICTS).map(|((t, k), c)| json!({
                "policy_type": t,
                "subject_key": k,
                "display_name": baseline_by_key.get(&(t.clone(), k.clone())).map(|b| b.display_name.clone()),
                "expected": c.iter()
                    .map(|(p, h)| json!({"baseline_profile_id": p, "expected_hash": h}))
                    .chain(baseline_by_key.get(&(t.clone(), k.clone())).and_then(|b| b.evidence.as_ref()).map(|e| json!({"baseline_profile_id": profile.id, "expected_hash": e.hash})))
                    .collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "policy_types": policy_types,
            "uncovered_policy_types": uncovered,
            "warnings": warnings,
        }, "content_capture": content_capture}),
        failure_summary: None,
    };
    ctx.finish(txn, completion).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn side(fidelity: &str, source: &str, observed_at: &str) -> Value {
        json!({"hash": "h", "fidelity": fidelity, "source": source,
               "observed_at": observed_at, "observed_operation_run_id": 7})
    }

    /// An item with content hash `c` and meta hash `m`.
    fn baseline(meta_text: &str) -> Baseline {
        let mut times = ObservedTimes::default();
        Baseline::new(
            "Name".into(),
            Some("c".into()),
            Some("m".into()),
            meta_text,
            &mut times,
        )
    }

    #[test]
    fn a_stored_item_reads_back_as_both_sides() {
        let text = json!({
            "evidence": side("content", "policy_version", "2026-11-20T10:00:00Z"),
            "meta_evidence": side("meta", "inventory", "2026-11-21T10:00:00.5+02:00"),
        })
        .to_string();
        let b = baseline(&text);
        let e = b.evidence.expect("content side");
        assert_eq!(e.hash, "c");
        assert_eq!(e.provenance.fidelity, Fidelity::Content);
        assert_eq!(e.provenance.observed_operation_run_id, Some(7));
        let m = b.meta_evidence.expect("meta side");
        assert_eq!(m.hash, "m");
        assert_eq!(m.provenance.source, EvidenceSource::Inventory);
        assert_eq!(
            m.provenance.observed_at.to_rfc3339(),
            "2026-11-21T08:00:00.500+00:00"
        );
    }

    #[test]
    fn a_malformed_side_does_not_hide_the_other() {
        for bad in [
            side("content", "policy_version", "yesterday"),
            side("sideways", "policy_version", "2026-11-20T10:00:00Z"),
            json!("not an object"),
        ] {
            let text = json!({
                "evidence": bad,
                "meta_evidence": side("meta", "inventory", "2026-11-21T10:00:00Z"),
            })
            .to_string();
            let b = baseline(&text);
            assert!(b.evidence.is_none(), "{text}");
            assert_eq!(b.meta_evidence.map(|m| m.hash).as_deref(), Some("m"));
        }
        let b = Baseline::new(
            "Name".into(),
            None,
            None,
            "{not json",
            &mut ObservedTimes::default(),
        );
        assert!(b.evidence.is_none() && b.meta_evidence.is_none());
    }

    #[test]
    fn observed_times_are_parsed_once_and_stay_correct_past_the_cache() {
        let mut times = ObservedTimes::default();
        let texts: Vec<String> = (0..2 * ObservedTimes::KEPT as u32)
            .map(|s| format!("2026-11-20T10:00:{s:02}+01:00"))
            .collect();
        for _ in 0..2 {
            for (s, text) in texts.iter().enumerate() {
                let time = times.parse(text).expect("a time");
                assert_eq!(time.to_rfc3339(), format!("2026-11-20T09:00:{s:02}+00:00"));
            }
        }
        assert_eq!(times.recent.len(), ObservedTimes::KEPT);
        assert_eq!(times.parse("2026-13-01T00:00:00Z"), None);
    }
}
