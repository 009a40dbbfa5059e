//! Governance of drift: what operators decide about findings. Exclusions
//! (what compares ignore) so far; acceptance, alignment and summaries
//! follow.

pub mod exclusions;
pub mod patterns;
