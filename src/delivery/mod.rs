//! Running unattended: schedules that queue compares (and the collections
//! before them), and notifications of changed drift through an outbox
//! that a delivery loop sends, and findings reports produced as streams.
//! Knows nothing of GraphQL or of the HTTP
//! server (it is an HTTP client of the channels' targets).

pub mod channels;
pub mod deliver;
pub mod notify;
pub mod report;
pub mod schedules;
