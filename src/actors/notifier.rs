//! `Notifier`: the bot's outgoing messages, queued and sent within Telegram's limits (about
//! 30 messages per second overall and one per second per chat, contracts/telegram.md §5).
//!
//! Two queues, so no user can silence the bot for another:
//! - **account** messages (payments, grants, plans, answers to commands) go first;
//! - **media** (results sent to the chat) wait behind them, are held as a storage key (the
//!   bytes are read only when the message is sent), and each user may have at most
//!   `telegram.media_queued_per_user` of them queued ([`NotifierHandle::send_media`] says no
//!   beyond that, and the caller answers 429).
//!
//! Both queues are bounded (`notifier_queue_capacity` for account messages, a tenth of it for
//! media), so the whole queue's memory is bounded: a text is at most 4 KiB, a media entry a key.
//! A 429 puts the message back for `retry_after`; a 403 (the user blocked the bot) marks the
//! user and drops it; other transient failures are retried a few times with backoff.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use dashmap::DashMap;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use serde_json::Value;
use tokio::time::Instant;

use super::Services;
use super::supervisor::ActorSlot;
use crate::clients::telegram::{InputFile, TelegramError};
use crate::domain::ids::UserId;
use crate::domain::images::ImageFormat;

/// A stored image to send: read from storage when its turn comes.
#[derive(Debug, Clone)]
pub struct StoredMedia {
    pub key: String,
    pub file_name: String,
}

/// One message for a chat.
#[derive(Debug, Clone)]
pub enum BotMessage {
    Text { text: String, reply_markup: Option<Value> },
    Photo { media: StoredMedia, caption: Option<String>, reply_markup: Option<Value> },
    Document { media: StoredMedia, caption: Option<String> },
}

impl BotMessage {
    pub fn photo(key: &str, file_name: &str, caption: Option<String>) -> Self {
        BotMessage::Photo {
            media: StoredMedia { key: key.to_string(), file_name: file_name.to_string() },
            caption,
            reply_markup: None,
        }
    }

    pub fn document(key: &str, file_name: &str) -> Self {
        BotMessage::Document {
            media: StoredMedia { key: key.to_string(), file_name: file_name.to_string() },
            caption: None,
        }
    }

    fn is_media(&self) -> bool {
        !matches!(self, BotMessage::Text { .. })
    }
}

/// Telegram's limit on a message's text (UTF-16 units; characters are a safe bound here).
const MAX_TEXT_CHARS: usize = 4096;

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
    /// The user wrote to the bot again (`/start`): they unblocked it.
    Unblocked(UserId),
    /// Panics the actor (tests of supervision; ignored in production).
    CrashForTest,
}

pub struct Notifier {
    pub services: Arc<Services>,
    pub media_queued: MediaCounts,
    /// The queues live outside the actor's state so a restarted notifier carries on with the
    /// messages its predecessor held (the supervisor restarts it after a panic).
    pub queues: SharedQueues,
    /// Where send tasks report back: the notifier running when they finish.
    pub slot: ActorSlot<NotifierMsg>,
}

/// The notifier's queues, kept across restarts of the actor.
pub type SharedQueues = Arc<std::sync::Mutex<NotifierState>>;

#[derive(Default)]
pub struct NotifierState {
    account: VecDeque<Box<Outgoing>>,
    media: VecDeque<Box<Outgoing>>,
    last_sent: HashMap<i64, Instant>,
    in_flight: usize,
}

/// Media messages queued per chat, shared by the handle (which refuses beyond the cap) and the
/// actor (which counts them out when sent or dropped).
#[derive(Clone, Default)]
pub struct MediaCounts(Arc<DashMap<i64, AtomicUsize>>);

impl MediaCounts {
    fn try_add(&self, chat: i64, cap: usize) -> bool {
        let entry = self.0.entry(chat).or_default();
        let mut current = entry.load(Ordering::Relaxed);
        loop {
            if current >= cap {
                return false;
            }
            match entry.compare_exchange(current, current + 1, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(now) => current = now,
            }
        }
    }

