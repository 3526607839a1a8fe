//! The credit writer: executes sessions' reserve / commit / release statements, batching the
//! ones that arrive together into one transaction. Each statement is already atomic on its own;
//! grouping N of them under one COMMIT saves N−1 WAL flushes, which is where PostgreSQL spends
//! most of its time on this path (benches: scripts/bench/credit-path.sh).
//!
//! Up to `credits.writer_direct` operations at a time run at once, each on a connection of its
//! own (PostgreSQL groups their commits by itself); only beyond that do they queue for the
//! batching workers, so low concurrency pays no queueing and high concurrency shares commits.
//! A few workers share one queue. A worker takes the first waiting operation plus whatever else
//! is already queued (up to `credits.writer_batch_max`), never waiting to fill a batch, so an idle
//! system sees no added latency. Within a batch, the reserves of different users run as one
//! multi-row statement (`credits::reserve_many`) and the commits as another
//! (`credits::commit_many`): one round trip each however large the batch. Replies are sent only after the transaction committed. If any
//! statement of a batch fails (e.g. a duplicate idempotency key), the batch is rolled back and
//! each of its operations is executed again on its own, so one bad operation never fails its
//! neighbours. `writer_workers = 0` executes every operation directly (no batching).
//!
//! The writer keeps the connections it used (at most one per direct place and per worker)
//! instead of handing each back to the pool after every statement: sqlx returns a connection
//! through a spawned task that first pings it (a `Sync` round trip to PostgreSQL), which doubled
//! the round trips of every reserve and commit. A kept connection goes back to the pool (through
//! sqlx's own check) whenever it is in doubt: an error other than a statement's refusal, or an
//! operation cut off half-way (its future dropped), so a connection is only reused clean. The
//! writer never keeps what others need: a connection goes back when every connection of the
//! pool is out (someone may be waiting for one), and one left unused for [`KEEP_IDLE`] goes back
//! too (a pruning task, ended with the writer).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use sqlx::pool::PoolConnection;
use sqlx::{Connection, PgConnection, PgPool, Postgres};
use tokio::sync::{Mutex, Semaphore, mpsc, oneshot};

use crate::db::credits::{self, ReserveRequest, Settled};
use crate::db::{DbError, SqlxResultExt};
use crate::domain::credits::{BucketState, Buckets};
use crate::domain::ids::HoldId;

type ReserveResult = Result<Option<Buckets>, DbError>;
type CommitResult = Result<Settled, DbError>;
type ReleaseResult = Result<(Settled, Option<BucketState>), DbError>;

enum Op {
    Reserve(Box<ReserveRequest>, oneshot::Sender<ReserveResult>),
    Commit(HoldId, oneshot::Sender<CommitResult>),
    Release(HoldId, String, oneshot::Sender<ReleaseResult>),
}

enum Outcome {
    Reserve(ReserveResult),
    Commit(CommitResult),
    Release(ReleaseResult),
}

impl Outcome {
    fn is_clean(&self) -> bool {
        match self {
            Outcome::Reserve(r) => clean(r),
            Outcome::Commit(r) => clean(r),
            Outcome::Release(r) => clean(r),
        }
    }

    fn is_err(&self) -> bool {
        match self {
            Outcome::Reserve(r) => r.is_err(),
            Outcome::Commit(r) => r.is_err(),
            Outcome::Release(r) => r.is_err(),
        }
    }
}

impl Op {
    async fn execute(&self, conn: &mut PgConnection) -> Outcome {
        match self {
            Op::Reserve(req, _) => Outcome::Reserve(credits::reserve(&mut *conn, req).await),
            Op::Commit(hold, _) => Outcome::Commit(credits::commit(conn, *hold).await),
            Op::Release(hold, reason, _) => Outcome::Release(credits::release(conn, *hold, reason).await),
        }
    }

    fn reply(self, outcome: Outcome) {
        match (self, outcome) {
            (Op::Reserve(_, tx), Outcome::Reserve(r)) => {
                let _ = tx.send(r);
            }
            (Op::Commit(_, tx), Outcome::Commit(r)) => {
                let _ = tx.send(r);
            }
            (Op::Release(_, _, tx), Outcome::Release(r)) => {
                let _ = tx.send(r);
            }
            // Outcomes are produced by `execute` of the same op, so kinds always match.
            _ => {}
        }
    }

    fn fail(self, message: &str) {
        let err = || DbError::Other(sqlx::Error::Protocol(message.to_string()));
        match self {
            Op::Reserve(_, tx) => {
                let _ = tx.send(Err(err()));
            }
            Op::Commit(_, tx) => {
                let _ = tx.send(Err(err()));
            }
            Op::Release(_, _, tx) => {
                let _ = tx.send(Err(err()));
            }
        }
    }
}

/// Whether a connection can run the next operation as it is: after a success or a statement's
/// refusal (a conflict, nothing found) PostgreSQL has answered and is ready for the next one;
/// after anything else (a lost connection, a protocol error) the connection is in doubt.
fn clean<T>(result: &Result<T, DbError>) -> bool {
    matches!(result, Ok(_) | Err(DbError::Conflict { .. } | DbError::NotFound))
}

