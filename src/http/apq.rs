//! Automatic persisted queries, in Apollo's protocol: a client sends
//! `extensions.persistedQuery = {version: 1, sha256Hash}` without the
//! query; a known hash runs the query it names, an unknown one answers
//! `PersistedQueryNotFound` (code `PERSISTED_QUERY_NOT_FOUND`), and the
//! client sends the query again with the hash, which registers it.
//!
//! Resolved here, before the schema sees the request, so it adds no
//! async-graphql extension to any request (BENCHMARKS.md: a registered
//! extension cost every field of a findings page). Each process keeps its
//! own bounded cache; a replica that has not seen a hash answers not
//! found, and the client registers it there.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use async_graphql::Request;
use sha2::{Digest, Sha256};

/// Queries kept per process.
const CAPACITY: usize = 1_000;
/// A longer query runs but is not kept (the cache stays under 32 MiB).
pub const MAX_QUERY_BYTES: usize = 32 * 1024;

pub const NOT_FOUND_MESSAGE: &str = "PersistedQueryNotFound";
pub const NOT_FOUND_CODE: &str = "PERSISTED_QUERY_NOT_FOUND";

#[derive(Debug, PartialEq, Eq)]
pub enum ApqError {
    /// The hash is not known here: send the query with it.
    NotFound,
    /// A malformed `persistedQuery`, or a hash that is not the query's.
    Invalid(String),
}

#[derive(Clone)]
pub struct PersistedQueries {
    cache: Arc<Mutex<lru::LruCache<[u8; 32], Arc<str>>>>,
}

impl Default for PersistedQueries {
    fn default() -> Self {
        Self {
            cache: Arc::new(Mutex::new(lru::LruCache::new(
                NonZeroUsize::new(CAPACITY).unwrap_or(NonZeroUsize::MIN),
            ))),
        }
    }
}

fn parse_hash(ext: &serde_json::Value) -> Result<[u8; 32], ApqError> {
    if ext["version"] != 1 {
        return Err(ApqError::Invalid(
            "extensions.persistedQuery.version must be 1".into(),
        ));
    }
    let hash = ext["sha256Hash"].as_str().unwrap_or_default();
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(hash, &mut bytes).map_err(|_| {
        ApqError::Invalid(
            "extensions.persistedQuery.sha256Hash must be 64 hexadecimal digits".into(),
        )
    })?;
    Ok(bytes)
}

impl PersistedQueries {
    /// Fills in or registers `request`'s query; a request without
    /// `persistedQuery` is left as it is.
    pub fn resolve(&self, request: &mut Request) -> Result<(), ApqError> {
        let Some(ext) = request.extensions.get("persistedQuery") else {
            return Ok(());
        };
        let ext = ext
            .clone()
            .into_json()
            .map_err(|e| ApqError::Invalid(format!("extensions.persistedQuery: {e}")))?;
        let hash = parse_hash(&ext)?;
        if request.query.is_empty() {
            let known = self
                .cache
                .lock()
                .ok()
                .and_then(|mut c| c.get(&hash).cloned());
            return match known {
                Some(query) => {
                    request.query = query.to_string();
                    Ok(())
                }
                None => Err(ApqError::NotFound),
            };
        }
        let actual: [u8; 32] = Sha256::digest(request.query.as_bytes()).into();
        if actual != hash {
            return Err(ApqError::Invalid(
                "provided sha does not match query".into(),
            ));
        }
        if request.query.len() <= MAX_QUERY_BYTES
            && let Ok(mut cache) = self.cache.lock()
        {
            cache.put(hash, Arc::from(request.query.as_str()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_ext(query: &str, hash: &str) -> Request {
        let mut request = Request::new(query);
        request.extensions.insert(
            "persistedQuery".into(),
            async_graphql::Value::from_json(serde_json::json!({"version": 1, "sha256Hash": hash}))
                .expect("value"),
        );
        request
    }

    #[test]
    fn a_hash_is_registered_with_its_query_and_then_runs_it() {
        let apq = PersistedQueries::default();
        let query = "{ viewer { id } }";
        let hash = hex::encode(Sha256::digest(query));
        assert_eq!(
            apq.resolve(&mut with_ext("", &hash)),
            Err(ApqError::NotFound)
        );
        apq.resolve(&mut with_ext(query, &hash)).expect("registers");
        let mut request = with_ext("", &hash);
        apq.resolve(&mut request).expect("known");
        assert_eq!(request.query, query);
        assert!(matches!(
            apq.resolve(&mut with_ext("{ other }", &hash)),
            Err(ApqError::Invalid(_))
        ));
        assert!(matches!(
            apq.resolve(&mut with_ext("", "zz")),
            Err(ApqError::Invalid(_))
        ));
        let mut plain = Request::new(query);
        apq.resolve(&mut plain).expect("not APQ");
    }
}
