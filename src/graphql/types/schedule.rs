use std::sync::Arc;

use async_graphql::{Context, ID, Object, Result};
use chrono::{DateTime, Utc};
use entity::{schedule, tenant};

use super::{OperationRun, Tenant};
use crate::error::Error;
use crate::graphql::ids::{self, NodeKind};
use crate::graphql::loaders::{Loaders, OperationRunId};

/// A compare of one tenant against a profile every so often; with
/// `collect`, an inventory sync from Microsoft Graph first, and the
/// compare once it has not failed.
pub struct Schedule(pub schedule::Model, pub tenant::Model);

#[Object]
impl Schedule {
    async fn baseline_profile_id(&self) -> ID {
        ids::encode(NodeKind::BaselineProfile, self.0.baseline_profile_id)
    }

    async fn tenant(&self) -> Tenant {
        Tenant(self.1.clone())
    }

    /// The ISO 8601 duration it was set with, such as `PT6H`.
    async fn every(&self) -> &str {
        &self.0.every
    }

    async fn every_seconds(&self) -> i64 {
        self.0.every_seconds
    }

    async fn collect(&self) -> bool {
        self.0.collect
    }

    /// When it fires next: a schedule that missed periods (no server was
    /// running) fires once, then a period after that.
    async fn next_run_at(&self) -> DateTime<Utc> {
        self.0.next_run_at
    }

    async fn last_run_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_run_at
    }

    /// The run it started last: the compare, or the collection before it.
    async fn last_run(&self, ctx: &Context<'_>) -> Result<Option<OperationRun>> {
        let Some(id) = self.0.last_run_id else {
            return Ok(None);
        };
        let run = ctx
            .data_unchecked::<Loaders>()
            .load_one(OperationRunId(id))
            .await
            .map_err(Error::from)?;
        // Its tenant is the schedule's, which the caller sees.
        Ok(run
            .filter(|r| r.tenant_id == self.0.tenant_id)
            .map(|r| OperationRun(Arc::clone(&r))))
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}
