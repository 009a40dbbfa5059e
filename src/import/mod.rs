//! `drift-engine import`: records a folder of Microsoft Graph JSON exports
//! (one file per policy, or Graph list responses) as an inventory sync plus
//! policy versions, through the same ingestion functions the GraphQL
//! mutations use. The folder may be laid out as drift-engine's corpus
//! (Graph collection names), as IntuneCD or as IntuneManagement write
//! their backups; see [`layouts`].

pub mod layouts;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use chrono::Utc;
use entity::tenant;
use indicatif::{ProgressBar, ProgressStyle};
use sea_orm::{DatabaseConnection, EntityTrait};
use serde_json::Value;

use crate::evidence::EvidenceWarning;
use crate::evidence::ingest::{self, ListingGuard, PolicyTypeStatus, PolicyVersionInput};
use crate::evidence::registry;
pub use layouts::Layout;

/// The warning code of types whose exports carry no id.
pub const KEYED_BY_PATH: &str = "keyed_by_path";

#[derive(Debug, Default)]
pub struct ImportReport {
    /// The layout the folder was read as (detected, or `--layout`).
    pub layout: Option<Layout>,
    /// Policies read (a Graph list response holds many).
    pub exports_read: usize,
    /// Files of a recognized type that could not be read as exports.
    pub skipped: Vec<(PathBuf, String)>,
    /// What is not an export and was left alone: folders the layout does
    /// not know (never guessed), and the tools' companion files.
    pub ignored: Vec<(PathBuf, String)>,
    /// Types recorded as FAILED in the sync because a file of theirs could
    /// not be read: the folder is no full listing of them, so nothing of
    /// theirs is marked removed.
    pub failed_types: Vec<String>,
    pub inventory_run_id: Option<i64>,
    pub capture_run_id: Option<i64>,
    pub versions_not_normalizable: u64,
}

impl ImportReport {
    /// Whether any file was recognized as an export of some type.
    pub fn recognized_any(&self) -> bool {
        self.exports_read > 0 || !self.failed_types.is_empty()
    }
}

/// One export, read and classified.
#[derive(Clone, Debug)]
pub struct Export {
    pub path: PathBuf,
    pub policy_type: String,
    pub external_id: String,
    pub display_name: String,
    pub content: Value,
    /// The export had no id, so its key is its path inside the type folder.
    pub keyed_by_path: bool,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct ImportOptions<'a> {
    /// The type of every file, whatever the folders say.
    pub policy_type: Option<&'a str>,
    /// The layout, instead of detecting it.
    pub layout: Option<Layout>,
    pub guard: ListingGuard,
}

/// A file's folder names from the import root (included, when it has a
/// name) down to the file's own folder.
fn folder_names(root_name: Option<&str>, relative: &Path) -> Vec<String> {
    root_name
        .map(str::to_owned)
        .into_iter()
        .chain(
            relative
                .parent()
                .into_iter()
                .flat_map(Path::components)
                .map(|c| c.as_os_str().to_string_lossy().into_owned()),
        )
        .collect()
}

