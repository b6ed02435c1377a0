//! Acting as people: slash commands, reactions, modal submissions, button clicks, option searches, App Home.
//! Builds Slack's documented payloads (reference/slack.md §2), delivers them over Socket Mode, and applies
//! what the ack means to what the person sees.

use crate::socket::{Delivery, MAX_RETRIES};
use crate::state::{Ephemeral, Message, Reaction, State, now_secs};
use crate::{Inner, Sim};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ControlError {
    #[error("unknown user {0}")]
    UnknownUser(String),
    #[error("unknown channel {0}")]
    UnknownChannel(String),
    #[error("no message {1} in {0}")]
    MessageNotFound(String, String),
    #[error("view {0} is not open for this user")]
    ViewNotOpen(String),
    #[error("no element with action_id {0} in the target")]
    ActionNotFound(String),
    #[error("{0} already reacted with {1}")]
    AlreadyReacted(String, String),
    #[error("{0} has no {1} reaction there")]
    NoReaction(String, String),
}

impl ControlError {
    /// A stable code for the HTTP control API.
    pub fn code(&self) -> &'static str {
        match self {
            ControlError::UnknownUser(_) => "user_not_found",
            ControlError::UnknownChannel(_) => "channel_not_found",
            ControlError::MessageNotFound(..) => "message_not_found",
            ControlError::ViewNotOpen(_) => "view_not_open",
            ControlError::ActionNotFound(_) => "action_not_found",
            ControlError::AlreadyReacted(..) => "already_reacted",
            ControlError::NoReaction(..) => "no_reaction",
        }
    }
}

/// What happened to one interactive/slash envelope, as the person would experience it.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct AckOutcome {
    pub envelope_id: Option<String>,
    pub trigger_id: Option<String>,
    pub acked: bool,
    /// The ack's `payload`, if any.
    pub payload: Option<Value>,
    /// What Slack shows when the app did not answer in time (e.g. `operation_timeout`, `dispatch_failed`).
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct SubmitOutcome {
    #[serde(flatten)]
    pub ack: AckOutcome,
    /// `response_action: errors` → block_id → message shown under the field.
    pub errors: Option<Value>,
    /// The user's modal stack (view ids, bottom first) after the submission.
    pub stack: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct EventOutcome {
    pub event_id: String,
    /// The first delivery's envelope (redeliveries carry new envelope ids and the same event_id).
    pub envelope_id: Option<String>,
    /// Whether the first delivery was acked within the ack timeout.
    pub acked: bool,
}

/// Where a button lives.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ButtonTarget {
    Message { channel: String, ts: String },
    View { view_id: String },
}

impl Inner {
    fn user_obj(&self, user: &str) -> Result<Value, ControlError> {
        let u = self
            .cfg
            .users
            .iter()
            .find(|u| u.id == user)
            .ok_or_else(|| ControlError::UnknownUser(user.into()))?;
        Ok(json!({"id": u.id, "username": u.name, "name": u.name, "team_id": self.cfg.team_id}))
    }

    fn team_obj(&self) -> Value {
        json!({"id": self.cfg.team_id, "domain": self.cfg.team_domain})
    }

    fn event_callback(&self, st: &mut State, event: Value) -> (String, Value) {
        let n = st.next_id();
        let event_id = format!("Ev0SIM{n:08}");
        let payload = json!({
            "token": "sim-verification-token", "team_id": self.cfg.team_id, "api_app_id": self.cfg.app_id,
            "event": event, "type": "event_callback", "event_id": event_id, "event_time": now_secs(),
            "authorizations": [{"enterprise_id": null, "team_id": self.cfg.team_id,
                "user_id": self.cfg.bot_user_id, "is_bot": true, "is_enterprise_install": false}],
            "is_ext_shared_channel": false,
        });
        (event_id, payload)
    }

