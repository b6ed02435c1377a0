//! chat.* and reactions.* methods: posting, updating, ephemerals, permalinks, reactions; channel resolution.

use super::{ApiErr, Args, R, blocks_arg, err, json_arg, s, s_owned};
use crate::Inner;
use crate::state::{Ephemeral, Message, State};
use serde_json::{Value, json};

/// Resolves `channel` as Slack does for chat.*: an id, a `#name`, or a user id (their DM with the bot).
fn resolve_channel(inner: &Inner, st: &mut State, channel: &str) -> Result<String, ApiErr> {
    if st.channels.contains_key(channel) {
        return Ok(channel.to_string());
    }
    if inner.cfg.users.iter().any(|u| u.id == channel && !u.is_bot) {
        return Ok(st.im_for(&inner.cfg, channel));
    }
    let name = channel.trim_start_matches('#');
    st.channels
        .values()
        .find(|c| !c.is_im && c.name == name)
        .map(|c| c.id.clone())
        .ok_or(err("channel_not_found"))
}

/// The bot may write where it is a member, or in public channels with chat:write.public.
fn check_can_post(inner: &Inner, st: &State, channel: &str) -> Result<(), ApiErr> {
    let c = st.channels.get(channel).ok_or(err("channel_not_found"))?;
    let bot = &inner.cfg.bot_user_id;
    if c.members.contains(bot) {
        return Ok(());
    }
    if c.is_private {
        // Private conversations the bot is not in are invisible to it.
        return Err(err("channel_not_found"));
    }
    if inner
        .cfg
        .bot_scopes
        .iter()
        .any(|x| x == "chat:write.public")
    {
        return Ok(());
    }
    Err(err("not_in_channel"))
}

pub(super) fn post_message(inner: &Inner, st: &mut State, args: &Args) -> R {
    let ch = s(args, "channel").ok_or(err("channel_not_found"))?;
    let ch = resolve_channel(inner, st, ch)?;
    check_can_post(inner, st, &ch)?;
    let text = s(args, "text").unwrap_or("").to_string();
    let blocks = blocks_arg(args)?;
    let has_attachments =
        json_arg(args, "attachments")?.is_some_and(|a| a.as_array().is_some_and(|a| !a.is_empty()));
    if text.is_empty() && blocks.is_none() && !has_attachments {
        return Err(err("no_text"));
    }
    if text.chars().count() > 40_000 {
        return Err(err("msg_too_long"));
    }
    let metadata = metadata_arg(args)?;
    // A failure a test asked for: once, for this conversation or this person's DM.
    if let Some(i) = st
        .post_failures
        .iter()
        .position(|(target, _)| *target == ch || st.ims.get(target).is_some_and(|d| *d == ch))
    {
        let (_, code) = st.post_failures.remove(i);
        return Err(ApiErr {
            code: code.into(),
            extra: serde_json::Value::Null,
        });
    }
    // A reply to a reply joins the parent's thread.
    let thread_ts = s_owned(args, "thread_ts").map(|t| {
        st.find_message(&ch, &t)
            .and_then(|m| m.thread_ts.clone())
            .unwrap_or(t)
    });
    let ts = st.next_ts();
    let m = Message {
        thread_ts: thread_ts.clone(),
        metadata,
        ..Message::new(&ch, &ts, &inner.cfg.bot_user_id, &text, blocks)
    };
    let msg = m.to_slack_json(&inner.cfg);
    // The parent becomes a thread root.
    if let Some(t) = &thread_ts
        && let Some(p) = st.find_message_mut(&ch, t)
        && p.thread_ts.is_none()
    {
        p.thread_ts = Some(t.clone());
    }
    let told = crate::notifications::of_post(st, &m.user, &ch, &ts, &m.text, m.blocks.as_ref());
    st.notifications.extend(told);
    st.messages.push(m);
    Ok(json!({"channel": ch, "ts": ts, "message": msg}))
}

/// Slack's message metadata: `{"event_type": string, "event_payload": object}` (an object or a
/// JSON string, as form posts send it); anything else is `invalid_metadata_format`.
fn metadata_arg(args: &Args) -> Result<Option<serde_json::Value>, ApiErr> {
    let Some(m) = json_arg(args, "metadata").map_err(|_| err("invalid_metadata_format"))? else {
        return Ok(None);
    };
    let well_formed =
        m["event_type"].as_str().is_some_and(|t| !t.is_empty()) && m["event_payload"].is_object();
    if well_formed {
        Ok(Some(
            json!({"event_type": m["event_type"], "event_payload": m["event_payload"]}),
        ))
    } else {
        Err(err("invalid_metadata_format"))
    }
}