/// A connection the writer has not used for this long goes back to the pool.
pub const KEEP_IDLE: Duration = Duration::from_secs(30);

/// The writer's connections between operations (see the module comment).
struct Kept {
    pool: PgPool,
    /// Oldest first: each is pushed when it was last used.
    idle: std::sync::Mutex<Vec<(PoolConnection<Postgres>, Instant)>>,
    max: usize,
    keep_idle: Duration,
}

impl Kept {
    /// A kept connection (the one used last), or a new one from the pool.
    async fn take(&self) -> Result<PoolConnection<Postgres>, DbError> {
        let kept = self.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).pop();
        match kept {
            Some((conn, _)) => Ok(conn),
            None => self.pool.acquire().await.db(),
        }
    }

    /// Keeps a clean connection for the next operation; one in doubt, one beyond `max`, or any
    /// while the pool has nothing left for others goes back to the pool, which checks it before
    /// anyone else uses it.
    fn give_back(&self, conn: PoolConnection<Postgres>, clean: bool) {
        if clean && self.pool_has_room() {
            let mut idle = self.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if idle.len() < self.max {
                idle.push((conn, Instant::now()));
            }
        }
    }

    /// Whether others can still get a connection while the writer keeps one: the pool can open
    /// another, or has one idle.
    fn pool_has_room(&self) -> bool {
        self.pool.size() < self.pool.options().get_max_connections() || self.pool.num_idle() > 0
    }

    /// Hands back the connections unused for `keep_idle`.
    fn prune(&self) {
        let stale: Vec<_> = {
            let mut idle = self.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let fresh = idle.iter().position(|(_, used)| used.elapsed() < self.keep_idle).unwrap_or(idle.len());
            idle.drain(..fresh).collect()
        };
        // Dropped outside the lock: each goes back to the pool.
        drop(stale);
    }
}

/// Handle to the writer; cheap to clone.
#[derive(Clone)]
pub struct CreditWriter {
    kept: Arc<Kept>,
    queue: Option<mpsc::Sender<Op>>,
    /// Places for operations executed at once, on their own connection (`writer_direct`).
    direct: Arc<Semaphore>,
}

impl CreditWriter {
    /// Starts `workers` workers (0 = execute directly) batching up to `batch_max` operations;
    /// up to `direct` operations at a time skip the queue.
    pub fn start(pool: PgPool, workers: usize, batch_max: usize, direct: usize) -> Self {
        Self::start_keeping(pool, workers, batch_max, direct, KEEP_IDLE)
    }

    /// [`CreditWriter::start`], handing back a connection unused for `keep_idle`.
    pub fn start_keeping(pool: PgPool, workers: usize, batch_max: usize, direct: usize, keep_idle: Duration) -> Self {
        let kept = Arc::new(Kept { pool, idle: std::sync::Mutex::new(Vec::new()), max: direct + workers, keep_idle });
        // Ends once the writer and its workers are gone.
        let pruned = Arc::downgrade(&kept);
        tokio::spawn(async move {
            let mut every = tokio::time::interval((keep_idle / 2).max(Duration::from_millis(10)));
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                let Some(kept) = pruned.upgrade() else { return };
                kept.prune();
            }
        });
        let direct = Arc::new(Semaphore::new(direct));
        if workers == 0 {
            return CreditWriter { kept, queue: None, direct };
        }
        let (tx, rx) = mpsc::channel::<Op>(4096);
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..workers {
            tokio::spawn(worker(kept.clone(), rx.clone(), batch_max.max(1)));
        }
        CreditWriter { kept, queue: Some(tx), direct }
    }

    async fn run<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, DbError>>) -> Op,
        direct: impl AsyncFnOnce(&mut PgConnection) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        // A free direct place (the permit is given back however the call ends, a caller that
        // went away included): run now on a connection of its own, as an idle system should.
        let permit = self.direct.clone().try_acquire_owned().ok();
        match &self.queue {
            Some(queue) if permit.is_none() => {
                let (tx, rx) = oneshot::channel();
                queue.send(make(tx)).await.map_err(|_| gone())?;
                rx.await.map_err(|_| gone())?
            }
            _ => {
                let _permit = permit;
                let mut conn = self.kept.take().await?;
                let result = direct(&mut conn).await;
                self.kept.give_back(conn, clean(&result));
                result
            }
        }
    }

    pub async fn reserve(&self, request: ReserveRequest) -> ReserveResult {
        let boxed = Box::new(request);
        let for_direct = boxed.clone();
        self.run(|tx| Op::Reserve(boxed, tx), async move |conn| credits::reserve(conn, &for_direct).await).await
    }

    pub async fn commit(&self, hold: HoldId) -> CommitResult {
        self.run(|tx| Op::Commit(hold, tx), async move |conn| credits::commit(conn, hold).await).await
    }

    pub async fn release(&self, hold: HoldId, reason: &str) -> ReleaseResult {
        let reason = reason.to_string();
        let for_direct = reason.clone();
        self.run(|tx| Op::Release(hold, reason, tx), async move |conn| credits::release(conn, hold, &for_direct).await)
            .await
    }
}

