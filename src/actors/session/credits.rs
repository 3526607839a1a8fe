//! The session's credit operations: the cached buckets, reserve (optionally together with the
//! generation it pays for), commit and release. The statements run through the credit writer
//! (`db::credit_writer`), which batches the ones that arrive together.

use chrono::Utc;

use super::{Hold, ReserveCmd, SessionActor, SessionError, SessionState};
use crate::db::DbError;
use crate::db::credits::{self as credit_db, ReserveRequest, Settled};
use crate::db::generations::NewGeneration;
use crate::domain::credits::{self, BucketState};
use crate::domain::ids::HoldId;

impl SessionActor {
    /// The cached buckets, loaded and brought up to date (month change, ended period) first.
    pub(super) async fn current(&self, state: &mut SessionState) -> Result<BucketState, SessionError> {
        let now = Utc::now();
        let services = self.services();
        let cached = match state.buckets {
            Some(b) => b,
            None => credit_db::load_state(&services.pool, state.user).await?,
        };
        let fresh = if credits::needs_refresh(&cached, now, services.tz) {
            let mut conn = services.pool.acquire().await.map_err(DbError::from_sqlx)?;
            credit_db::refresh(&mut conn, state.user, now, services.tz, services.settings.file.credits.free_monthly)
                .await?
        } else {
            cached
        };
        state.buckets = Some(fresh);
        Ok(fresh)
    }

    /// Reserves `cmd.cost` in spend order; with `generation`, the generation row is written in
    /// the same statement (it exists exactly when the hold does).
    pub(super) async fn reserve(
        &self,
        state: &mut SessionState,
        cmd: &ReserveCmd,
        generation: Option<NewGeneration>,
    ) -> Result<Hold, SessionError> {
        let services = self.services();
        let ttl = chrono::Duration::seconds(services.settings.file.credits.hold_ttl_secs as i64);
        for _attempt in 0..4 {
            let snapshot = self.current(state).await?;
            let split = credits::split_cost(cmd.cost, &snapshot.buckets)?;
            let request = ReserveRequest {
                hold_id: HoldId::new(),
                user: state.user,
                key: cmd.key.clone(),
                purpose: cmd.purpose.clone(),
                split,
                expected: snapshot,
                generation_id: cmd.generation_id,
                expires_at: Utc::now() + ttl,
                generation: generation.clone(),
            };
            let hold_id = request.hold_id;
            match Box::pin(services.credits.reserve(request)).await {
                Ok(Some(buckets)) => {
                    let new_state = BucketState { buckets, ..snapshot };
                    state.buckets = Some(new_state);
                    state.open_holds.push(hold_id);
                    self.publish(state, self.view(&new_state).frame());
                    metrics::counter!("primerka_credit_reserves_total", "purpose" => cmd.purpose.clone()).increment(1);
                    return Ok(Hold {
                        id: hold_id,
                        amount: split.total(),
                        split,
                        watermarked: split.watermarked(),
                        existing: false,
                    });
                }
                // The row changed under us (a grant, another node): reload and try again. With a
                // generation, the cap guard may be what refused (another node started this
                // user's jobs): the database decides, and the cached set is re-read next time.
                Ok(None) => {
                    state.buckets = None;
                    if let Some(g) = &generation {
                        let unfinished =
                            crate::db::generations::unfinished_for_user(&services.pool, state.user).await?;
                        if unfinished.len() as i64 >= g.max_unfinished {
                            state.in_flight = None;
                            return Err(SessionError::InFlightLimit);
                        }
                    }
                }
                Err(DbError::Conflict { constraint }) if constraint.contains("idempotency_key") => {
                    let existing = credit_db::find_hold_by_key(&services.pool, &cmd.key).await?;
                    if existing.user_id != state.user {
                        return Err(SessionError::Conflict);
                    }
                    return Ok(Hold::from_row(&existing, true));
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(SessionError::Contended)
    }

    pub(super) async fn commit(&self, state: &mut SessionState, hold: HoldId) -> Result<Settled, SessionError> {
        let settled = self.services().credits.commit(hold).await.map_err(|e| match e {
            DbError::Conflict { .. } => SessionError::Conflict,
            other => other.into(),
        })?;
        state.open_holds.retain(|h| *h != hold);
        Ok(settled)
    }

    pub(super) async fn release(
        &self,
        state: &mut SessionState,
        hold: HoldId,
        reason: &str,
    ) -> Result<Settled, SessionError> {
        let (settled, new_state) = self.services().credits.release(hold, reason).await.map_err(|e| match e {
            DbError::Conflict { .. } => SessionError::Conflict,
            other => other.into(),
        })?;
        state.open_holds.retain(|h| *h != hold);
        if let Some(new_state) = new_state {
            state.buckets = Some(new_state);
            self.publish(state, self.view(&new_state).frame());
            metrics::counter!("primerka_credit_releases_total").increment(1);
        }
        Ok(settled)
    }
}
