//! The workspace's mutable state (messages, views, triggers, logs) and the records the control API reads.
//! Holds no I/O: web_api, socket and control mutate it under one short-lived lock.

use crate::config::SimConfig;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Reaction {
    pub name: String,
    pub users: Vec<String>,
}

/// A message as a person sees it; `replies` is filled only in what the control API returns.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Message {
    pub channel: String,
    pub ts: String,
    pub user: String,
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocks: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thread_ts: Option<String>,
    #[serde(default)]
    pub reactions: Vec<Reaction>,
    #[serde(default)]
    pub edited: bool,
    #[serde(default)]
    pub replies: Vec<Message>,
    /// chat.postMessage's `metadata` (`event_type` + `event_payload`), returned by the history
    /// methods only when asked with `include_all_metadata`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
}

impl Message {
    /// A new top-level message: `text` (and `blocks`) by `user` in `channel` at `ts`, with no
    /// reactions, replies or metadata yet.
    pub fn new(channel: &str, ts: &str, user: &str, text: &str, blocks: Option<Value>) -> Message {
        Message {
            channel: channel.into(),
            ts: ts.into(),
            user: user.into(),
            text: text.into(),
            blocks,
            thread_ts: None,
            reactions: vec![],
            edited: false,
            replies: vec![],
            metadata: None,
        }
    }