pub(super) fn update_message(inner: &Inner, st: &mut State, args: &Args) -> R {
    let ch = s(args, "channel").ok_or(err("channel_not_found"))?;
    let ch = resolve_channel(inner, st, ch)?;
    let ts = s_owned(args, "ts").ok_or(err("message_not_found"))?;
    let text = s(args, "text").map(String::from);
    let blocks = blocks_arg(args)?;
    let bot = inner.cfg.bot_user_id.clone();
    let m = st
        .find_message_mut(&ch, &ts)
        .ok_or(err("message_not_found"))?;
    if m.user != bot {
        return Err(err("cant_update_message"));
    }
    if text.is_none() && blocks.is_none() {
        return Err(err("no_text"));
    }
    if let Some(t) = text {
        m.text = t;
    }
    if blocks.is_some() {
        m.blocks = blocks;
    }
    m.edited = true;
    let msg = m.to_slack_json(&inner.cfg);
    let text = m.text.clone();
    Ok(json!({"channel": ch, "ts": ts, "text": text, "message": msg}))
}

pub(super) fn post_ephemeral(inner: &Inner, st: &mut State, args: &Args) -> R {
    let ch = s(args, "channel").ok_or(err("channel_not_found"))?;
    let ch = resolve_channel(inner, st, ch)?;
    check_can_post(inner, st, &ch)?;
    let user = s(args, "user").ok_or(err("user_not_found"))?;
    if !inner.cfg.users.iter().any(|u| u.id == user) {
        return Err(err("user_not_found"));
    }
    let is_member = st
        .channels
        .get(&ch)
        .is_some_and(|c| c.members.iter().any(|m| m == user));
    if !is_member {
        return Err(err("user_not_in_channel"));
    }
    let text = s(args, "text").unwrap_or("").to_string();
    let blocks = blocks_arg(args)?;
    if text.is_empty() && blocks.is_none() {
        return Err(err("no_text"));
    }
    let ts = st.next_ts();
    st.ephemerals.push(Ephemeral {
        channel: ch,
        user: user.into(),
        ts: ts.clone(),
        text,
        blocks,
        source: "chat.postEphemeral".into(),
    });
    Ok(json!({ "message_ts": ts }))
}

pub(super) fn permalink(inner: &Inner, st: &mut State, args: &Args) -> R {
    let ch = s(args, "channel").ok_or(err("channel_not_found"))?;
    let ch = resolve_channel(inner, st, ch)?;
    let ts = s_owned(args, "message_ts").ok_or(err("message_not_found"))?;
    let m = st.find_message(&ch, &ts).ok_or(err("message_not_found"))?;
    let mut link = format!(
        "https://{}.sim.slack/archives/{ch}/p{}",
        inner.cfg.team_domain,
        ts.replace('.', "")
    );
    if let Some(t) = m.thread_ts.as_ref().filter(|t| **t != ts) {
        link.push_str(&format!("?thread_ts={t}&cid={ch}"));
    }
    Ok(json!({"channel": ch, "permalink": link}))
}

pub(super) fn reactions_add(inner: &Inner, st: &mut State, args: &Args) -> R {
    let ch = s(args, "channel").ok_or(err("no_item_specified"))?;
    let ts = s_owned(args, "timestamp").ok_or(err("no_item_specified"))?;
    let name = s(args, "name")
        .map(|n| n.trim_matches(':').to_string())
        .filter(|n| !n.is_empty() && !n.contains(' '))
        .ok_or(err("invalid_name"))?;
    let ch = resolve_channel(inner, st, ch)?;
    let bot = inner.cfg.bot_user_id.clone();
    let m = st
        .find_message_mut(&ch, &ts)
        .ok_or(err("message_not_found"))?;
    match m.reactions.iter_mut().find(|r| r.name == name) {
        Some(r) if r.users.contains(&bot) => return Err(err("already_reacted")),
        Some(r) => r.users.push(bot),
        None => m.reactions.push(crate::state::Reaction {
            name,
            users: vec![bot],
        }),
    }
    Ok(json!({}))
}

/// reactions.get (docs.slack.dev/reference/methods/reactions.get): the message with its
/// `reactions` (`name`, `users`, `count`). Without `full`, Slack may cut each `users` list; the
/// sim always answers in full. Needs the bot in the channel, as reading history does.
pub(super) fn reactions_get(inner: &Inner, st: &mut State, args: &Args) -> R {
    let ch = s(args, "channel").ok_or(err("no_item_specified"))?;
    let ts = s_owned(args, "timestamp").ok_or(err("no_item_specified"))?;
    let ch = resolve_channel(inner, st, ch)?;
    let m = st
        .find_message_mut(&ch, &ts)
        .ok_or(err("message_not_found"))?;
    let reactions: Vec<Value> = m
        .reactions
        .iter()
        .map(|r| json!({ "name": r.name, "users": r.users, "count": r.users.len() }))
        .collect();
    Ok(json!({
        "type": "message",
        "channel": ch,
        "message": { "type": "message", "user": m.user, "text": m.text, "ts": m.ts, "reactions": reactions },
    }))
}
