//! `drift-engine report`: the findings report of `GET /reports/findings`,
//! written from the local database to a file or stdout, as it is produced.

use futures_util::StreamExt;
use sea_orm::{DatabaseConnection, EntityTrait};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::delivery::report::{self, Format};
use crate::error::Error;

/// Writes the report of `tenant_id` against `profile_id`; returns the bytes written.
pub async fn write(
    db: &DatabaseConnection,
    tenant_id: i64,
    profile_id: i64,
    format: Format,
    statuses: Vec<entity::enums::FindingStatus>,
    out: &mut (impl AsyncWrite + Unpin),
) -> anyhow::Result<u64> {
    let tenant = entity::tenant::Entity::find_by_id(tenant_id)
        .one(db)
        .await?
        .ok_or(Error::NotFound("tenant"))?;
    let scope = report::scope(db, tenant, profile_id, statuses).await?;
    let mut chunks = std::pin::pin!(report::stream(
        db.clone(),
        scope,
        format,
        crate::http::reports::GLOBAL_IDS
    ));
    let mut written = 0u64;
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk?;
        out.write_all(&chunk).await?;
        written += chunk.len() as u64;
    }
    out.flush().await?;
    Ok(written)
}