pub async fn import_dir(
    db: &DatabaseConnection,
    tenant_id: i64,
    dir: &Path,
    options: ImportOptions<'_>,
) -> anyhow::Result<ImportReport> {
    let tenant = tenant::Entity::find_by_id(tenant_id)
        .one(db)
        .await?
        .ok_or_else(|| anyhow::anyhow!("tenant {tenant_id} does not exist"))?;
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .follow_links(true)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .filter(|p| {
            p.extension()
                .is_some_and(|x| x.eq_ignore_ascii_case("json"))
        })
        .collect();
    files.sort();
    let root_name = dir
        .canonicalize()
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .or_else(|| dir.file_name().map(|n| n.to_string_lossy().into_owned()));
    let located: Vec<(PathBuf, Vec<String>)> = files
        .into_iter()
        .map(|path| {
            let relative = path.strip_prefix(dir).unwrap_or(&path).to_path_buf();
            let dirs = folder_names(root_name.as_deref(), &relative);
            (path, dirs)
        })
        .collect();
    let layout = options
        .layout
        .unwrap_or_else(|| layouts::detect(located.iter().map(|(_, d)| d.as_slice())));

    let progress = ProgressBar::new(located.len() as u64);
    progress.set_style(
        ProgressStyle::with_template("{spinner} reading exports {bar:30} {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut report = ImportReport {
        layout: Some(layout),
        ..ImportReport::default()
    };
    let mut exports = Vec::new();
    let mut failed_types = BTreeSet::new();
    let mut unknown_folders: BTreeMap<PathBuf, usize> = BTreeMap::new();
    for (path, dirs) in &located {
        progress.inc(1);
        let relative = path.strip_prefix(dir).unwrap_or(path);
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if let Some(reason) = layout.companion(&file_name) {
            report.ignored.push((path.clone(), reason.to_owned()));
            continue;
        }
        let dirs: Vec<&str> = dirs.iter().map(String::as_str).collect();
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) => {
                let placed = place(layout, &dirs, options.policy_type);
                failed_types.extend(placed.map(|p| p.collection.to_owned()));
                report
                    .skipped
                    .push((path.clone(), format!("cannot read: {e}")));
                continue;
            }
        };
        match read_file(layout, &dirs, relative, &bytes, options.policy_type) {
            Read::Exports(mut found) => {
                for export in &mut found {
                    export.path = path.clone();
                }
                exports.extend(found);
            }
            Read::Unplaced => {
                let folder = relative
                    .parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .unwrap_or(relative);
                *unknown_folders.entry(dir.join(folder)).or_default() += 1;
            }
            Read::Refused {
                policy_type,
                reason,
            } => {
                failed_types.extend(policy_type);
                report.skipped.push((path.clone(), reason));
            }
        }
    }
    progress.finish_and_clear();
    for (folder, files) in unknown_folders {
        report.ignored.push((
            folder,
            format!(
                "not a type folder of the {} layout, and its {files} JSON file(s) name no collection in @odata.context; left out, not guessed",
                layout.name()
            ),
        ));
    }
    report.exports_read = exports.len();
    if exports.is_empty() && failed_types.is_empty() {
        return Ok(report);
    }

    report.skipped.extend(dedupe(&mut exports));

    let failed: Vec<String> = failed_types.into_iter().collect();
    let recorded = record_exports(db, &tenant, exports, &failed, options.guard, |_| true).await?;
    report.failed_types = failed;
    report.inventory_run_id = recorded.inventory_run_id;
    report.capture_run_id = recorded.capture_run_id;
    report.versions_not_normalizable = recorded.versions_not_normalizable;
    Ok(report)
}

fn place(layout: Layout, dirs: &[&str], flag: Option<&str>) -> Option<layouts::Placement> {
    match flag {
        // The flag's type is not `'static`; it is used by name instead. The
        // whole path inside the import root keys exports without an id.
        Some(_) => Some(layouts::Placement {
            collection: "",
            type_folder_end: 0,
        }),
        None => layout.place(dirs),
    }
}

/// Two exports claiming the same subject: keeps the first and says why the
/// others were left out.
pub fn dedupe(exports: &mut Vec<Export>) -> Vec<(PathBuf, String)> {
    let mut seen = std::collections::HashSet::new();
    let mut skipped = Vec::new();
    exports.retain(|e| {
        let fresh = seen.insert((e.policy_type.clone(), e.external_id.clone()));
        if !fresh {
            skipped.push((
                e.path.clone(),
                format!(
                    "another file already has id {} for {}",
                    e.external_id, e.policy_type
                ),
            ));
        }
        fresh
    });
    skipped
}

