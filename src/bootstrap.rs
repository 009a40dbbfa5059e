//! First start on an empty database: an owner, a default workspace and a
//! one-time token written to a 0600 file beside the SQLite database. The
//! token itself is never logged.

use std::io::Write;
use std::path::{Path, PathBuf};

use entity::user;
use sea_orm::{DatabaseConnection, EntityTrait, PaginatorTrait};

use crate::auth::tokens;
use crate::config::bootstrap_token_path;
use crate::directory;

pub const BOOTSTRAP_EMAIL: &str = "owner@drift-engine.local";

#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Users exist already: nothing to do.
    AlreadyInitialized,
    /// Created the owner and wrote its token to this file.
    TokenWritten(PathBuf),
    /// No place for a token file (PostgreSQL, in-memory SQLite): use `token create`.
    UseTokenCreate,
}

pub async fn run(db: &DatabaseConnection, database_url: &str) -> anyhow::Result<Outcome> {
    if user::Entity::find().count(db).await? > 0 {
        return Ok(Outcome::AlreadyInitialized);
    }
    let Some(path) = bootstrap_token_path(database_url) else {
        tracing::warn!(
            "the database has no users yet; create the first one and its API token with \
             `drift-engine token create --email you@example.com`"
        );
        return Ok(Outcome::UseTokenCreate);
    };
    let (owner, token) = tokens::create_for_email(db, BOOTSTRAP_EMAIL, "bootstrap").await?;
    directory::create_workspace(db, owner.id, "Default").await?;
    write_secret_file(&path, &token)?;
    tracing::info!(
        path = %path.display(),
        email = BOOTSTRAP_EMAIL,
        "first start: created the owner user and wrote its one-time API token to a file (mode 0600); \
         read it, store it safely, then delete the file"
    );
    Ok(Outcome::TokenWritten(path))
}

fn write_secret_file(path: &Path, secret: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    #[cfg(unix)]
    {
        // `mode` only applies to new files; tighten an old one too.
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    writeln!(file, "{secret}")
}
