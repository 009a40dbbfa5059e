mod directory;
mod evidence;
mod node;

use async_graphql::MergedObject;

#[derive(MergedObject, Default)]
pub struct Query(
    directory::DirectoryQuery,
    evidence::EvidenceQuery,
    node::NodeQuery,
);