/// Records exports for `tenant`: one inventory sync that lists every type
/// found in full, except the `failed` types (a file of theirs could not be
/// read), which it records as FAILED with no items; and a policy version
/// for each export `with_content` accepts (the others are known by their
/// inventory metadata only).
pub async fn record_exports(
    db: &DatabaseConnection,
    tenant: &tenant::Model,
    exports: Vec<Export>,
    failed: &[String],
    guard: ListingGuard,
    with_content: impl Fn(&Export) -> bool,
) -> anyhow::Result<ImportReport> {
    let mut report = ImportReport {
        exports_read: exports.len(),
        ..ImportReport::default()
    };
    let mut keyed_by_path: BTreeMap<&str, usize> = BTreeMap::new();
    for e in exports.iter().filter(|e| e.keyed_by_path) {
        *keyed_by_path.entry(e.policy_type.as_str()).or_default() += 1;
    }
    let warnings: Vec<EvidenceWarning> = keyed_by_path
        .into_iter()
        .map(|(policy_type, n)| EvidenceWarning {
            policy_type: policy_type.to_owned(),
            external_id: None,
            code: Some(KEYED_BY_PATH.to_owned()),
            reason: format!(
                "{n} export(s) carry no id (IntuneCD strips them), so each is keyed by its path inside the type folder: a renamed or moved file reads as one policy removed and another added"
            ),
        })
        .collect();
    let mut types: Vec<String> = exports.iter().map(|e| e.policy_type.clone()).collect();
    types.extend(failed.iter().cloned());
    types.sort();
    types.dedup();
    let is_failed = |t: &str| failed.iter().any(|f| f == t);
    let now = Utc::now();
    let sync = ingest::InventorySync {
        observed_at: now,
        policy_types: types
            .iter()
            .map(|t| {
                if is_failed(t) {
                    PolicyTypeStatus {
                        policy_type: t.clone(),
                        succeeded: false,
                        item_count: None,
                        error: Some("some export files of this type could not be read".into()),
                        confirm_empty: false,
                    }
                } else {
                    PolicyTypeStatus {
                        policy_type: t.clone(),
                        succeeded: true,
                        item_count: Some(
                            exports.iter().filter(|e| &e.policy_type == t).count() as u64
                        ),
                        error: None,
                        confirm_empty: false,
                    }
                }
            })
            .collect(),
        items: exports
            .iter()
            .filter(|e| !is_failed(&e.policy_type))
            .map(|e| {
                ingest::inventory_item_of(
                    &e.policy_type,
                    &e.external_id,
                    &e.display_name,
                    &e.content,
                )
            })
            .collect(),
        warnings,
        guard,
    };
    let inventory_run = ingest::record_inventory_sync(db, None, tenant, sync)
        .await
        .map_err(|e| anyhow::anyhow!("recording the inventory sync: {e}"))?;
    report.inventory_run_id = Some(inventory_run.id);

    let versions = ingest::PolicyVersions {
        captured_at: now,
        versions: exports
            .into_iter()
            .filter(|e| with_content(e))
            .map(|e| PolicyVersionInput {
                policy_type: e.policy_type,
                external_id: e.external_id,
                content: e.content,
            })
            .collect(),
    };
    if versions.versions.is_empty() {
        return Ok(report);
    }
    let capture_run = ingest::record_policy_versions(db, None, tenant, versions)
        .await
        .map_err(|e| anyhow::anyhow!("recording policy versions: {e}"))?;
    report.versions_not_normalizable = capture_run.summary_counts["versions_not_normalizable"]
        .as_u64()
        .unwrap_or_default();
    report.capture_run_id = Some(capture_run.id);
    Ok(report)
}

/// An export's text: UTF-8 with or without a byte-order mark, or UTF-16 LE
/// or BE with one (Windows PowerShell writes UTF-16 LE with a BOM, and a
/// backup repository flips between the two over its history). Anything
/// else is refused with what it looks like.
pub fn decode_text(bytes: &[u8]) -> Result<std::borrow::Cow<'_, str>, String> {
    if bytes.starts_with(&[0xFF, 0xFE, 0, 0]) || bytes.starts_with(&[0, 0, 0xFE, 0xFF]) {
        return Err(
            "UTF-32 text, which import does not read; save it as UTF-8 or UTF-16 with a byte-order mark"
                .into(),
        );
    }
    if let Some((encoding, bom)) = encoding_rs::Encoding::for_bom(bytes) {
        return encoding
            .decode_without_bom_handling_and_without_replacement(&bytes[bom..])
            .ok_or_else(|| {
                format!(
                    "not valid {} text after its byte-order mark",
                    encoding.name()
                )
            });
    }
    // ASCII JSON in UTF-16 has a NUL in every other byte, which is valid
    // UTF-8 but never valid JSON text.
    let nuls = bytes.iter().filter(|b| **b == 0).count();
    if nuls * 3 >= bytes.len() && nuls > 0 {
        return Err("not UTF-8 text: it looks like UTF-16 without a byte-order mark, which cannot be told apart safely; save it with a BOM or as UTF-8".into());
    }
    std::str::from_utf8(bytes)
        .map(std::borrow::Cow::Borrowed)
        .map_err(|_| {
            "not UTF-8 text, and no UTF-16 byte-order mark (a legacy code page?); save it as UTF-8"
                .into()
        })
}

/// What one file turned out to be.
enum Read {
    Exports(Vec<Export>),
    /// Neither its folders nor its `@odata.context` name a type.
    Unplaced,
    /// A file of a known type (when known) that is no readable export.
    Refused {
        policy_type: Option<String>,
        reason: String,
    },
}

/// Whether `document` is a Graph list response: `value` holding records,
/// and nothing else but OData annotations (`@odata.context`,
/// `@odata.nextLink`, `@odata.count`).
fn list_items(document: &Value) -> Option<&Vec<Value>> {
    let map = document.as_object()?;
    let items = map.get("value")?.as_array()?;
    let only_annotations = map.keys().all(|k| k == "value" || k.starts_with("@odata."));
    (only_annotations && items.iter().all(Value::is_object)).then_some(items)
}

fn context_of(document: &Value) -> Option<&'static str> {
    document
        .get("@odata.context")
        .and_then(Value::as_str)
        .and_then(layouts::context_collection)
}

