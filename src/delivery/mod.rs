//! Running unattended: schedules that queue compares (and the collections
//! before them). Knows nothing of GraphQL or HTTP.

pub mod schedules;
