//! Connecting to and migrating the database, for both backends.

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbBackend, DbErr};

/// Opens a pool with the settings PERF-NOTES measured: no ping on every
/// checkout, and SQLite's single connection (one writer, no stale snapshots).
pub async fn connect(url: &str) -> Result<DatabaseConnection, DbErr> {
    connect_with(ConnectOptions::new(url)).await
}

pub async fn connect_with(mut options: ConnectOptions) -> Result<DatabaseConnection, DbErr> {
    options
        .test_before_acquire(false)
        .acquire_timeout(Duration::from_secs(30))
        .sqlx_logging(false);
    if options.get_url().starts_with("sqlite") {
        options.max_connections(1);
        // In WAL mode NORMAL syncs the log at checkpoints, not at every
        // commit (SQLite's documented choice for WAL): a power cut can lose
        // the last commits but never corrupts the file, and every inventory
        // sync, capture and compare chunk stops paying an fsync.
        options.map_sqlx_sqlite_opts(|sqlite| {
            sqlite.synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
        });
    } else if options.get_max_connections().is_none() {
        options.max_connections(16);
    }
    let db = Database::connect(options).await?;
    if db.get_database_backend() == DbBackend::Sqlite {
        use sea_orm::ConnectionTrait;
        // sqlx already turns foreign keys on and sets a busy timeout per
        // connection; WAL is a property of the file, so once is enough.
        db.execute_unprepared("PRAGMA journal_mode = WAL").await?;
    }
    Ok(db)
}

pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}

/// True when every migration this binary knows has been applied.
pub async fn migrations_current(db: &DatabaseConnection) -> Result<bool, DbErr> {
    Ok(Migrator::get_pending_migrations(db).await?.is_empty())
}