/// Reads one file: its folders place it in `layout` (or `flag` names its
/// type), its `@odata.context`, where it has one, names its collection
/// whatever the folder is called, and a list response gives one export
/// per element.
fn read_file(
    layout: Layout,
    dirs: &[&str],
    relative: &Path,
    bytes: &[u8],
    flag: Option<&str>,
) -> Read {
    let placed = place(layout, dirs, flag);
    let folder_type = flag
        .map(str::to_owned)
        .or_else(|| placed.map(|p| p.collection.to_owned()));
    let refused = |reason: String| Read::Refused {
        policy_type: folder_type.clone(),
        reason,
    };
    let document: Value = match decode_text(bytes)
        .and_then(|text| serde_json::from_str(&text).map_err(|e| format!("not valid JSON: {e}")))
    {
        Ok(document) => document,
        Err(_) if folder_type.is_none() => return Read::Unplaced,
        Err(reason) => return refused(reason),
    };
    let file_context = context_of(&document);
    let (documents, from_list): (Vec<&Value>, bool) = match list_items(&document) {
        Some(items) => (items.iter().collect(), true),
        None => (vec![&document], false),
    };
    // The path inside the type folder keys exports without an id.
    let inside: PathBuf = {
        // `dirs` may start with the root's own name, which `relative`
        // does not hold.
        let parents = relative.parent().map_or(0, |p| p.components().count());
        let offset = dirs.len().saturating_sub(parents);
        let end = placed.map_or(dirs.len(), |p| p.type_folder_end.min(dirs.len()));
        relative
            .components()
            .skip(end.saturating_sub(offset))
            .collect()
    };
    let mut out = Vec::with_capacity(documents.len());
    for (i, content) in documents.into_iter().enumerate() {
        let policy_type = match flag {
            Some(t) => t.to_owned(),
            None => match context_of(content)
                .or(file_context)
                .or(placed.map(|p| p.collection))
            {
                Some(t) => t.to_owned(),
                None => return Read::Unplaced,
            },
        };
        let key = from_list.then(|| format!("#{i}"));
        match export_of(
            &policy_type,
            relative,
            &inside,
            key.as_deref(),
            content.clone(),
        ) {
            Ok(export) => out.push(export),
            Err(reason) => {
                return Read::Refused {
                    policy_type: Some(policy_type),
                    reason: match key {
                        Some(key) => format!("element {key} of the list: {reason}"),
                        None => reason,
                    },
                };
            }
        }
    }
    if out.is_empty() && folder_type.is_none() && file_context.is_none() {
        return Read::Unplaced;
    }
    Read::Exports(out)
}

/// One export of `policy_type`; `inside` is the file's path inside its
/// type folder, and `element` its place in a list response.
fn export_of(
    policy_type: &str,
    relative: &Path,
    inside: &Path,
    element: Option<&str>,
    content: Value,
) -> Result<Export, String> {
    if !registry::root_matches(policy_type, &content) {
        return Err(format!(
            "not a {policy_type} export: the document is not a JSON {}",
            match registry::rule_for(policy_type).0.root {
                registry::RootShape::Object => "object",
                registry::RootShape::RecordArray => "array of objects",
                registry::RootShape::ObjectOrRecordArray => "object or array of objects",
            }
        ));
    }
    ingest::check_storable("the document", &content).map_err(|e| e.to_string())?;
    let stem = relative
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let id = content
        .get("id")
        .and_then(Value::as_str)
        .filter(|id| !id.trim().is_empty())
        .map(str::to_owned);
    let keyed_by_path = id.is_none();
    let external_id = id.unwrap_or_else(|| {
        // No id in the export: its path inside the type folder is stable.
        let path = inside
            .with_extension("")
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        match element {
            Some(element) => format!("{path}{element}"),
            None => path,
        }
    });
    let display_name = ingest::display_name_of(&content).unwrap_or(stem);
    Ok(Export {
        path: relative.to_path_buf(),
        policy_type: policy_type.to_owned(),
        external_id,
        display_name,
        content,
        keyed_by_path,
    })
}

/// Classifies one export of drift-engine's own layout (folders named by
/// Graph collection): `root_name` is the name of the imported folder,
/// `relative` the file's path inside it. A list response gives its first
/// element. Used by the demo, which embeds the corpus.
pub fn parse_export(
    root_name: Option<&str>,
    relative: &Path,
    bytes: &[u8],
    flag: Option<&str>,
) -> Result<Export, String> {
    let dirs = folder_names(root_name, relative);
    let dirs: Vec<&str> = dirs.iter().map(String::as_str).collect();
    match read_file(Layout::Native, &dirs, relative, bytes, flag) {
        Read::Exports(exports) => exports
            .into_iter()
            .next()
            .ok_or_else(|| "an empty list response".to_owned()),
        Read::Unplaced => {
            Err("cannot tell its policy type from the folder names; pass --policy-type".to_owned())
        }
        Read::Refused { reason, .. } => Err(reason),
    }
}
