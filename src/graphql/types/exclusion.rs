use std::sync::Arc;

use async_graphql::{Context, ID, Object, Result};
use chrono::{DateTime, Utc};
use entity::exclusion;

use crate::error::Error;
use crate::graphql::ids::{self, NodeKind};
use crate::graphql::loaders::{Loaders, TenantId, UserId};

/// What the compares of a profile ignore. Without `settingPathPattern` it
/// excludes whole subjects (of `policyType`, matching `subjectPattern` by
/// subject key or display name); with one it hides the matching setting
/// changes of subjects that differ at content fidelity. Meta-fidelity
/// subjects have no setting paths: they can only be excluded whole.
pub struct Exclusion(pub exclusion::Model);

#[Object]
impl Exclusion {
    pub async fn id(&self) -> ID {
        ids::encode(NodeKind::Exclusion, self.0.id)
    }

    async fn baseline_profile_id(&self) -> ID {
        ids::encode(NodeKind::BaselineProfile, self.0.baseline_profile_id)
    }

    /// The tenant it applies to; null for every assigned tenant.
    async fn tenant(&self, ctx: &Context<'_>) -> Result<Option<super::Tenant>> {
        let Some(id) = self.0.tenant_id else {
            return Ok(None);
        };
        let tenant = ctx
            .data_unchecked::<Loaders>()
            .load_one(TenantId(id))
            .await
            .map_err(Error::from)?;
        Ok(tenant.map(|t| super::Tenant(Arc::unwrap_or_clone(t))))
    }

    async fn policy_type(&self) -> Option<&str> {
        self.0.policy_type.as_deref()
    }

    /// A glob over the subject key and display name: `*` within a segment,
    /// `**` across segments, `!` to take back what an earlier rule excluded.
    async fn subject_pattern(&self) -> Option<&str> {
        self.0.subject_pattern.as_deref()
    }

    /// A glob over setting paths such as
    /// `settings[device_vendor_msft_x].settingInstance.choiceSettingValue.value`.
    async fn setting_path_pattern(&self) -> Option<&str> {
        self.0.setting_path_pattern.as_deref()
    }

    async fn reason(&self) -> &str {
        &self.0.reason
    }

    /// After this the exclusion no longer applies; null for never.
    async fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.0.expires_at
    }

    async fn active(&self) -> bool {
        self.0.expires_at.is_none_or(|at| at > Utc::now())
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    async fn created_by(&self, ctx: &Context<'_>) -> Result<Option<super::User>> {
        let Some(id) = self.0.created_by_user_id else {
            return Ok(None);
        };
        let user = ctx
            .data_unchecked::<Loaders>()
            .load_one(UserId(id))
            .await
            .map_err(Error::from)?;
        Ok(user.map(|u| super::User(Arc::unwrap_or_clone(u))))
    }
}
