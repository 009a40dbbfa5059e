//! Front doors for the shell, beside GraphQL: commands that call the
//! engine and print what it did.

pub mod collect;
pub mod compare;
pub mod report;
