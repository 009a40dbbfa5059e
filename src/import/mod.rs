//! `drift-engine import`: records a folder of Microsoft Graph JSON exports
//! (one file per policy) as an inventory sync plus policy versions, through
//! the same ingestion functions the GraphQL mutations use.

use std::path::{Path, PathBuf};

use chrono::Utc;
use entity::tenant;
use indicatif::{ProgressBar, ProgressStyle};
use sea_orm::{DatabaseConnection, EntityTrait};
use serde_json::Value;

use crate::evidence::ingest::{self, InventoryItemInput, PolicyTypeStatus, PolicyVersionInput};
use crate::evidence::{meta, registry};

#[derive(Debug, Default)]
pub struct ImportReport {
    pub files_read: usize,
    pub skipped: Vec<(PathBuf, String)>,
    /// Types recorded as FAILED in the sync because a file of theirs could
    /// not be read: the folder is no full listing of them, so nothing of
    /// theirs is marked removed.
    pub failed_types: Vec<String>,
    pub inventory_run_id: Option<i64>,
    pub capture_run_id: Option<i64>,
    pub versions_not_normalizable: u64,
}

/// One export file, read and classified.
#[derive(Clone, Debug)]
pub struct Export {
    pub path: PathBuf,
    pub policy_type: String,
    pub external_id: String,
    pub display_name: String,
    pub content: Value,
}

pub async fn import_dir(
    db: &DatabaseConnection,
    tenant_id: i64,
    dir: &Path,
    policy_type_flag: Option<&str>,
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

    let progress = ProgressBar::new(files.len() as u64);
    progress.set_style(
        ProgressStyle::with_template("{spinner} reading exports {bar:30} {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut report = ImportReport::default();
    let mut exports = Vec::new();
    let mut failed_types = std::collections::BTreeSet::new();
    for path in &files {
        progress.inc(1);
        match read_export(dir, path, policy_type_flag) {
            Ok(export) => exports.push(export),
            Err(Skipped {
                policy_type,
                reason,
            }) => {
                failed_types.extend(policy_type);
                report.skipped.push((path.clone(), reason));
            }
        }
    }
    progress.finish_and_clear();
    report.files_read = exports.len();
    if exports.is_empty() && failed_types.is_empty() {
        return Ok(report);
    }

    report.skipped.extend(dedupe(&mut exports));

    let failed: Vec<String> = failed_types.into_iter().collect();
    let recorded = record_exports(db, &tenant, exports, &failed, |_| true).await?;
    report.failed_types = failed;
    report.inventory_run_id = recorded.inventory_run_id;
    report.capture_run_id = recorded.capture_run_id;
    report.versions_not_normalizable = recorded.versions_not_normalizable;
    Ok(report)
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
    with_content: impl Fn(&Export) -> bool,
) -> anyhow::Result<ImportReport> {
    let mut report = ImportReport {
        files_read: exports.len(),
        ..ImportReport::default()
    };
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
                    }
                } else {
                    PolicyTypeStatus {
                        policy_type: t.clone(),
                        succeeded: true,
                        item_count: Some(
                            exports.iter().filter(|e| &e.policy_type == t).count() as u64
                        ),
                        error: None,
                    }
                }
            })
            .collect(),
        items: exports
            .iter()
            .filter(|e| !is_failed(&e.policy_type))
            .map(|e| {
                let mut fields = meta::contract_fields(&e.policy_type, &e.content);
                fields
                    .entry("displayName")
                    .or_insert_with(|| Value::String(e.display_name.clone()));
                InventoryItemInput {
                    policy_type: e.policy_type.clone(),
                    external_id: e.external_id.clone(),
                    display_name: e.display_name.clone(),
                    meta: Value::Object(fields),
                }
            })
            .collect(),
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
            .ok_or_else(|| format!("not valid {} text after its byte-order mark", encoding.name()));
    }
    // ASCII JSON in UTF-16 has a NUL in every other byte, which is valid
    // UTF-8 but never valid JSON text.
    let nuls = bytes.iter().filter(|b| **b == 0).count();
    if nuls * 3 >= bytes.len() && nuls > 0 {
        return Err("not UTF-8 text: it looks like UTF-16 without a byte-order mark, which cannot be told apart safely; save it with a BOM or as UTF-8".into());
    }
    std::str::from_utf8(bytes).map(std::borrow::Cow::Borrowed).map_err(|_| {
        "not UTF-8 text, and no UTF-16 byte-order mark (a legacy code page?); save it as UTF-8"
            .into()
    })
}

