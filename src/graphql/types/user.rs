use async_graphql::{Context, ID, Object, Result};
use chrono::{DateTime, Utc};
use entity::{api_token, user};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use crate::error::Error;
use crate::graphql::ContextExt;
use crate::graphql::ids::{self, NodeKind};

pub struct User(pub user::Model);

#[Object]
impl User {
    pub async fn id(&self) -> ID {
        ids::encode(NodeKind::User, self.0.id)
    }

    async fn email(&self) -> &str {
        &self.0.email
    }

    async fn name(&self) -> Option<&str> {
        self.0.name.as_deref()
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// The caller's own API tokens, revoked ones included, oldest first;
    /// empty for any other user. Never the tokens themselves: only their
    /// hashes are stored.
    async fn api_tokens(&self, ctx: &Context<'_>) -> Result<Vec<ApiToken>> {
        if ctx.viewer()?.user.id != self.0.id {
            return Ok(Vec::new());
        }
        Ok(api_token::Entity::find()
            .filter(api_token::Column::UserId.eq(self.0.id))
            .order_by_asc(api_token::Column::Id)
            .all(ctx.db())
            .await
            .map_err(Error::from)?
            .into_iter()
            .map(ApiToken)
            .collect())
    }
}

/// An API token, as its owner sees it.
pub struct ApiToken(pub api_token::Model);

#[Object]
impl ApiToken {
    pub async fn id(&self) -> ID {
        ids::encode(NodeKind::ApiToken, self.0.id)
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// To the nearest five minutes.
    async fn last_used_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_used_at
    }

    /// Null: it does not expire.
    async fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.0.expires_at
    }

    /// A read-only token is refused every mutation (FORBIDDEN).
    async fn read_only(&self) -> bool {
        self.0.read_only
    }

    async fn revoked_at(&self) -> Option<DateTime<Utc>> {
        self.0.revoked_at
    }

    /// Whether it authenticates now: not revoked and not expired.
    async fn active(&self) -> bool {
        self.0.revoked_at.is_none() && self.0.expires_at.is_none_or(|at| at > Utc::now())
    }
}
