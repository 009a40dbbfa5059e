//! Governance of drift: what operators decide about findings. Exclusions
//! (what compares ignore), accepted drift that stays compared, and the
//! status history of findings.

pub mod acceptance;
pub mod alignment;
pub mod exclusions;
pub mod history;
pub mod patterns;
pub mod summary;
