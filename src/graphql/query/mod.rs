mod baselines;
mod directory;
mod evidence;
mod node;

pub use baselines::{load_channel, load_exclusion, load_profile};
pub use evidence::load_run;

use async_graphql::MergedObject;

#[derive(MergedObject, Default)]
pub struct Query(
    directory::DirectoryQuery,
    baselines::BaselineQuery,
    evidence::EvidenceQuery,
    node::NodeQuery,
);
