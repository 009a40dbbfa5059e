//! The drift engine: baseline profiles, capture, compare and findings. It
//! calls the evidence layer and knows nothing of GraphQL or HTTP.

pub mod capture;
pub mod compare;
pub mod findings;
pub mod profiles;
pub mod subjects;
