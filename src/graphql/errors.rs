//! Maps the domain error list onto GraphQL errors with `extensions.code`.
//! Internal errors are logged with their detail and shown as `INTERNAL`
//! without any database text.

use async_graphql::{ErrorExtensions, ServerError};

use crate::error::Error;

impl From<Error> for async_graphql::Error {
    fn from(err: Error) -> Self {
        if let Error::Internal(detail) = &err {
            tracing::error!(error = %format!("{detail:#}"), "internal error while resolving a GraphQL field");
        }
        let code = err.code();
        async_graphql::Error::new(err.to_string()).extend_with(|_, ext| ext.set("code", code))
    }
}

/// Errors raised by async-graphql itself (syntax, validation, limits, input
/// coercion) carry no code: they are all the client's input.
pub fn ensure_code(error: &mut ServerError) {
    let has_code = error
        .extensions
        .as_ref()
        .is_some_and(|ext| ext.get("code").is_some());
    if !has_code {
        error
            .extensions
            .get_or_insert_with(Default::default)
            .set("code", "BAD_USER_INPUT");
    }
}