    fn done(&self, chat: i64) {
        let emptied = self.0.get(&chat).is_some_and(|c| c.fetch_sub(1, Ordering::AcqRel) <= 1);
        if emptied {
            self.0.remove_if(&chat, |_, c| c.load(Ordering::Acquire) == 0);
        }
    }
}

const MAX_ATTEMPTS: u32 = 5;

impl Actor for Notifier {
    type Msg = NotifierMsg;
    type State = ();
    type Arguments = ();

    async fn pre_start(&self, myself: ActorRef<NotifierMsg>, _: ()) -> Result<(), ActorProcessingErr> {
        let per_second = self.services.settings.file.telegram.sends_per_second.max(1);
        // The timer task ends by itself when the actor stops (its sends start failing).
        drop(
            myself.send_interval(
                Duration::from_millis(1000 / u64::from(per_second)).max(Duration::from_millis(1)),
                || NotifierMsg::Tick,
            ),
        );
        Ok(())
    }

    async fn handle(
        &self,
        _myself: ActorRef<NotifierMsg>,
        msg: NotifierMsg,
        _: &mut (),
    ) -> Result<(), ActorProcessingErr> {
        if let NotifierMsg::CrashForTest = msg {
            if self.services.settings.env == crate::config::AppEnv::Production {
                tracing::warn!("ignoring a test crash request in production");
                return Ok(());
            }
            panic!("notifier crash requested by a test");
        }
        let mut guard = self.queues.lock().unwrap_or_else(|p| p.into_inner());
        let state = &mut *guard;
        match msg {
            NotifierMsg::Enqueue(item) => {
                let capacity = self.services.settings.file.telegram.notifier_queue_capacity;
                let (queue, capacity) = if item.message.is_media() {
                    (&mut state.media, (capacity / 10).max(1))
                } else {
                    (&mut state.account, capacity)
                };
                if queue.len() >= capacity {
                    tracing::warn!(
                        chat.id = item.chat_id,
                        media = item.message.is_media(),
                        "bot queue full; dropping a message"
                    );
                    metrics::counter!("primerka_bot_messages_total", "result" => "dropped").increment(1);
                    self.forget(&item);
                } else {
                    queue.push_back(item);
                }
                metrics::gauge!("primerka_bot_queue", "class" => "account").set(state.account.len() as f64);
                metrics::gauge!("primerka_bot_queue", "class" => "media").set(state.media.len() as f64);
            }
            NotifierMsg::Tick => self.send_next(state),
            NotifierMsg::Finished(mut item, result) => {
                state.in_flight = state.in_flight.saturating_sub(1);
                let requeue = |state: &mut NotifierState, item: Box<Outgoing>, front: bool| {
                    let queue = if item.message.is_media() { &mut state.media } else { &mut state.account };
                    if front { queue.push_front(item) } else { queue.push_back(item) }
                };
                match result {
                    Ok(()) => {
                        metrics::counter!("primerka_bot_messages_total", "result" => "sent").increment(1);
                        self.forget(&item);
                    }
                    Err(TelegramError::RateLimited { retry_after }) => {
                        item.not_before = Instant::now() + Duration::from_secs(retry_after.max(1));
                        requeue(state, item, true);
                    }
                    Err(TelegramError::Forbidden(_)) => {
                        metrics::counter!("primerka_bot_messages_total", "result" => "blocked").increment(1);
                        self.forget(&item);
                        self.set_blocked(UserId(item.chat_id), true);
                    }
                    Err(e) if e.is_retryable() && item.attempts < MAX_ATTEMPTS => {
                        item.not_before = Instant::now() + Duration::from_secs(1 << item.attempts.min(5));
                        requeue(state, item, false);
                    }
                    Err(e) => {
                        metrics::counter!("primerka_bot_messages_total", "result" => "failed").increment(1);
                        tracing::warn!(chat.id = item.chat_id, error = %e, "bot message not delivered");
                        self.forget(&item);
                    }
                }
            }
            NotifierMsg::Unblocked(user) => self.set_blocked(user, false),
            NotifierMsg::CrashForTest => {}
        }
        Ok(())
    }
}