    /// One interactive/slash delivery: no redelivery; an unanswered one is a user-visible failure.
    async fn interact(
        &self,
        envelope_type: &str,
        payload: Value,
        accepts: bool,
        user: &str,
        trigger_id: Option<String>,
    ) -> AckOutcome {
        let d = self
            .deliver_once(envelope_type, &payload, accepts, 0, None)
            .await;
        let mut out = AckOutcome {
            trigger_id,
            ..Default::default()
        };
        let fail = |code: &str, env: Option<&str>, st: &mut State| {
            st.fail(
                code,
                env,
                Some(user),
                format!("{envelope_type} not acked ({code})"),
            )
        };
        match d {
            Delivery::Acked {
                envelope_id,
                payload,
            } => {
                out.envelope_id = Some(envelope_id);
                out.acked = true;
                out.payload = payload;
            }
            Delivery::Timeout { envelope_id } | Delivery::Closed { envelope_id } => {
                self.with(|st| fail("operation_timeout", Some(&envelope_id), st));
                out.envelope_id = Some(envelope_id);
                out.error = Some("operation_timeout".into());
            }
            Delivery::NoConnection => {
                self.with(|st| fail("dispatch_failed", None, st));
                out.error = Some("dispatch_failed".into());
            }
        }
        out
    }
}

/// Redelivers an event until acked or out of retries; reports the first attempt through `first`.
async fn event_loop(
    inner: Arc<Inner>,
    payload: Value,
    event_id: String,
    first: tokio::sync::oneshot::Sender<(Option<String>, bool)>,
) {
    let mut first = Some(first);
    let mut attempt = 0;
    let patience = Duration::from_millis(inner.cfg.ack_timeout_ms.max(100) * 20);
    loop {
        if *inner.shutdown.borrow() {
            return;
        }
        match inner
            .deliver_once("events_api", &payload, false, attempt, Some(&event_id))
            .await
        {
            Delivery::Acked { envelope_id, .. } => {
                if let Some(f) = first.take() {
                    let _ = f.send((Some(envelope_id), true));
                }
                return;
            }
            Delivery::Timeout { envelope_id } | Delivery::Closed { envelope_id } => {
                if let Some(f) = first.take() {
                    let _ = f.send((Some(envelope_id), false));
                }
                attempt += 1;
                if attempt > MAX_RETRIES {
                    inner.with(|st| {
                        st.fail(
                            "event_not_acked",
                            None,
                            None,
                            format!("event {event_id} not acked after {MAX_RETRIES} retries"),
                        )
                    });
                    return;
                }
            }
            Delivery::NoConnection => {
                // Slack holds events while no socket is open; wait for one to appear.
                if !inner.wait_routable(patience).await {
                    if let Some(f) = first.take() {
                        let _ = f.send((None, false));
                    }
                    inner.with(|st| {
                        st.fail(
                            "event_not_delivered",
                            None,
                            None,
                            format!("event {event_id}: no Socket Mode connection"),
                        )
                    });
                    return;
                }
            }
        }
    }
}

