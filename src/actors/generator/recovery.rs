//! What the pool does when it (re)starts: settle the holds of jobs that finished but whose hold
//! a crash left open, and queue every unfinished job again (its database state says where it
//! is; a worker resumes it from there).

use std::sync::Arc;

use ractor::ActorRef;

use super::{GenMsg, GenShared, result};
use crate::db::generations as gen_db;

pub(super) async fn recover(shared: &Arc<GenShared>, pool: &ActorRef<GenMsg>) {
    let db = &shared.services.pool;
    match gen_db::finished_with_open_hold(db).await {
        Ok(rows) => {
            for row in rows {
                result::settle_hold(shared, &row).await;
            }
        }
        Err(e) => tracing::error!(error = %e, "could not list finished jobs with open holds"),
    }
    match gen_db::unfinished(db).await {
        Ok(jobs) => {
            if !jobs.is_empty() {
                tracing::info!(jobs = jobs.len(), "resuming unfinished generations");
            }
            for (id, user) in jobs {
                let _ = pool.cast(GenMsg::Submit { id, user });
            }
        }
        Err(e) => tracing::error!(error = %e, "could not list unfinished generations"),
    }
}