impl Notifier {
    /// A media message left the queue (sent, dropped or failed for good).
    fn forget(&self, item: &Outgoing) {
        if item.message.is_media() {
            self.media_queued.done(item.chat_id);
        }
    }

    /// The notifier is the writer of `users.bot_blocked` (403 from Telegram; `/start` again).
    fn set_blocked(&self, user: UserId, blocked: bool) {
        let pool = self.services.pool.clone();
        tokio::spawn(async move {
            if let Err(e) = crate::db::users::set_bot_blocked(&pool, user, blocked).await {
                tracing::debug!(user.id = %user, error = %e, "could not record whether the bot is blocked");
            }
        });
    }

    /// Starts the first queued message (account messages first) that its chat's limit allows.
    fn send_next(&self, state: &mut NotifierState) {
        let now = Instant::now();
        let per_chat = self.services.settings.file.telegram.sends_per_chat_per_second.max(1);
        let gap = Duration::from_millis(1000 / u64::from(per_chat));
        state.last_sent.retain(|_, t| now.duration_since(*t) < gap);
        // Bound the work in flight so a slow Telegram cannot pile up tasks.
        if state.in_flight >= 64 {
            return;
        }
        let ready = |item: &Outgoing| item.not_before <= now && !state.last_sent.contains_key(&item.chat_id);
        let item = match state.account.iter().position(|i| ready(i)) {
            Some(i) => state.account.remove(i),
            None => match state.media.iter().position(|i| ready(i)) {
                Some(i) => state.media.remove(i),
                None => None,
            },
        };
        let Some(mut item) = item else { return };
        state.last_sent.insert(item.chat_id, now);
        state.in_flight += 1;
        item.attempts += 1;
        let services = self.services.clone();
        let slot = self.slot.clone();
        tokio::spawn(async move {
            let result = if services.settings.file.cluster.enabled {
                deliver_in_cluster(&services, &item).await
            } else {
                deliver(&services, &item).await
            };
            let _ = slot.get().cast(NotifierMsg::Finished(item, result));
        });
    }
}

/// In a cluster every node's notifier sends for the same bot: Telegram's limits (messages per
/// second for the bot, per second for one chat) are counted cluster-wide in PostgreSQL before
/// the message goes (this node's own pacing above still applies).
async fn deliver_in_cluster(services: &Services, item: &Outgoing) -> Result<(), TelegramError> {
    use super::generator::budget::SharedWindow;
    let t = &services.settings.file.telegram;
    let second = Duration::from_secs(1);
    // A send unanswered after the client's timeout belongs to a node that died.
    let stale = Duration::from_secs(t.request_timeout_secs.max(1) + 5);
    let bot = SharedWindow::new(services.pool.clone(), "bot:all", t.sends_per_second.max(1) as usize, second, stale);
    let chat = SharedWindow::new(
        services.pool.clone(),
        &format!("bot:chat:{}", item.chat_id),
        t.sends_per_chat_per_second.max(1) as usize,
        second,
        stale,
    );
    let chat_slot = chat.acquire().await;
    let bot_slot = bot.acquire().await;
    let result = deliver(services, item).await;
    bot.finish(bot_slot).await;
    chat.finish(chat_slot).await;
    result
}

