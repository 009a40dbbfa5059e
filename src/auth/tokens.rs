//! API tokens: random, shown once, stored only as a SHA-256 hash.

use base64::Engine as _;
use chrono::{Duration, Utc};
use entity::{api_token, user};
use rand::RngCore;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::Result;

/// Recognisable in logs and secret scanners, never stored.
pub const TOKEN_PREFIX: &str = "dre_";

pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Creates the user if it does not exist and a new token for it. Returns the
/// user and the plaintext token, which is never retrievable again.
pub async fn create_for_email<C: ConnectionTrait>(
    db: &C,
    email: &str,
    token_name: &str,
) -> Result<(user::Model, String)> {
    let user = find_or_create_user(db, email, None).await?;
    let token = create(db, user.id, token_name).await?;
    Ok((user, token))
}

pub async fn find_or_create_user<C: ConnectionTrait>(
    db: &C,
    email: &str,
    name: Option<String>,
) -> Result<user::Model> {
    let email = normalize_email(email)?;
    if let Some(existing) = user::Entity::find()
        .filter(user::Column::Email.eq(&email))
        .one(db)
        .await?
    {
        return Ok(existing);
    }
    Ok(user::ActiveModel {
        email: Set(email),
        name: Set(name),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

pub fn normalize_email(email: &str) -> Result<String> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= 320
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.is_empty() && !domain.contains('@')
        });
    if valid {
        Ok(email)
    } else {
        Err(crate::error::Error::bad_input(format!(
            "`{email}` is not an email address"
        )))
    }
}

pub async fn create<C: ConnectionTrait>(db: &C, user_id: i64, name: &str) -> Result<String> {
    Ok(create_with(db, user_id, name, TokenOptions::default())
        .await?
        .1)
}

/// How long a token lives and what it may do.
#[derive(Clone, Copy, Debug, Default)]
pub struct TokenOptions {
    pub expires_at: Option<chrono::DateTime<Utc>>,
    pub read_only: bool,
}

/// A new token for `user_id`: its row and the plaintext, shown once.
pub async fn create_with<C: ConnectionTrait>(
    db: &C,
    user_id: i64,
    name: &str,
    options: TokenOptions,
) -> Result<(api_token::Model, String)> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 || name.contains('\0') {
        return Err(crate::error::Error::bad_input(
            "the token's name must be 1 to 200 characters, without NUL",
        ));
    }
    if options.expires_at.is_some_and(|at| at <= Utc::now()) {
        return Err(crate::error::Error::bad_input(
            "expiresAt is in the past; a token that expired already would be useless",
        ));
    }
    let token = generate();
    let row = api_token::ActiveModel {
        user_id: Set(user_id),
        name: Set(name.to_owned()),
        token_hash: Set(hash(&token)),
        created_at: Set(Utc::now()),
        expires_at: Set(options.expires_at),
        read_only: Set(options.read_only),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok((row, token))
}

/// Resolves a presented token to its user. The lookup is by hash, so the
/// database never sees the token, and the final comparison is constant-time.
pub async fn authenticate<C: ConnectionTrait>(
    db: &C,
    presented: &str,
) -> Result<Option<(api_token::Model, user::Model)>> {
    if !presented.starts_with(TOKEN_PREFIX) || presented.len() > 128 {
        return Ok(None);
    }
    let presented_hash = hash(presented);
    let found = api_token::Entity::find()
        .filter(api_token::Column::TokenHash.eq(&presented_hash))
        .filter(api_token::Column::RevokedAt.is_null())
        .find_also_related(user::Entity)
        .one(db)
        .await?;
    let Some((token, Some(user))) = found else {
        return Ok(None);
    };
    if token.expires_at.is_some_and(|at| at <= Utc::now()) {
        return Ok(None);
    }
    if !bool::from(token.token_hash.as_bytes().ct_eq(presented_hash.as_bytes())) {
        return Ok(None);
    }
    // Record use at most every few minutes, so reads stay reads.
    let now = Utc::now();
    if token
        .last_used_at
        .is_none_or(|at| now - at > Duration::minutes(5))
    {
        api_token::Entity::update_many()
            .col_expr(
                api_token::Column::LastUsedAt,
                sea_orm::sea_query::Expr::value(now),
            )
            .filter(api_token::Column::Id.eq(token.id))
            .exec(db)
            .await?;
    }
    Ok(Some((token, user)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_prefixed_and_hashed() {
        let a = generate();
        let b = generate();
        assert_ne!(a, b);
        assert!(a.starts_with(TOKEN_PREFIX));
        assert_eq!(hash(&a).len(), 64);
        assert_ne!(hash(&a), hash(&b));
        assert!(!hash(&a).contains(&a[4..]));
    }

    #[test]
    fn emails_are_normalized_and_checked() {
        assert_eq!(
            normalize_email(" A@B.example ").ok(),
            Some("a@b.example".into())
        );
        assert!(normalize_email("nobody").is_err());
        assert!(normalize_email("a@b@c").is_err());
    }
}
