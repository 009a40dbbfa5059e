use std::sync::Arc;

use async_graphql::{Context, Enum, ID, Object, Result};
use chrono::{DateTime, Utc};
use entity::alignment_point;

use crate::error::Error;
use crate::graphql::ids::{self, NodeKind};
use crate::graphql::loaders::{BaselineProfileId, Loaders, OperationRunId, TenantId};

/// How aligned a tenant was with a profile at one compare, as CIPP scores
/// it: `applicable` = covered subjects in scope that no exclusion hid;
/// `compliant` = applicable without an open or accepted finding.
pub struct Alignment(pub alignment_point::Model);

#[Object]
impl Alignment {
    async fn applicable(&self) -> i64 {
        self.0.applicable
    }

    async fn compliant(&self) -> i64 {
        self.0.compliant
    }

    /// Applicable subjects whose finding is ACCEPTED.
    async fn accepted(&self) -> i64 {
        self.0.accepted
    }

    /// Subjects an exclusion hid (not applicable).
    async fn excluded(&self) -> i64 {
        self.0.excluded
    }

    /// Baseline subjects in types the compare could not cover (not
    /// applicable).
    async fn uncovered(&self) -> i64 {
        self.0.uncovered
    }

    /// (compliant + accepted) / applicable, in percent; null when nothing
    /// is applicable.
    async fn aligned_percent(&self) -> Option<f64> {
        self.0.aligned_percent
    }

    /// compliant / applicable, in percent.
    async fn verified_percent(&self) -> Option<f64> {
        self.0.verified_percent
    }

    /// Compliant subjects equal at content fidelity / applicable, in percent.
    async fn content_verified_percent(&self) -> Option<f64> {
        self.0.content_verified_percent
    }

    /// When the compare completed.
    async fn as_of(&self) -> DateTime<Utc> {
        self.0.as_of
    }

    async fn compare_run(&self, ctx: &Context<'_>) -> Result<Option<super::OperationRun>> {
        let run = ctx
            .data_unchecked::<Loaders>()
            .load_one(OperationRunId(self.0.operation_run_id))
            .await
            .map_err(Error::from)?;
        Ok(run.map(super::OperationRun))
    }

    async fn tenant(&self, ctx: &Context<'_>) -> Result<Option<super::Tenant>> {
        let tenant = ctx
            .data_unchecked::<Loaders>()
            .load_one(TenantId(self.0.tenant_id))
            .await
            .map_err(Error::from)?;
        Ok(tenant.map(|t| super::Tenant(Arc::unwrap_or_clone(t))))
    }

    async fn baseline_profile(&self, ctx: &Context<'_>) -> Result<Option<super::BaselineProfile>> {
        let profile = ctx
            .data_unchecked::<Loaders>()
            .load_one(BaselineProfileId(self.0.baseline_profile_id))
            .await
            .map_err(Error::from)?;
        Ok(profile.map(|p| super::BaselineProfile(Arc::unwrap_or_clone(p))))
    }

    async fn baseline_profile_id(&self) -> ID {
        ids::encode(NodeKind::BaselineProfile, self.0.baseline_profile_id)
    }
}

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum AlignmentOrder {
    /// Least aligned first: where to look.
    #[default]
    AlignedAsc,
    AlignedDesc,
}

/// A count of findings with one value of a dimension.
#[derive(async_graphql::SimpleObject)]
pub struct CountBy {
    /// The value, as stored: `open`, `different_version`, `content`, `high`...
    pub key: String,
    pub count: i64,
}

/// Findings counted by each dimension.
#[derive(async_graphql::SimpleObject)]
pub struct FindingsSummary {
    pub total: i64,
    pub by_status: Vec<CountBy>,
    pub by_finding_type: Vec<CountBy>,
    pub by_fidelity: Vec<CountBy>,
    pub by_severity: Vec<CountBy>,
}

impl From<crate::governance::summary::Summary> for FindingsSummary {
    fn from(s: crate::governance::summary::Summary) -> Self {
        let list = |m: std::collections::BTreeMap<String, i64>| {
            m.into_iter()
                .map(|(key, count)| CountBy { key, count })
                .collect()
        };
        Self {
            total: s.total,
            by_status: list(s.by_status),
            by_finding_type: list(s.by_finding_type),
            by_fidelity: list(s.by_fidelity),
            by_severity: list(s.by_severity),
        }
    }
}
