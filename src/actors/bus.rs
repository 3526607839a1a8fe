//! The cluster's event bus (DESIGN §8, issue 19): what one node's actors tell a user's sessions
//! reaches that user's sessions on every node, through PostgreSQL `LISTEN/NOTIFY` — no broker
//! beyond the database every node already has.
//!
//! Three kinds of news travel: a frame for the user's sockets (a job finished on node B while
//! the user's socket is on node A), "the balance changed" (a grant applied on another node: a
//! session re-reads its cached buckets) and "the chat changed" (a session drops its cached chat).
//! A frame that does not fit a notification (8000 bytes) is stored in `cluster_frames` and the
//! notification carries its id. Notifications are a hint, as a lost WebSocket frame always was:
//! a client re-reads over REST after any reconnect.
//!
//! With `cluster.enabled = false` (one node) the bus does nothing and costs nothing.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::mpsc;
use uuid::Uuid;

use super::events::Frame;
use crate::db::cluster as cluster_db;
use crate::domain::ids::UserId;

/// The `NOTIFY` channel every node listens on.
pub const CHANNEL: &str = "primerka_events";

/// Payloads above this go through `cluster_frames` (PostgreSQL's limit is 8000 bytes).
const INLINE_LIMIT: usize = 7000;

/// News for a user's sessions on the other nodes.
#[derive(Debug, Clone)]
pub enum BusEvent {
    /// A frame for the user's sockets.
    Frame(UserId, Frame),
    /// The user's balance changed outside their session there.
    Reload(UserId),
    /// The user's chat changed outside their session there.
    ChatChanged(UserId),
}

#[derive(Serialize, Deserialize)]
struct Wire {
    /// The sending node (receivers skip their own news).
    n: Uuid,
    u: i64,
    /// `f` frame, `r` reload, `c` chat changed.
    k: char,
    #[serde(skip_serializing_if = "Option::is_none")]
    f: Option<String>,
    /// A stored frame's id (`cluster_frames`).
    #[serde(skip_serializing_if = "Option::is_none")]
    i: Option<i64>,
}

/// What a node does with news for a user (delivers to the user's local session, if any).
pub trait LocalDelivery: Send + Sync + 'static {
    fn deliver(&self, event: BusEvent);
}

/// Sends news to the other nodes; cheap to clone.
#[derive(Clone, Default)]
pub struct Bus {
    outbox: Option<mpsc::Sender<BusEvent>>,
    node: Uuid,
}

impl Bus {
    /// A bus that sends nothing (one node).
    pub fn disabled() -> Self {
        Bus::default()
    }

    /// Starts the sender and the listener of node `node`; `local` receives the other nodes' news.
    pub async fn start(pool: PgPool, node: Uuid, local: Arc<dyn LocalDelivery>) -> anyhow::Result<Self> {
        let mut listener = PgListener::connect_with(&pool).await?;
        listener.listen(CHANNEL).await?;
        tokio::spawn(listen(listener, pool.clone(), node, local));
        let (tx, rx) = mpsc::channel(10_000);
        tokio::spawn(send_all(rx, pool, node));
        Ok(Bus { outbox: Some(tx), node })
    }

    pub fn is_enabled(&self) -> bool {
        self.outbox.is_some()
    }

    /// This node's id.
    pub fn node(&self) -> Uuid {
        self.node
    }

    /// Queues news for the other nodes (never blocks; dropped, with a metric, when the database
    /// cannot keep up: clients re-read after reconnecting).
    pub fn send(&self, event: BusEvent) {
        if let Some(outbox) = &self.outbox
            && outbox.try_send(event).is_err()
        {
            metrics::counter!("primerka_bus_dropped_total").increment(1);
        }
    }
}

async fn send_all(mut rx: mpsc::Receiver<BusEvent>, pool: PgPool, node: Uuid) {
    while let Some(event) = rx.recv().await {
        let mut wire = match &event {
            BusEvent::Frame(user, frame) => Wire { n: node, u: user.0, k: 'f', f: Some(frame.to_string()), i: None },
            BusEvent::Reload(user) => Wire { n: node, u: user.0, k: 'r', f: None, i: None },
            BusEvent::ChatChanged(user) => Wire { n: node, u: user.0, k: 'c', f: None, i: None },
        };
        if wire.f.as_ref().is_some_and(|f| f.len() > INLINE_LIMIT) {
            match cluster_db::store_frame(&pool, wire.f.as_deref().unwrap_or_default()).await {
                Ok(id) => {
                    wire.f = None;
                    wire.i = Some(id);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not store a large frame for the other nodes");
                    continue;
                }
            }
        }
        let Ok(payload) = serde_json::to_string(&wire) else { continue };
        if let Err(e) = cluster_db::notify(&pool, CHANNEL, &payload).await {
            metrics::counter!("primerka_bus_dropped_total").increment(1);
            tracing::debug!(error = %e, "could not notify the other nodes");
        } else {
            metrics::counter!("primerka_bus_sent_total").increment(1);
        }
    }
}

async fn listen(mut listener: PgListener, pool: PgPool, node: Uuid, local: Arc<dyn LocalDelivery>) {
    loop {
        // `recv` reconnects by itself after a lost connection (news sent meanwhile is lost).
        let notification = match listener.recv().await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "the cluster bus lost its connection; retrying");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                continue;
            }
        };
        let Ok(wire) = serde_json::from_str::<Wire>(notification.payload()) else { continue };
        if wire.n == node {
            continue;
        }
        let user = UserId(wire.u);
        let event = match wire.k {
            'r' => BusEvent::Reload(user),
            'c' => BusEvent::ChatChanged(user),
            _ => {
                let frame = match (wire.f, wire.i) {
                    (Some(f), _) => f,
                    (None, Some(id)) => match cluster_db::stored_frame(&pool, id).await {
                        Ok(Some(f)) => f,
                        _ => continue,
                    },
                    (None, None) => continue,
                };
                BusEvent::Frame(user, Frame::from(frame))
            }
        };
        metrics::counter!("primerka_bus_received_total").increment(1);
        local.deliver(event);
    }
}