/// A file left out, with the type it was meant for when that is known.
struct Skipped {
    policy_type: Option<String>,
    reason: String,
}

fn read_export(root: &Path, path: &Path, flag: Option<&str>) -> Result<Export, Skipped> {
    let relative = path.strip_prefix(root).unwrap_or(path);
    let root_name = root.file_name().and_then(|n| n.to_str());
    let policy_type = policy_type_for(root_name, relative, flag).map_err(|reason| Skipped {
        policy_type: None,
        reason,
    })?;
    let skipped = |reason: String| Skipped {
        policy_type: Some(policy_type.clone()),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|e| skipped(format!("cannot read: {e}")))?;
    let mut export = parse_export(root_name, relative, &bytes, flag).map_err(skipped)?;
    export.path = path.to_path_buf();
    Ok(export)
}

/// Classifies one export: `root_name` is the name of the imported folder,
/// `relative` the file's path inside it.
pub fn parse_export(
    root_name: Option<&str>,
    relative: &Path,
    bytes: &[u8],
    flag: Option<&str>,
) -> Result<Export, String> {
    let path = relative;
    let policy_type = policy_type_for(root_name, relative, flag)?;
    let text = decode_text(bytes)?;
    let content: Value = serde_json::from_str(&text)
        .map_err(|e| format!("not valid JSON: {e}"))?;
    if !registry::root_matches(&policy_type, &content) {
        return Err(format!(
            "not a {policy_type} export: the document is not a JSON {}",
            if registry::root_matches(&policy_type, &Value::Array(vec![])) {
                "array of objects"
            } else {
                "object"
            }
        ));
    }
    ingest::check_storable("the document", &content).map_err(|e| e.to_string())?;
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let external_id = content
        .get("id")
        .and_then(Value::as_str)
        .filter(|id| !id.trim().is_empty())
        .map(str::to_owned)
        .unwrap_or_else(|| {
            // No id in the export: the path inside the type folder is stable.
            let inside = if flag.is_none() && relative.components().count() > 1 {
                relative.components().skip(1).collect::<PathBuf>()
            } else {
                relative.to_path_buf()
            };
            inside.with_extension("").to_string_lossy().into_owned()
        });
    let display_name = ["displayName", "name"]
        .iter()
        .find_map(|k| content.get(*k).and_then(Value::as_str))
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or(stem);
    Ok(Export {
        path: path.to_path_buf(),
        policy_type,
        external_id,
        display_name,
        content,
    })
}

/// The flag wins; otherwise the folder's own name, or the first folder
/// inside it, must name a registered type.
fn policy_type_for(
    root_name: Option<&str>,
    relative: &Path,
    flag: Option<&str>,
) -> Result<String, String> {
    if let Some(flag) = flag {
        return Ok(flag.to_owned());
    }
    if let Some(name) = root_name
        && registry::is_supported(name)
    {
        return Ok(name.to_owned());
    }
    let first = relative
        .components()
        .next()
        .and_then(|c| c.as_os_str().to_str())
        .filter(|_| relative.components().count() > 1);
    match first {
        Some(name) if registry::is_supported(name) => Ok(name.to_owned()),
        _ => {
            Err("cannot tell its policy type from the folder names; pass --policy-type".to_owned())
        }
    }
}
