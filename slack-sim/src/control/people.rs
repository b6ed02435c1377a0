//! People acting in channels: posting messages, slash commands, adding and removing reactions.

use super::{AckOutcome, ControlError, EventOutcome};
use crate::Sim;
use crate::state::{Ephemeral, Message, Reaction};
use serde_json::{Value, json};

impl Sim {
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
            st.messages
                .push(Message::new(channel, &ts, user, text, None));
            Ok(ts)
        })
    }

    /// `user` writes `text` to the bot in their DM with it: stored, and sent as a `message`
    /// event with `channel_type: "im"` (what the `message.im` subscription delivers).
    pub async fn message_bot(&self, user: &str, text: &str) -> Result<EventOutcome, ControlError> {
        self.check_user(user)?;
        if self.inner.cfg.messages_tab_read_only {
            return Err(ControlError::MessagesTabReadOnly(user.to_owned()));
        }
        let cfg = self.inner.cfg.clone();
        let (channel, ts) = self.inner.with(|st| {
            let channel = st.im_for(&cfg, user);
            let ts = st.next_ts();
            st.messages
                .push(Message::new(&channel, &ts, user, text, None));
            (channel, ts)
        });
        let event = json!({
            "type": "message", "channel_type": "im", "channel": channel, "user": user,
            "text": text, "ts": ts, "event_ts": ts,
        });
        Ok(self.send_event_callback(event).await)
    }

    /// `user` writes `text` mentioning the bot in `channel`: stored, and sent as `app_mention`
    /// when the bot is a member (as Slack does).
    pub async fn mention_bot(
        &self,
        user: &str,
        channel: &str,
        text: &str,
    ) -> Result<Option<EventOutcome>, ControlError> {
        let ts = self.post_as_user(user, channel, text)?;
        let bot = self.inner.cfg.bot_user_id.clone();
        let bot_in = self.inner.with(|st| {
            st.channels
                .get(channel)
                .is_some_and(|c| c.members.contains(&bot))
        });
        if !bot_in {
            return Ok(None);
        }
        let event = json!({
            "type": "app_mention", "channel": channel, "user": user, "text": text,
            "ts": ts, "event_ts": ts,
        });
        Ok(Some(self.send_event_callback(event).await))
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
        let (trigger, channel_name, response_url) = inner
            .with(|st| {
                let name = st.channels.get(channel_id).map(|c| {
                    if c.is_im {
                        "directmessage".to_string()
                    } else {
                        c.name.clone()
                    }
                });
                let hook = crate::hooks::issue(inner, st, user_id, channel_id, None);
                name.map(|n| (st.issue_trigger(user_id), n, hook))
            })
            .ok_or_else(|| ControlError::UnknownChannel(channel_id.into()))?;
        let cfg = &inner.cfg;
        let payload = json!({
            "token": "sim-verification-token", "team_id": cfg.team_id, "team_domain": cfg.team_domain,
            "channel_id": channel_id, "channel_name": channel_name, "user_id": user_id,
            "user_name": u["name"], "command": command, "text": text, "api_app_id": cfg.app_id,
            "is_enterprise_install": "false",
            "response_url": response_url,
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
                        let bot = &cfg.bot_user_id;
                        let m = Message::new(channel_id, &ts, bot, text, blocks);
                        st.messages.push(m);
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
}
