mod directory;

use async_graphql::MergedObject;

#[derive(MergedObject, Default)]
pub struct Mutation(directory::DirectoryMutation);
