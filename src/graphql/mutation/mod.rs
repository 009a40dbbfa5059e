mod baselines;
mod connections;
mod directory;
mod evidence;
mod findings;
mod notifications;
mod schedules;
mod tokens;

use async_graphql::MergedObject;

#[derive(MergedObject, Default)]
pub struct Mutation(
    directory::DirectoryMutation,
    baselines::BaselineMutation,
    evidence::EvidenceMutation,
    findings::FindingMutation,
    connections::ConnectionMutation,
    schedules::ScheduleMutation,
    notifications::NotificationMutation,
    tokens::TokenMutation,
);
