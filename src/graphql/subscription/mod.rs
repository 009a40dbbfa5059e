//! Subscriptions over graphql-transport-ws at /graphql/ws.

use std::time::Duration;

use async_graphql::{Context, ID, Result, Subscription};
use entity::enums::RunStatus;
use entity::operation_run;
use futures_util::Stream;
use sea_orm::EntityTrait;

use crate::graphql::ContextExt;
use crate::graphql::ids::{self, NodeKind};
use crate::graphql::query::load_run;
use crate::graphql::types::OperationRun;

/// How often a subscribed run is read. Polling the database works whichever
/// process runs the job.
const POLL: Duration = Duration::from_millis(250);

#[derive(Default)]
pub struct Subscription;

struct Watch {
    db: sea_orm::DatabaseConnection,
    run_id: i64,
    last: Option<(RunStatus, i64, i64)>,
    done: bool,
}

#[Subscription]
impl Subscription {
    /// Streams the run whenever its status or progress changes, starting
    /// with its current state; completes after the run completes.
    async fn operation_run(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> Result<impl Stream<Item = OperationRun> + use<>> {
        let run_id = ids::decode_as(&id, NodeKind::OperationRun)?;
        load_run(ctx, run_id).await?;
        let watch = Watch {
            db: ctx.db().clone(),
            run_id,
            last: None,
            done: false,
        };
        Ok(futures_util::stream::unfold(
            watch,
            |mut watch| async move {
                loop {
                    if watch.done {
                        return None;
                    }
                    let run = match operation_run::Entity::find_by_id(watch.run_id)
                        .one(&watch.db)
                        .await
                    {
                        Ok(Some(run)) => run,
                        Ok(None) => return None,
                        Err(err) => {
                            tracing::warn!(error = %err, "subscription could not read its run");
                            return None;
                        }
                    };
                    let state = (run.status, run.progress_done, run.progress_total);
                    if watch.last != Some(state) {
                        watch.last = Some(state);
                        watch.done = run.status == RunStatus::Completed;
                        return Some((OperationRun(run.into()), watch));
                    }
                    tokio::time::sleep(POLL).await;
                }
            },
        ))
    }
}
