//! conversations.history and conversations.replies: reading a conversation back, a page at a time,
//! with the bot's history scopes and membership checked as Slack does.

use super::{ApiErr, Args, R, err, s, s_owned};
use crate::Inner;
use crate::state::{ChannelRec, Message, State};
use serde_json::{Value, json};

/// "1700000000.000100" (or "1700000000", or a shorter fraction) as microseconds, for ordering.
fn micros(ts: &str) -> Option<u128> {
    let (secs, frac) = ts.split_once('.').unwrap_or((ts, ""));
    if frac.len() > 6 || !frac.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let secs: u128 = secs.parse().ok()?;
    let frac: u128 = format!("{frac:0<6}").parse().ok()?;
    Some(secs * 1_000_000 + frac)
}

fn flag(args: &Args, k: &str) -> bool {
    match args.get(k) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(v)) => v == "true" || v == "1",
        Some(Value::Number(n)) => n.as_u64() == Some(1),
        _ => false,
    }
}

/// Slack's cursors are opaque strings; ours encode the `ts` a page ended at.
fn cursor_for(ts: &str) -> String {
    format!("next_ts:{ts}")
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn cursor_ts(cursor: &str) -> Result<u128, ApiErr> {
    let bytes: Option<Vec<u8>> = (0..cursor.len())
        .step_by(2)
        .map(|i| {
            cursor
                .get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect();
    bytes
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|t| t.strip_prefix("next_ts:").and_then(micros))
        .ok_or(err("invalid_cursor"))
}

/// The time window of `oldest`/`latest`/`inclusive`, in microseconds.
struct Window {
    oldest: u128,
    latest: u128,
    inclusive: bool,
}

impl Window {
    fn of(args: &Args) -> Result<Window, ApiErr> {
        let bound = |k: &str, default: u128, code: &'static str| match s_owned(args, k) {
            None => Ok(default),
            Some(t) => micros(&t).ok_or(err(code)),
        };
        Ok(Window {
            oldest: bound("oldest", 0, "invalid_ts_oldest")?,
            latest: bound("latest", u128::MAX, "invalid_ts_latest")?,
            inclusive: flag(args, "inclusive"),
        })
    }

    fn contains(&self, t: u128) -> bool {
        if self.inclusive {
            self.oldest <= t && t <= self.latest
        } else {
            self.oldest < t && t < self.latest
        }
    }
}

fn limit(args: &Args) -> usize {
    s_owned(args, "limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0)
        .unwrap_or(100)
        .min(999)
}

/// The conversation, if the bot may read it: the `*:history` scope of its kind, and membership.
fn readable<'a>(inner: &Inner, st: &'a State, args: &Args) -> Result<&'a ChannelRec, ApiErr> {
    let id = s(args, "channel").ok_or(err("channel_not_found"))?;
    let c = st.channels.get(id).ok_or(err("channel_not_found"))?;
    let scope = if c.is_im {
        "im:history"
    } else if c.is_private {
        "groups:history"
    } else {
        "channels:history"
    };
    if !inner.cfg.bot_scopes.iter().any(|x| x == scope) {
        return Err(ApiErr {
            code: "missing_scope".into(),
            extra: json!({"needed": scope, "provided": inner.cfg.bot_scopes.join(",")}),
        });
    }
    if !c.members.contains(&inner.cfg.bot_user_id) {
        // Private conversations the bot is not in are invisible to it.
        return Err(err(if c.is_private {
            "channel_not_found"
        } else {
            "not_in_channel"
        }));
    }
    Ok(c)
}

fn shape(inner: &Inner, st: &State, m: &Message, with_metadata: bool) -> Value {
    let mut v = m.to_slack_json(&inner.cfg);
    if m.thread_ts.as_deref() == Some(m.ts.as_str()) {
        let replies = st.replies(&m.channel, &m.ts);
        v["reply_count"] = json!(replies.len());
        if let Some(last) = replies.last() {
            v["latest_reply"] = json!(last.ts);
        }
    }
    if with_metadata && let Some(md) = &m.metadata {
        v["metadata"] = md.clone();
    }
    v
}

