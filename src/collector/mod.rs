//! The collector: what drift-engine needs to read a tenant from Microsoft
//! Graph itself: the tenant's connection (the app registration and its
//! credential, sealed at rest), tokens, the Graph client, and the
//! `inventory_sync` and `policy_capture` jobs, which record what they read
//! through the same ingestion as pushed and imported evidence.

pub mod connections;
pub mod content;
pub mod graph;
pub mod runs;
pub mod secrets;
pub mod session;
pub mod sync;
pub mod token;
