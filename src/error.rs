//! The one exhaustive list of error codes. Every failure a client can see is
//! one of these; GraphQL maps them onto `extensions.code`.

use sea_orm::DbErr;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("authentication required: send `Authorization: Bearer <token>` with a valid API token")]
    Unauthenticated,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    BadUserInput(String),
    #[error("{0}")]
    Conflict(String),
    /// The detail is logged, never shown to the client.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl Error {
    pub fn code(&self) -> &'static str {
        match self {
            Error::Unauthenticated => "UNAUTHENTICATED",
            Error::Forbidden(_) => "FORBIDDEN",
            Error::NotFound(_) => "NOT_FOUND",
            Error::BadUserInput(_) => "BAD_USER_INPUT",
            Error::Conflict(_) => "CONFLICT",
            Error::Internal(_) => "INTERNAL",
        }
    }

    pub fn bad_input(message: impl Into<String>) -> Self {
        Error::BadUserInput(message.into())
    }

    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        Error::Internal(err.into())
    }

    /// Any NOT_FOUND met on the way to a thing (its tenant, its workspace)
    /// reads as that thing's own: what exists where the caller may not look
    /// must read exactly like what does not exist.
    pub fn not_found_as(self, what: &'static str) -> Self {
        match self {
            Error::NotFound(_) => Error::NotFound(what),
            other => other,
        }
    }
}

impl From<DbErr> for Error {
    /// A unique key that another request took a moment earlier is the
    /// answer a sequential duplicate gets: CONFLICT, never INTERNAL.
    fn from(err: DbErr) -> Self {
        if is_unique_violation(&err) {
            tracing::debug!(error = %err, "a concurrent request took the same unique key");
            return Error::Conflict(
                "another request changed the same thing at the same moment; read it again".into(),
            );
        }
        Error::Internal(err.into())
    }
}

pub fn is_unique_violation(err: &DbErr) -> bool {
    matches!(
        err.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}

impl From<sea_orm::TransactionError<Error>> for Error {
    fn from(err: sea_orm::TransactionError<Error>) -> Self {
        match err {
            sea_orm::TransactionError::Connection(db) => db.into(),
            sea_orm::TransactionError::Transaction(inner) => inner,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
