mod directory;
mod node;

use async_graphql::MergedObject;

#[derive(MergedObject, Default)]
pub struct Query(directory::DirectoryQuery, node::NodeQuery);
