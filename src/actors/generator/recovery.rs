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
    if shared.services.settings.file.cluster.enabled {
        // Other nodes drive their own jobs: take only those whose lease ran out. The rest of a
        // dead node's jobs are taken over by `keep_leases` as their leases expire.
        let ttl = std::time::Duration::from_secs(shared.services.settings.file.cluster.lease_secs.max(3));
        match crate::db::cluster::take_over_expired(db, shared.services.node, ttl, 1000).await {
            Ok(jobs) => {
                for (id, user) in jobs {
                    let _ = pool.cast(GenMsg::Submit { id, user });
                }
            }
            Err(e) => tracing::error!(error = %e, "could not take over unfinished generations"),
        }
        // This node's own jobs, whose place in the queue was lost with the pool actor.
        let own: Vec<_> = shared.held.iter().map(|e| (*e.key(), *e.value())).collect();
        for (id, user) in own {
            let _ = pool.cast(GenMsg::Submit { id, user });
        }
        return;
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
