//! `Notifier`: the bot's outgoing messages, queued and sent within Telegram's limits (about
//! 30 messages per second overall and one per second per chat, contracts/telegram.md §5).
//! A 429 puts the message back for `retry_after`; a 403 (the user blocked the bot) marks the
//! user and drops it; other transient failures are retried a few times with backoff.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use serde_json::Value;
use tokio::time::Instant;

use super::Services;
use super::supervisor::ActorSlot;
use crate::clients::telegram::{InputFile, TelegramError};
use crate::domain::ids::UserId;

/// One message for a chat.
#[derive(Debug, Clone)]
pub enum BotMessage {
    Text { text: String, reply_markup: Option<Value> },
    Photo { file: InputFile, caption: Option<String>, reply_markup: Option<Value> },
    Document { file: InputFile, caption: Option<String> },
}

#[derive(Debug)]
pub struct Outgoing {
    pub chat_id: i64,
    pub message: BotMessage,
    attempts: u32,
    not_before: Instant,
}

pub enum NotifierMsg {
    Enqueue(Box<Outgoing>),
    Tick,
    Finished(Box<Outgoing>, Result<(), TelegramError>),
}

pub struct Notifier {
    pub services: Arc<Services>,
}

pub struct NotifierState {
    queue: VecDeque<Box<Outgoing>>,
    last_sent: HashMap<i64, Instant>,
    in_flight: usize,
}

const MAX_ATTEMPTS: u32 = 5;

impl Actor for Notifier {
    type Msg = NotifierMsg;
    type State = NotifierState;
    type Arguments = ();

    async fn pre_start(&self, myself: ActorRef<NotifierMsg>, _: ()) -> Result<NotifierState, ActorProcessingErr> {
        let per_second = self.services.settings.file.telegram.sends_per_second.max(1);
        // The timer task ends by itself when the actor stops (its sends start failing).
        drop(
            myself.send_interval(
                Duration::from_millis(1000 / u64::from(per_second)).max(Duration::from_millis(1)),
                || NotifierMsg::Tick,
            ),
        );
        Ok(NotifierState { queue: VecDeque::new(), last_sent: HashMap::new(), in_flight: 0 })
    }

    async fn handle(
        &self,
        myself: ActorRef<NotifierMsg>,
        msg: NotifierMsg,
        state: &mut NotifierState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            NotifierMsg::Enqueue(item) => {
                if state.queue.len() >= self.services.settings.file.telegram.notifier_queue_capacity {
                    tracing::warn!(chat.id = item.chat_id, "bot queue full; dropping a message");
                    metrics::counter!("primerka_bot_messages_total", "result" => "dropped").increment(1);
                } else {
                    state.queue.push_back(item);
                }
            }
            NotifierMsg::Tick => self.send_next(&myself, state),
            NotifierMsg::Finished(mut item, result) => {
                state.in_flight = state.in_flight.saturating_sub(1);
                match result {
                    Ok(()) => metrics::counter!("primerka_bot_messages_total", "result" => "sent").increment(1),
                    Err(TelegramError::RateLimited { retry_after }) => {
                        item.not_before = Instant::now() + Duration::from_secs(retry_after.max(1));
                        state.queue.push_front(item);
                    }
                    Err(TelegramError::Forbidden(_)) => {
                        metrics::counter!("primerka_bot_messages_total", "result" => "blocked").increment(1);
                        let pool = self.services.pool.clone();
                        let user = UserId(item.chat_id);
                        tokio::spawn(async move {
                            if let Err(e) = crate::db::users::set_bot_blocked(&pool, user, true).await {
                                tracing::warn!(user.id = %user, error = %e, "could not mark the bot as blocked");
                            }
                        });
                    }
                    Err(e) if e.is_retryable() && item.attempts < MAX_ATTEMPTS => {
                        item.not_before = Instant::now() + Duration::from_secs(1 << item.attempts.min(5));
                        state.queue.push_back(item);
                    }
                    Err(e) => {
                        metrics::counter!("primerka_bot_messages_total", "result" => "failed").increment(1);
                        tracing::warn!(chat.id = item.chat_id, error = %e, "bot message not delivered");
                    }
                }
            }
        }
        Ok(())
    }
}

impl Notifier {
    /// Starts the first queued message that its chat's limit allows.
    fn send_next(&self, myself: &ActorRef<NotifierMsg>, state: &mut NotifierState) {
        let now = Instant::now();
        let per_chat = self.services.settings.file.telegram.sends_per_chat_per_second.max(1);
        let gap = Duration::from_millis(1000 / u64::from(per_chat));
        state.last_sent.retain(|_, t| now.duration_since(*t) < gap);
        // Bound the work in flight so a slow Telegram cannot pile up tasks.
        if state.in_flight >= 64 {
            return;
        }
        let Some(index) =
            state.queue.iter().position(|item| item.not_before <= now && !state.last_sent.contains_key(&item.chat_id))
        else {
            return;
        };
        let Some(mut item) = state.queue.remove(index) else {
            return;
        };
        state.last_sent.insert(item.chat_id, now);
        state.in_flight += 1;
        item.attempts += 1;
        let telegram = self.services.telegram.clone();
        let me = myself.clone();
        tokio::spawn(async move {
            let result = match &item.message {
                BotMessage::Text { text, reply_markup } => {
                    telegram.send_message(item.chat_id, text, reply_markup.clone()).await.map(|_| ())
                }
                BotMessage::Photo { file, caption, reply_markup } => telegram
                    .send_photo(item.chat_id, file.clone(), caption.as_deref(), reply_markup.clone())
                    .await
                    .map(|_| ()),
                BotMessage::Document { file, caption } => {
                    telegram.send_document(item.chat_id, file.clone(), caption.as_deref()).await.map(|_| ())
                }
            };
            let _ = me.cast(NotifierMsg::Finished(item, result));
        });
    }
}

/// Queues bot messages; never blocks the caller.
#[derive(Clone)]
pub struct NotifierHandle {
    slot: ActorSlot<NotifierMsg>,
}

impl NotifierHandle {
    pub fn new(slot: ActorSlot<NotifierMsg>) -> Self {
        Self { slot }
    }

    pub fn send(&self, chat_id: i64, message: BotMessage) {
        let item = Box::new(Outgoing { chat_id, message, attempts: 0, not_before: Instant::now() });
        if self.slot.get().cast(NotifierMsg::Enqueue(item)).is_err() {
            tracing::warn!(chat.id = chat_id, "notifier unavailable; message dropped");
        }
    }

    pub fn send_text(&self, chat_id: i64, text: impl Into<String>, reply_markup: Option<Value>) {
        self.send(chat_id, BotMessage::Text { text: text.into(), reply_markup });
    }
}