/// Sends one message; media bytes are read from storage now (a result deleted meanwhile is not
/// sent: the failure is final, not retried).
async fn deliver(services: &Services, item: &Outgoing) -> Result<(), TelegramError> {
    let telegram = &services.telegram;
    let load = |media: &StoredMedia| {
        let key = media.key.clone();
        let file_name = media.file_name.clone();
        async move {
            let bytes = services
                .storage
                .get(&key)
                .await
                .map_err(|e| TelegramError::BadRequest(format!("the stored media could not be read: {e}")))?;
            let mime = ImageFormat::from_key(&key).unwrap_or(ImageFormat::Jpeg).mime().to_string();
            Ok::<_, TelegramError>(InputFile { bytes: bytes.into(), file_name, mime })
        }
    };
    match &item.message {
        BotMessage::Text { text, reply_markup } => {
            telegram.send_message(item.chat_id, text, reply_markup.clone()).await.map(|_| ())
        }
        BotMessage::Photo { media, caption, reply_markup } => {
            let file = load(media).await?;
            telegram.send_photo(item.chat_id, file, caption.as_deref(), reply_markup.clone()).await.map(|_| ())
        }
        BotMessage::Document { media, caption } => {
            let file = load(media).await?;
            telegram.send_document(item.chat_id, file, caption.as_deref()).await.map(|_| ())
        }
    }
}

/// Queues bot messages; never blocks the caller.
#[derive(Clone)]
pub struct NotifierHandle {
    slot: ActorSlot<NotifierMsg>,
    media_queued: MediaCounts,
    media_per_user: usize,
}

impl NotifierHandle {
    pub fn new(slot: ActorSlot<NotifierMsg>, media_queued: MediaCounts, media_per_user: usize) -> Self {
        Self { slot, media_queued, media_per_user }
    }

    fn enqueue(&self, chat_id: i64, message: BotMessage) -> bool {
        let item = Box::new(Outgoing { chat_id, message, attempts: 0, not_before: Instant::now() });
        if self.slot.get().cast(NotifierMsg::Enqueue(item)).is_err() {
            tracing::warn!(chat.id = chat_id, "notifier unavailable; message dropped");
            return false;
        }
        true
    }

    /// Queues an account message (payments, plans, answers to commands): ahead of all media.
    pub fn send_text(&self, chat_id: i64, text: impl Into<String>, reply_markup: Option<Value>) {
        let mut text = text.into();
        if text.chars().count() > MAX_TEXT_CHARS {
            text = text.chars().take(MAX_TEXT_CHARS).collect();
        }
        self.enqueue(chat_id, BotMessage::Text { text, reply_markup });
    }

    /// Queues a photo or a document for `chat_id`; `false` (nothing queued) when the chat
    /// already has `telegram.media_queued_per_user` media waiting.
    pub fn send_media(&self, chat_id: i64, message: BotMessage) -> bool {
        if !message.is_media() {
            self.enqueue(chat_id, message);
            return true;
        }
        if !self.media_queued.try_add(chat_id, self.media_per_user) {
            metrics::counter!("primerka_bot_messages_total", "result" => "refused").increment(1);
            return false;
        }
        if !self.enqueue(chat_id, message) {
            self.media_queued.done(chat_id);
            return false;
        }
        true
    }

    /// The user wrote to the bot again: record that it is not blocked.
    pub fn unblocked(&self, user: UserId) {
        let _ = self.slot.get().cast(NotifierMsg::Unblocked(user));
    }

    /// Test hook: makes the notifier panic (ignored in production).
    pub fn crash_for_test(&self) {
        let _ = self.slot.get().cast(NotifierMsg::CrashForTest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_counts_cap_each_chat_and_count_out() {
        let counts = MediaCounts::default();
        assert!(counts.try_add(1, 2));
        assert!(counts.try_add(1, 2));
        assert!(!counts.try_add(1, 2), "a third is refused");
        assert!(counts.try_add(2, 2), "another chat has its own cap");
        counts.done(1);
        assert!(counts.try_add(1, 2), "room again after one left");
        counts.done(1);
        counts.done(1);
        assert!(counts.0.get(&1).is_none(), "an empty count is forgotten");
    }
}
