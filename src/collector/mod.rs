//! The collector: what drift-engine needs to read a tenant from Microsoft
//! Graph itself. So far, the tenant's connection (the app registration and
//! its credential, sealed at rest); the Graph client comes with it.

pub mod connections;
pub mod secrets;
