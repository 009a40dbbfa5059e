use async_graphql::{Context, ID, InputObject, Object, Result};
use entity::finding;
use sea_orm::EntityTrait;

use crate::auth::{self, Capability};
use crate::drift::findings::{self, Triage};
use crate::error::Error;
use crate::graphql::ContextExt;
use crate::graphql::ids::{self, NodeKind};
use crate::graphql::types::Finding;

#[derive(InputObject)]
pub struct FindingInput {
    pub id: ID,
}

#[derive(InputObject)]
pub struct ResolveFindingInput {
    pub id: ID,
    /// Why it is resolved, e.g. "accepted deviation, ticket OPS-123".
    pub reason: String,
}

#[derive(InputObject)]
pub struct AcceptFindingInput {
    pub finding_id: ID,
    /// Why the deviation is accepted, e.g. "vendor requirement, OPS-123".
    pub reason: String,
    /// When the acceptance lapses and the finding reopens; never if null.
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(InputObject)]
pub struct UnacceptFindingInput {
    pub finding_id: ID,
}

#[derive(Default)]
pub struct FindingMutation;

async fn decide(ctx: &Context<'_>, id: &ID, decision: Triage) -> Result<Finding> {
    let viewer = ctx.viewer()?;
    let id = ids::decode_as(id, NodeKind::Finding)?;
    let found = finding::Entity::find_by_id(id)
        .one(ctx.db())
        .await
        .map_err(Error::from)?
        .ok_or(Error::NotFound("finding"))?;
    auth::authorized_tenant(
        ctx.db(),
        viewer,
        found.tenant_id,
        Some(Capability::TenantFindingsManage),
    )
    .await
    .map_err(|e| e.not_found_as("finding"))?;
    Ok(Finding(
        findings::triage(ctx.db(), viewer.user.id, found, decision).await?,
    ))
}

#[Object]
impl FindingMutation {
    /// Marks a finding as seen by a person. Needs `tenant_findings.manage`.
    async fn acknowledge_finding(&self, ctx: &Context<'_>, input: FindingInput) -> Result<Finding> {
        decide(ctx, &input.id, Triage::Acknowledge).await
    }

    /// Resolves a finding by hand, with a reason. A later compare that sees
    /// the drift again reopens it. Needs `tenant_findings.manage`.
    async fn resolve_finding(
        &self,
        ctx: &Context<'_>,
        input: ResolveFindingInput,
    ) -> Result<Finding> {
        decide(
            ctx,
            &input.id,
            Triage::Resolve {
                reason: input.reason,
            },
        )
        .await
    }

    /// Needs `tenant_findings.manage`.
    async fn reopen_finding(&self, ctx: &Context<'_>, input: FindingInput) -> Result<Finding> {
        decide(ctx, &input.id, Triage::Reopen).await
    }

    /// Accepts the drift (status ACCEPTED) with a reason, until `expiresAt`
    /// or for good. It stays compared: seen again with the same current
    /// hash it stays ACCEPTED and counts `timesSeen`; with another it
    /// reopens (`drift_changed`); after `expiresAt` the next compare or
    /// the periodic sweep reopens it (`acceptance_expired`). Audited and
    /// kept in `history`. Needs `tenant_findings.manage`.
    async fn accept_finding(
        &self,
        ctx: &Context<'_>,
        input: AcceptFindingInput,
    ) -> Result<Finding> {
        decide(
            ctx,
            &input.finding_id,
            Triage::Accept {
                reason: input.reason,
                until: input.expires_at,
            },
        )
        .await
    }

    /// Takes an acceptance back: the finding is OPEN again. Needs
    /// `tenant_findings.manage`.
    async fn unaccept_finding(
        &self,
        ctx: &Context<'_>,
        input: UnacceptFindingInput,
    ) -> Result<Finding> {
        decide(ctx, &input.finding_id, Triage::Unaccept).await
    }
}