fn gone() -> DbError {
    DbError::Other(sqlx::Error::PoolClosed)
}

async fn worker(kept: Arc<Kept>, queue: Arc<Mutex<mpsc::Receiver<Op>>>, batch_max: usize) {
    loop {
        let batch = {
            let mut rx = queue.lock().await;
            let Some(first) = rx.recv().await else { return };
            let mut batch = vec![first];
            while batch.len() < batch_max {
                match rx.try_recv() {
                    Ok(op) => batch.push(op),
                    Err(_) => break,
                }
            }
            batch
        };
        metrics::histogram!("primerka_credit_batch_size").record(batch.len() as f64);
        // A panic fails this batch's callers (their reply channels drop), not the worker.
        let result = std::panic::AssertUnwindSafe(execute_batch(&kept, batch)).catch_unwind().await;
        if result.is_err() {
            tracing::error!("credit writer batch panicked");
        }
    }
}

async fn execute_batch(kept: &Kept, batch: Vec<Op>) {
    if batch.len() == 1 {
        return execute_alone(kept, batch).await;
    }
    let mut conn = match kept.take().await {
        Ok(conn) => conn,
        Err(e) => return fail_all(batch, &e.to_string()),
    };
    // A connection that cannot begin is in doubt: it goes back to the pool when dropped here.
    let mut tx = match conn.begin().await {
        Ok(tx) => tx,
        Err(e) => return fail_all(batch, &e.to_string()),
    };
    let Some(outcomes) = execute_in(&mut tx, &batch).await else {
        // Some statement refused: undo the batch and give every operation its own try.
        let rolled_back = tx.rollback().await.is_ok();
        kept.give_back(conn, rolled_back);
        metrics::counter!("primerka_credit_batch_fallbacks_total").increment(1);
        return execute_alone(kept, batch).await;
    };
    match tx.commit().await {
        Ok(()) => {
            kept.give_back(conn, true);
            for (op, outcome) in batch.into_iter().zip(outcomes) {
                op.reply(outcome);
            }
        }
        Err(e) => fail_all(batch, &e.to_string()),
    }
}

/// Runs a batch's operations in one transaction: the reserves without a generation (of distinct
/// users) in one statement, the commits in one, everything else one by one. The operations
/// are of different users (each user's session sends one at a time), so their order within
/// the batch does not matter. `None` when any statement refused.
async fn execute_in(conn: &mut PgConnection, batch: &[Op]) -> Option<Vec<Outcome>> {
    let mut outcomes: Vec<Option<Outcome>> = batch.iter().map(|_| None).collect();
    let plain: Vec<(usize, &ReserveRequest)> = batch
        .iter()
        .enumerate()
        .filter_map(|(i, op)| match op {
            Op::Reserve(req, _) if req.generation.is_none() => Some((i, &**req)),
            _ => None,
        })
        .collect();
    let distinct_users =
        plain.iter().map(|(_, r)| r.user).collect::<std::collections::HashSet<_>>().len() == plain.len();
    if plain.len() >= 2 && distinct_users {
        let reqs: Vec<&ReserveRequest> = plain.iter().map(|(_, r)| *r).collect();
        let applied = credits::reserve_many(&mut *conn, &reqs).await.ok()?;
        for ((i, _), buckets) in plain.iter().zip(applied) {
            outcomes[*i] = Some(Outcome::Reserve(Ok(buckets)));
        }
    }
    let commits: Vec<(usize, HoldId)> = batch
        .iter()
        .enumerate()
        .filter_map(|(i, op)| match op {
            Op::Commit(hold, _) => Some((i, *hold)),
            _ => None,
        })
        .collect();
    if commits.len() >= 2 {
        let ids: Vec<HoldId> = commits.iter().map(|(_, h)| *h).collect();
        let done = credits::commit_many(&mut *conn, &ids).await.ok()?;
        // A hold this statement did not commit is classified by the single commit below.
        for ((i, _), committed) in commits.iter().zip(done) {
            if committed {
                outcomes[*i] = Some(Outcome::Commit(Ok(Settled::Now)));
            }
        }
    }
    for (op, slot) in batch.iter().zip(outcomes.iter_mut()) {
        if slot.is_none() {
            let outcome = op.execute(&mut *conn).await;
            if outcome.is_err() {
                return None;
            }
            *slot = Some(outcome);
        }
    }
    outcomes.into_iter().collect()
}

async fn execute_alone(kept: &Kept, batch: Vec<Op>) {
    for op in batch {
        match kept.take().await {
            Ok(mut conn) => {
                let outcome = op.execute(&mut conn).await;
                kept.give_back(conn, outcome.is_clean());
                op.reply(outcome);
            }
            Err(e) => op.fail(&e.to_string()),
        }
    }
}

fn fail_all(batch: Vec<Op>, message: &str) {
    tracing::warn!(error = message, size = batch.len(), "credit batch failed");
    for op in batch {
        op.fail(message);
    }
}
