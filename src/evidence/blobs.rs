//! Reading normalized content back: the evidence blobs of a set of hashes,
//! in one query. Compares read them only for subjects that differ (path
//! exclusions), and the API for setting changes.

use std::collections::HashMap;

use entity::evidence_blob;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect};
use serde_json::Value;

/// The blobs of `hashes` that are stored; a blob that cannot be read is
/// `None` (and logged).
pub async fn load<C: ConnectionTrait>(
    db: &C,
    mut hashes: Vec<String>,
) -> Result<HashMap<String, Option<Value>>, DbErr> {
    hashes.sort_unstable();
    hashes.dedup();
    if hashes.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(String, String)> = evidence_blob::Entity::find()
        .select_only()
        .column(evidence_blob::Column::Hash)
        .expr_as(Expr::cust("CAST(content AS TEXT)"), "content_text")
        .filter(evidence_blob::Column::Hash.is_in(hashes))
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(hash, text)| {
            let content = serde_json::from_str(&text)
                .inspect_err(|err| {
                    tracing::error!(hash = %hash, error = %err, "a stored evidence blob could not be read");
                })
                .ok();
            (hash, content)
        })
        .collect())
}
