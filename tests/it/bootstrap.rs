use drift_engine::bootstrap::{self, Outcome};

use crate::common::TestDb;

/// First start on an empty SQLite database writes a working token to a 0600
/// file beside the database; a second start does nothing.
#[tokio::test]
async fn first_start_writes_a_one_time_token_beside_the_sqlite_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("drift.db").display()
    );
    let db = drift_engine::db::connect(&url).await.expect("connect");
    drift_engine::db::migrate(&db).await.expect("migrate");

    let outcome = bootstrap::run(&db, &url).await.expect("bootstrap");
    let path = dir.path().join("drift-engine.bootstrap-token");
    assert_eq!(outcome, Outcome::TokenWritten(path.clone()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path)
            .expect("token file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let token = std::fs::read_to_string(&path).expect("read token");
    let (_, user) = drift_engine::auth::tokens::authenticate(&db, token.trim())
        .await
        .expect("lookup")
        .expect("the bootstrap token authenticates");
    assert_eq!(user.email, bootstrap::BOOTSTRAP_EMAIL);

    std::fs::remove_file(&path).expect("remove");
    assert_eq!(
        bootstrap::run(&db, &url).await.expect("again"),
        Outcome::AlreadyInitialized
    );
    assert!(!path.exists(), "no second token is written");
}

/// Where there is no file beside a database (PostgreSQL), nothing is created
/// and the log points at `token create`.
#[tokio::test]
async fn without_a_sqlite_file_bootstrap_points_to_token_create() {
    let test_db = TestDb::new().await;
    let url = if test_db.is_postgres {
        test_db.url.clone()
    } else {
        "sqlite::memory:".to_owned()
    };
    let outcome = bootstrap::run(&test_db.db, &url).await.expect("bootstrap");
    assert_eq!(outcome, Outcome::UseTokenCreate);
}
