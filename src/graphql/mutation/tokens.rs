use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use entity::api_token;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, TransactionTrait};
use serde_json::json;

use crate::audit::{self, Action};
use crate::auth::tokens::{self, TokenOptions};
use crate::error::Error;
use crate::graphql::ContextExt;
use crate::graphql::ids::{self, NodeKind};
use crate::graphql::types::ApiToken;

#[derive(InputObject)]
pub struct CreateApiTokenInput {
    pub name: String,
    /// Null: it does not expire.
    pub expires_at: Option<DateTime<Utc>>,
    /// A read-only token is refused every mutation.
    #[graphql(default)]
    pub read_only: bool,
}

#[derive(InputObject)]
pub struct RevokeApiTokenInput {
    pub id: ID,
}

#[derive(SimpleObject)]
pub struct CreateApiTokenPayload {
    /// The token itself, shown this once: only its hash is stored.
    pub token: String,
    pub api_token: ApiToken,
}

#[derive(Default)]
pub struct TokenMutation;

#[Object]
impl TokenMutation {
    /// A new API token for the caller (audited by name, never the token).
    /// Its workspace access is the caller's; `readOnly` refuses it every
    /// mutation, and after `expiresAt` it is UNAUTHENTICATED.
    async fn create_api_token(
        &self,
        ctx: &Context<'_>,
        input: CreateApiTokenInput,
    ) -> Result<CreateApiTokenPayload> {
        let viewer = ctx.viewer()?;
        let txn = ctx.db().begin().await.map_err(Error::from)?;
        let (row, token) = tokens::create_with(
            &txn,
            viewer.user.id,
            &input.name,
            TokenOptions {
                expires_at: input.expires_at,
                read_only: input.read_only,
            },
        )
        .await?;
        audit::record(
            &txn,
            audit::Entry {
                action: Action::ApiTokenCreate,
                actor_user_id: Some(viewer.user.id),
                workspace_id: None,
                tenant_id: None,
                target: Some(("api_token", row.id)),
                metadata: json!({"name": row.name, "read_only": row.read_only,
                                 "expires_at": row.expires_at}),
            },
        )
        .await?;
        txn.commit().await.map_err(Error::from)?;
        Ok(CreateApiTokenPayload {
            token,
            api_token: ApiToken(row),
        })
    }

    /// Revokes one of the caller's tokens, at once (audited). Revoking the
    /// token of this request is allowed; the next request is then
    /// UNAUTHENTICATED.
    async fn revoke_api_token(
        &self,
        ctx: &Context<'_>,
        input: RevokeApiTokenInput,
    ) -> Result<ApiToken> {
        let viewer = ctx.viewer()?;
        let id = ids::decode_as(&input.id, NodeKind::ApiToken)?;
        let db = ctx.db();
        let row = api_token::Entity::find_by_id(id)
            .one(db)
            .await
            .map_err(Error::from)?
            .filter(|t| t.user_id == viewer.user.id)
            .ok_or(Error::NotFound("API token"))?;
        let now = Utc::now();
        let txn = db.begin().await.map_err(Error::from)?;
        api_token::Entity::update_many()
            .col_expr(api_token::Column::RevokedAt, Expr::value(now))
            .filter(api_token::Column::Id.eq(row.id))
            .filter(api_token::Column::RevokedAt.is_null())
            .exec(&txn)
            .await
            .map_err(Error::from)?;
        audit::record(
            &txn,
            audit::Entry {
                action: Action::ApiTokenRevoke,
                actor_user_id: Some(viewer.user.id),
                workspace_id: None,
                tenant_id: None,
                target: Some(("api_token", row.id)),
                metadata: json!({"name": row.name}),
            },
        )
        .await?;
        txn.commit().await.map_err(Error::from)?;
        Ok(ApiToken(api_token::Model {
            revoked_at: row.revoked_at.or(Some(now)),
            ..row
        }))
    }
}