fn page(messages: Vec<Value>, next: Option<String>) -> Value {
    json!({
        "messages": messages,
        "has_more": next.is_some(),
        "response_metadata": {"next_cursor": next.unwrap_or_default()},
    })
}

/// Top-level messages, newest first; each page continues older than the last one returned.
pub(super) fn conversations_history(inner: &Inner, st: &mut State, args: &Args) -> R {
    let channel = readable(inner, st, args)?.id.clone();
    let window = Window::of(args)?;
    let before = match s(args, "cursor") {
        Some(c) => cursor_ts(c)?,
        None => u128::MAX,
    };
    let limit = limit(args);
    let mut found: Vec<(u128, &Message)> = st
        .messages
        .iter()
        .filter(|m| m.channel == channel && m.thread_ts.as_ref().is_none_or(|t| *t == m.ts))
        .filter_map(|m| micros(&m.ts).map(|t| (t, m)))
        .filter(|(t, _)| window.contains(*t) && *t < before)
        .collect();
    found.sort_by_key(|f| std::cmp::Reverse(f.0));
    let more = found.len() > limit;
    found.truncate(limit);
    let next = more
        .then(|| found.last().map(|(_, m)| cursor_for(&m.ts)))
        .flatten();
    let with_metadata = flag(args, "include_all_metadata");
    let messages = found
        .iter()
        .map(|(_, m)| shape(inner, st, m, with_metadata))
        .collect();
    let mut out = page(messages, next);
    out["pin_count"] = json!(0);
    Ok(out)
}

/// A thread: its parent first (on the first page), then replies oldest first.
pub(super) fn conversations_replies(inner: &Inner, st: &mut State, args: &Args) -> R {
    let channel = readable(inner, st, args)?.id.clone();
    let ts = s_owned(args, "ts").ok_or(err("thread_not_found"))?;
    let m = st
        .find_message(&channel, &ts)
        .ok_or(err("thread_not_found"))?;
    // `ts` may name any message of the thread.
    let root = m.thread_ts.clone().unwrap_or(ts);
    let parent = st
        .find_message(&channel, &root)
        .ok_or(err("thread_not_found"))?;
    let window = Window::of(args)?;
    let after = match s(args, "cursor") {
        Some(c) => Some(cursor_ts(c)?),
        None => None,
    };
    let limit = limit(args);
    let mut replies: Vec<(u128, Message)> = st
        .replies(&channel, &root)
        .into_iter()
        .filter_map(|m| micros(&m.ts).map(|t| (t, m)))
        .filter(|(t, _)| window.contains(*t) && after.is_none_or(|a| *t > a))
        .collect();
    replies.sort_by_key(|r| r.0);
    let with_metadata = flag(args, "include_all_metadata");
    let mut messages = Vec::new();
    let mut room = limit;
    if after.is_none() {
        messages.push(shape(inner, st, parent, with_metadata));
        room = room.saturating_sub(1).max(1);
    }
    let more = replies.len() > room;
    replies.truncate(room);
    let next = more
        .then(|| replies.last().map(|(_, m)| cursor_for(&m.ts)))
        .flatten();
    messages.extend(
        replies
            .iter()
            .map(|(_, m)| shape(inner, st, m, with_metadata)),
    );
    Ok(page(messages, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_order_by_their_microseconds() {
        assert_eq!(micros("1700000000.000100"), Some(1_700_000_000_000_100));
        assert_eq!(micros("1700000000.5"), Some(1_700_000_000_500_000));
        assert_eq!(micros("1700000000"), Some(1_700_000_000_000_000));
        assert_eq!(micros("soon"), None);
    }

    #[test]
    fn cursors_round_trip_and_junk_is_refused() {
        let c = cursor_for("1700000000.000100");
        assert_eq!(cursor_ts(&c).ok(), micros("1700000000.000100"));
        assert!(cursor_ts("zz").is_err());
    }
}