    /// The Web API shape (`message` in chat.postMessage / chat.update answers, `message` in block_actions).
    pub fn to_slack_json(&self, cfg: &SimConfig) -> Value {
        let mut m = json!({
            "type": "message",
            "text": self.text,
            "user": self.user,
            "ts": self.ts,
            "team": cfg.team_id,
        });
        if self.user == cfg.bot_user_id {
            m["bot_id"] = json!(cfg.bot_id);
            m["app_id"] = json!(cfg.app_id);
        }
        if let Some(b) = &self.blocks {
            m["blocks"] = b.clone();
        }
        if let Some(t) = &self.thread_ts {
            m["thread_ts"] = json!(t);
        }
        if !self.reactions.is_empty() {
            m["reactions"] = json!(
                self.reactions
                    .iter()
                    .map(|r| json!({"name": r.name, "users": r.users, "count": r.users.len()}))
                    .collect::<Vec<_>>()
            );
        }
        m
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ephemeral {
    pub channel: String,
    pub user: String,
    pub ts: String,
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocks: Option<Value>,
    /// "chat.postEphemeral" or "slash_ack".
    pub source: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiCall {
    pub method: String,
    pub args: Value,
    pub ok: bool,
    pub error: Option<String>,
    /// HTTP status (200, or 429 when rate limited).
    pub status: u16,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AckRecord {
    pub envelope_id: String,
    pub envelope_type: String,
    pub connection_id: u64,
    pub retry_attempt: u32,
    pub latency_ms: u64,
    /// The same latency in microseconds, for benchmarks that need better than whole milliseconds.
    #[serde(default)]
    pub latency_us: u64,
    pub payload: Option<Value>,
    /// False when the ack came after the ack timeout (Slack ignores it).
    pub in_time: bool,
}

/// A message the app posted or updated, with the instant its Web API call reached the simulator:
/// what a benchmark times a reply by (see [`crate::Sim::subscribe_posts`]).
#[derive(Debug, Clone)]
pub struct Posted {
    /// When the call's request reached the handler.
    pub at: Instant,
    /// `chat.postMessage` or `chat.update`.
    pub method: &'static str,
    pub channel: String,
    pub ts: String,
    pub thread_ts: Option<String>,
    pub text: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnvelopeRecord {
    pub envelope_id: String,
    pub envelope_type: String,
    pub connection_id: u64,
    pub retry_attempt: u32,
    pub retry_reason: String,
    pub event_id: Option<String>,
}

/// Something a person would notice going wrong (a spinner that ends in an error, an event that never landed).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Failure {
    pub kind: String,
    pub envelope_id: Option<String>,
    pub user: Option<String>,
    pub detail: String,
}

#[derive(Debug, Clone)]
pub struct ViewRec {
    pub view: Value,
    pub user: String,
    pub open: bool,
}

#[derive(Debug, Clone)]
pub struct Trigger {
    pub user: String,
    pub issued: Instant,
    pub used: bool,
}

/// Where a response URL answers: to whom, in which conversation, and which message a click
/// came from (for `replace_original`). Slack allows five uses within 30 minutes.
#[derive(Debug, Clone)]
pub struct ResponseUrl {
    pub user: String,
    pub channel: String,
    pub message_ts: Option<String>,
    pub uses: u8,
}

#[derive(Debug, Clone)]
pub struct ChannelRec {
    pub id: String,
    pub name: String,
    pub is_private: bool,
    pub is_im: bool,
    pub members: Vec<String>,
}

#[derive(Debug, Default)]
pub struct State {
    pub channels: BTreeMap<String, ChannelRec>,
    /// User group id → its members now (seeded from the config; changed through the control API).
    pub usergroups: BTreeMap<String, Vec<String>>,
    /// user id → IM channel id (stable for the life of the sim).
    pub ims: HashMap<String, String>,
    pub messages: Vec<Message>,
    pub ephemerals: Vec<Ephemeral>,
    /// Who each new message notified (`crate::notifications`).
    pub notifications: Vec<crate::notifications::Notification>,
    /// The response URLs handed out with slash commands and clicks, by their token.
    pub response_urls: HashMap<String, ResponseUrl>,
    pub views: HashMap<String, ViewRec>,
    pub modal_stacks: HashMap<String, Vec<String>>,
    pub homes: HashMap<String, String>,
    pub triggers: HashMap<String, Trigger>,
    pub api_calls: Vec<ApiCall>,
    pub acks: Vec<AckRecord>,
    pub envelopes: Vec<EnvelopeRecord>,
    pub failures: Vec<Failure>,
    /// method → (calls still to refuse, Retry-After seconds).
    pub rate_limits: HashMap<String, (u32, u64)>,
    /// method → how long each call takes before it is answered (`Sim::slow_down`).
    pub slow_methods: HashMap<String, std::time::Duration>,
    /// chat.postMessage to these conversations (or to the DM of these users) fails once with the code.
    pub post_failures: Vec<(String, String)>,
    /// Events sent while no Socket Mode connection is open are dropped at once instead of held
    /// for one: the case of an app that was down (`Sim::lose_events_while_disconnected`).
    pub drop_undeliverable_events: bool,
    pub tickets: HashMap<String, bool>,
    pub connections_opened: u64,
    counter: u64,
    last_ts_micros: u128,
}

impl State {
    pub fn new(cfg: &SimConfig) -> Self {
        let mut s = State::default();
        for c in &cfg.channels {
            s.channels.insert(
                c.id.clone(),
                ChannelRec {
                    id: c.id.clone(),
                    name: c.name.clone(),
                    is_private: c.is_private,
                    is_im: false,
                    members: c.members.clone(),
                },
            );
        }
        for g in &cfg.usergroups {
            s.usergroups.insert(g.id.clone(), g.users.clone());
        }
        s
    }

    pub fn next_id(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }

    /// Slack-style "seconds.micros" timestamps, strictly increasing so they work as message ids.
    pub fn next_ts(&mut self) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros())
            .unwrap_or(0);
        let t = now.max(self.last_ts_micros + 1);
        self.last_ts_micros = t;
        format!("{}.{:06}", t / 1_000_000, t % 1_000_000)
    }

    pub fn issue_trigger(&mut self, user: &str) -> String {
        let n = self.next_id();
        let id = format!(
            "{n}.{}.sim{:08x}",
            now_secs(),
            n.wrapping_mul(2_654_435_761)
        );
        self.triggers.insert(
            id.clone(),
            Trigger {
                user: user.to_string(),
                issued: Instant::now(),
                used: false,
            },
        );
        id
    }

    /// The IM channel between the bot and `user`, created on first use.
    pub fn im_for(&mut self, cfg: &SimConfig, user: &str) -> String {
        if let Some(id) = self.ims.get(user) {
            return id.clone();
        }
        let id = format!("D0{}", user.trim_start_matches('U'));
        self.ims.insert(user.to_string(), id.clone());
        self.channels.insert(
            id.clone(),
            ChannelRec {
                id: id.clone(),
                name: user.to_string(),
                is_private: true,
                is_im: true,
                members: vec![user.to_string(), cfg.bot_user_id.clone()],
            },
        );
        id
    }

    pub fn find_message_mut(&mut self, channel: &str, ts: &str) -> Option<&mut Message> {
        self.messages
            .iter_mut()
            .find(|m| m.channel == channel && m.ts == ts)
    }

    pub fn find_message(&self, channel: &str, ts: &str) -> Option<&Message> {
        self.messages
            .iter()
            .find(|m| m.channel == channel && m.ts == ts)
    }

    /// Top-level messages of a channel, oldest first, each with its replies.
    pub fn channel_view(&self, channel: &str) -> Vec<Message> {
        self.messages
            .iter()
            .filter(|m| m.channel == channel && m.thread_ts.as_ref().is_none_or(|t| *t == m.ts))
            .map(|m| {
                let mut m = m.clone();
                m.replies = self.replies(channel, &m.ts);
                m
            })
            .collect()
    }

    pub fn replies(&self, channel: &str, ts: &str) -> Vec<Message> {
        self.messages
            .iter()
            .filter(|r| r.channel == channel && r.ts != ts && r.thread_ts.as_deref() == Some(ts))
            .cloned()
            .collect()
    }

    pub fn new_view_hash(&mut self) -> String {
        let n = self.next_id();
        format!("{}.sim{n:08}", now_secs())
    }

    /// Closes and forgets the user's modal stack.
    pub fn clear_modals(&mut self, user: &str) {
        if let Some(stack) = self.modal_stacks.remove(user) {
            for v in stack {
                if let Some(rec) = self.views.get_mut(&v) {
                    rec.open = false;
                }
            }
        }
    }

    pub fn fail(
        &mut self,
        kind: &str,
        envelope_id: Option<&str>,
        user: Option<&str>,
        detail: String,
    ) {
        tracing::warn!(kind, ?envelope_id, ?user, %detail, "user-visible failure");
        self.failures.push(Failure {
            kind: kind.into(),
            envelope_id: envelope_id.map(String::from),
            user: user.map(String::from),
            detail,
        });
    }
}

pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