/// Finds an interactive element by action_id in a list of blocks; returns (block_id, element).
fn find_element(blocks: &Value, action_id: &str) -> Option<(String, Value)> {
    for b in blocks.as_array()? {
        let bid = b
            .get("block_id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let mut els: Vec<&Value> = b
            .get("elements")
            .and_then(Value::as_array)
            .map(|a| a.iter().collect())
            .unwrap_or_default();
        els.extend(b.get("accessory"));
        els.extend(b.get("element"));
        if let Some(e) = els
            .into_iter()
            .find(|e| e.get("action_id").and_then(Value::as_str) == Some(action_id))
        {
            return Some((bid, e.clone()));
        }
    }
    None
}

fn input_block_ids(view: &Value) -> Vec<String> {
    view.get("blocks")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter(|b| b.get("type").and_then(Value::as_str) == Some("input"))
                .filter_map(|b| b.get("block_id").and_then(Value::as_str).map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

impl Sim {
    fn check_user(&self, user: &str) -> Result<(), ControlError> {
        self.inner.user_obj(user).map(|_| ())
    }

    /// A trigger_id for `user`, as if they had just clicked something (for driving views.open directly).
    pub fn issue_trigger(&self, user: &str) -> String {
        self.inner.with(|st| st.issue_trigger(user))
    }

    /// `user` writes `text` in `channel` (no event is sent: Gatehouse subscribes to none for messages).
    pub fn post_as_user(
        &self,
        user: &str,
        channel: &str,
        text: &str,
    ) -> Result<String, ControlError> {
        self.check_user(user)?;
        self.inner.with(|st| {
            if !st.channels.contains_key(channel) {
                return Err(ControlError::UnknownChannel(channel.into()));
            }
            let ts = st.next_ts();
            st.messages.push(Message {
                channel: channel.into(),
                ts: ts.clone(),
                user: user.into(),
                text: text.into(),
                blocks: None,
                thread_ts: None,
                reactions: vec![],
                edited: false,
                replies: vec![],
            });
            Ok(ts)
        })
    }

    /// Types `/command text` in a channel. An ephemeral (or untyped) `text` reply is shown to the user only;
    /// `in_channel` is posted to the channel.
    pub async fn slash_command(
        &self,
        user_id: &str,
        channel_id: &str,
        command: &str,
        text: &str,
    ) -> Result<AckOutcome, ControlError> {
        let inner = &self.inner;
        let u = inner.user_obj(user_id)?;
        let (trigger, channel_name) = inner
            .with(|st| {
                let name = st.channels.get(channel_id).map(|c| {
                    if c.is_im {
                        "directmessage".to_string()
                    } else {
                        c.name.clone()
                    }
                });
                name.map(|n| (st.issue_trigger(user_id), n))
            })
            .ok_or_else(|| ControlError::UnknownChannel(channel_id.into()))?;
        let cfg = &inner.cfg;
        let payload = json!({
            "token": "sim-verification-token", "team_id": cfg.team_id, "team_domain": cfg.team_domain,
            "channel_id": channel_id, "channel_name": channel_name, "user_id": user_id,
            "user_name": u["name"], "command": command, "text": text, "api_app_id": cfg.app_id,
            "is_enterprise_install": "false",
            "response_url": format!("https://hooks.sim.slack/commands/{}/{}/sim", cfg.team_id, trigger.replace('.', "")),
            "trigger_id": trigger,
        });
        let out = inner
            .interact("slash_commands", payload, true, user_id, Some(trigger))
            .await;
        if let Some(p) = &out.payload {
            let text = p.get("text").and_then(Value::as_str).unwrap_or("");
            let blocks = p.get("blocks").filter(|b| b.is_array()).cloned();
            if !text.is_empty() || blocks.is_some() {
                let rt = p.get("response_type").and_then(Value::as_str);
                inner.with(|st| {
                    let ts = st.next_ts();
                    if rt == Some("in_channel") {
                        st.messages.push(Message {
                            channel: channel_id.into(),
                            ts,
                            user: cfg.bot_user_id.clone(),
                            text: text.into(),
                            blocks,
                            thread_ts: None,
                            reactions: vec![],
                            edited: false,
                            replies: vec![],
                        });
                    } else {
                        st.ephemerals.push(Ephemeral {
                            channel: channel_id.into(),
                            user: user_id.into(),
                            ts,
                            text: text.into(),
                            blocks,
                            source: "slash_ack".into(),
                        });
                    }
                });
            }
        }
        Ok(out)
    }

    /// Adds a reaction as `user_id` and sends `reaction_added` (only if the bot is in the channel, as Slack does).
    pub async fn add_reaction(
        &self,
        user_id: &str,
        channel: &str,
        ts: &str,
        name: &str,
    ) -> Result<Option<EventOutcome>, ControlError> {
        self.react(user_id, channel, ts, name, true).await
    }

    pub async fn remove_reaction(
        &self,
        user_id: &str,
        channel: &str,
        ts: &str,
        name: &str,
    ) -> Result<Option<EventOutcome>, ControlError> {
        self.react(user_id, channel, ts, name, false).await
    }

    async fn react(
        &self,
        user_id: &str,
        channel: &str,
        ts: &str,
        name: &str,
        add: bool,
    ) -> Result<Option<EventOutcome>, ControlError> {
        self.check_user(user_id)?;
        let name = name.trim_matches(':').to_string();
        let bot = self.inner.cfg.bot_user_id.clone();
        let item_user = self.inner.with(|st| {
            let bot_in = st
                .channels
                .get(channel)
                .ok_or_else(|| ControlError::UnknownChannel(channel.into()))?
                .members
                .contains(&bot);
            let m = st
                .find_message_mut(channel, ts)
                .ok_or_else(|| ControlError::MessageNotFound(channel.into(), ts.into()))?;
            let pos = m.reactions.iter().position(|r| r.name == name);
            if add {
                match pos {
                    Some(i) if m.reactions[i].users.iter().any(|u| u == user_id) => {
                        return Err(ControlError::AlreadyReacted(user_id.into(), name.clone()));
                    }
                    Some(i) => m.reactions[i].users.push(user_id.into()),
                    None => m.reactions.push(Reaction {
                        name: name.clone(),
                        users: vec![user_id.into()],
                    }),
                }
            } else {
                let i = pos
                    .filter(|&i| m.reactions[i].users.iter().any(|u| u == user_id))
                    .ok_or_else(|| ControlError::NoReaction(user_id.into(), name.clone()))?;
                m.reactions[i].users.retain(|u| u != user_id);
                if m.reactions[i].users.is_empty() {
                    m.reactions.remove(i);
                }
            }
            Ok(bot_in.then(|| m.user.clone()))
        })?;
        let Some(item_user) = item_user else {
            return Ok(None);
        };
        let event = json!({
            "type": if add { "reaction_added" } else { "reaction_removed" },
            "user": user_id, "reaction": name, "item_user": item_user,
            "item": {"type": "message", "channel": channel, "ts": ts},
            "event_ts": self.inner.with(|st| st.next_ts()),
        });
        Ok(Some(self.send_event_callback(event).await))
    }

    /// Wraps `event` in an `event_callback` and delivers it (with redelivery).
    pub async fn send_event_callback(&self, event: Value) -> EventOutcome {
        let (event_id, payload) = self.inner.with(|st| self.inner.event_callback(st, event));
        self.deliver_event(payload, event_id).await
    }

    /// Delivers an arbitrary (possibly malformed) events_api payload, with redelivery.
    pub async fn send_event(&self, payload: Value) -> EventOutcome {
        let event_id = payload
            .get("event_id")
            .and_then(Value::as_str)
            .map(String::from)
            .unwrap_or_else(|| format!("Ev0RAW{}", self.inner.with(|st| st.next_id())));
        self.deliver_event(payload, event_id).await
    }

    /// Starts delivery and waits for the first attempt's ack (up to the ack timeout); retries go on behind.
    async fn deliver_event(&self, payload: Value, event_id: String) -> EventOutcome {
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(event_loop(
            self.inner.clone(),
            payload,
            event_id.clone(),
            tx,
        ));
        let wait = Duration::from_millis(self.inner.cfg.ack_timeout_ms + 500);
        let (envelope_id, acked) = match tokio::time::timeout(wait, rx).await {
            Ok(Ok(r)) => r,
            _ => (None, false),
        };
        EventOutcome {
            event_id,
            envelope_id,
            acked,
        }
    }

    /// `user_id` opens the app's Home tab: `app_home_opened` with tab "home" (and the published view).
    pub async fn open_app_home(&self, user_id: &str) -> Result<EventOutcome, ControlError> {
        self.check_user(user_id)?;
        let event = self.inner.with(|st| {
            let ch = st.im_for(&self.inner.cfg, user_id);
            let mut e = json!({"type": "app_home_opened", "user": user_id, "channel": ch,
                "tab": "home", "event_ts": st.next_ts()});
            if let Some(v) = st.homes.get(user_id).and_then(|id| st.views.get(id)) {
                e["view"] = v.view.clone();
            }
            e
        });
        Ok(self.send_event_callback(event).await)
    }

    /// Submits the user's top modal with `values` (block_id → action_id → value object) and applies
    /// the ack's `response_action`.
    pub async fn submit_view(
        &self,
        user_id: &str,
        view_id: &str,
        values: Value,
    ) -> Result<SubmitOutcome, ControlError> {
        let inner = &self.inner;
        let user = inner.user_obj(user_id)?;
        let (view, trigger) = inner.with(|st| {
            let top = st.modal_stacks.get(user_id).and_then(|s| s.last()).cloned();
            if top.as_deref() != Some(view_id) {
                return Err(ControlError::ViewNotOpen(view_id.into()));
            }
            let rec = st
                .views
                .get_mut(view_id)
                .ok_or_else(|| ControlError::ViewNotOpen(view_id.into()))?;
            rec.view["state"] = json!({ "values": values });
            let v = rec.view.clone();
            Ok((v, st.issue_trigger(user_id)))
        })?;
        let payload = json!({
            "type": "view_submission", "team": inner.team_obj(), "user": user,
            "api_app_id": inner.cfg.app_id, "token": "sim-verification-token", "trigger_id": trigger,
            "view": view, "response_urls": [], "is_enterprise_install": false, "enterprise": null,
        });
        let ack = inner
            .interact("interactive", payload, true, user_id, Some(trigger))
            .await;
        let mut out = SubmitOutcome {
            ack,
            ..Default::default()
        };
        if out.ack.acked {
            let p = out.ack.payload.clone().unwrap_or(Value::Null);
            let action = p.get("response_action").and_then(Value::as_str);
            inner.with(|st| {
                apply_response_action(inner, st, user_id, view_id, action, &p, &mut out)
            });
        }
        out.stack = inner.read(|st| st.modal_stacks.get(user_id).cloned().unwrap_or_default());
        Ok(out)
    }

    /// Clicks a button (or any block element with `action_id`) in a message or a view.
    pub async fn click_button(
        &self,
        user_id: &str,
        target: ButtonTarget,
        action_id: &str,
        value: Option<&str>,
        block_id: Option<&str>,
    ) -> Result<AckOutcome, ControlError> {
        let inner = &self.inner;
        let user = inner.user_obj(user_id)?;
        let (container, extra, blocks) = inner.with(|st| match &target {
            ButtonTarget::Message { channel, ts } => {
                let m = st
                    .find_message(channel, ts)
                    .ok_or_else(|| ControlError::MessageNotFound(channel.clone(), ts.clone()))?;
                let name = st.channels.get(channel).map(|c| c.name.clone());
                let msg = m.to_slack_json(&inner.cfg);
                Ok((
                    json!({"type": "message", "message_ts": ts, "channel_id": channel, "is_ephemeral": false}),
                    json!({"channel": {"id": channel, "name": name}, "message": msg, "state": {"values": {}}}),
                    m.blocks.clone().unwrap_or(Value::Null),
                ))
            }
            ButtonTarget::View { view_id } => {
                let r = st
                    .views
                    .get(view_id)
                    .filter(|r| r.open && r.user == user_id)
                    .ok_or_else(|| ControlError::ViewNotOpen(view_id.clone()))?;
                Ok((
                    json!({"type": "view", "view_id": view_id}),
                    json!({"view": r.view}),
                    r.view.get("blocks").cloned().unwrap_or(Value::Null),
                ))
            }
        })?;
        let (bid, el) = find_element(&blocks, action_id)
            .filter(|(b, _)| block_id.is_none_or(|x| x == b))
            .ok_or_else(|| ControlError::ActionNotFound(action_id.into()))?;
        let trigger = inner.with(|st| st.issue_trigger(user_id));
        let action_ts = inner.with(|st| st.next_ts());
        let mut action = json!({
            "action_id": action_id, "block_id": bid,
            "type": el.get("type").cloned().unwrap_or(json!("button")), "action_ts": action_ts,
        });
        if let Some(t) = el.get("text") {
            action["text"] = t.clone();
        }
        if let Some(v) = value
            .map(String::from)
            .or_else(|| el.get("value").and_then(Value::as_str).map(String::from))
        {
            action["value"] = json!(v);
        }
        let mut payload = json!({
            "type": "block_actions", "user": user, "api_app_id": inner.cfg.app_id,
            "token": "sim-verification-token", "container": container, "trigger_id": trigger,
            "team": inner.team_obj(), "enterprise": null, "is_enterprise_install": false,
            "response_url": format!("https://hooks.sim.slack/actions/{}/sim/{}", inner.cfg.team_id, action_ts.replace('.', "")),
            "actions": [action],
        });
        if let (Some(p), Value::Object(e)) = (payload.as_object_mut(), extra) {
            p.extend(e);
        }
        Ok(inner
            .interact("interactive", payload, false, user_id, Some(trigger))
            .await)
    }

    /// Types `query` into an external select in a view; the outcome's payload holds the options.
    pub async fn block_suggestion(
        &self,
        user_id: &str,
        view_id: &str,
        action_id: &str,
        block_id: &str,
        query: &str,
    ) -> Result<AckOutcome, ControlError> {
        let inner = &self.inner;
        let user = inner.user_obj(user_id)?;
        let view = inner
            .read(|st| {
                st.views
                    .get(view_id)
                    .filter(|r| r.open && r.user == user_id)
                    .map(|r| r.view.clone())
            })
            .ok_or_else(|| ControlError::ViewNotOpen(view_id.into()))?;
        let payload = json!({
            "type": "block_suggestion", "user": user, "container": {"type": "view", "view_id": view_id},
            "api_app_id": inner.cfg.app_id, "token": "sim-verification-token", "action_id": action_id,
            "block_id": block_id, "value": query, "team": inner.team_obj(), "view": view,
            "is_enterprise_install": false, "enterprise": null,
        });
        Ok(inner
            .interact("interactive", payload, true, user_id, None)
            .await)
    }
}

fn apply_response_action(
    inner: &Inner,
    st: &mut State,
    user: &str,
    view_id: &str,
    action: Option<&str>,
    p: &Value,
    out: &mut SubmitOutcome,
) {
    match action {
        Some("errors") => {
            let errors = p.get("errors").cloned().unwrap_or(Value::Null);
            let known = st
                .views
                .get(view_id)
                .map(|r| input_block_ids(&r.view))
                .unwrap_or_default();
            if let Some(m) = errors.as_object() {
                for k in m.keys().filter(|k| !known.contains(k)) {
                    st.fail(
                        "invalid_errors_block_id",
                        None,
                        Some(user),
                        format!("response_action errors names block_id {k:?}, which is not an input block of {view_id}"),
                    );
                }
            }
            out.errors = Some(errors);
        }
        Some("update") | Some("push") => {
            let Some(sent) = p.get("view").and_then(Value::as_object) else {
                st.fail(
                    "invalid_response_action",
                    None,
                    Some(user),
                    format!("{action:?} without a view"),
                );
                return;
            };
            let stack = st.modal_stacks.get(user).cloned().unwrap_or_default();
            if action == Some("update") {
                let old = st
                    .views
                    .get(view_id)
                    .map(|r| r.view.clone())
                    .unwrap_or(Value::Null);
                let mut v = crate::web_api::full_view(inner, st, view_id, sent);
                v["previous_view_id"] = old["previous_view_id"].clone();
                v["root_view_id"] = old["root_view_id"].clone();
                if let Some(r) = st.views.get_mut(view_id) {
                    r.view = v;
                }
            } else {
                let n = st.next_id();
                let id = format!("V0SIM{n:06}");
                let mut v = crate::web_api::full_view(inner, st, &id, sent);
                v["previous_view_id"] = json!(view_id);
                v["root_view_id"] = json!(stack.first());
                st.views.insert(
                    id.clone(),
                    crate::state::ViewRec {
                        view: v,
                        user: user.into(),
                        open: true,
                    },
                );
                st.modal_stacks.entry(user.into()).or_default().push(id);
            }
        }
        Some("clear") => st.clear_modals(user),
        _ => {
            if let Some(stack) = st.modal_stacks.get_mut(user) {
                stack.pop();
                if stack.is_empty() {
                    st.modal_stacks.remove(user);
                }
            }
            if let Some(r) = st.views.get_mut(view_id) {
                r.open = false;
            }
        }
    }
}
