//! Messages: posting (with a delivery key in its metadata, when asked), finding an earlier
//! delivery by that key, updating, ephemeral messages, and reading a message's reactions.

use serde_json::{Value, json};

use super::{SlackApi, SlackError, str_field};
use crate::metrics::WaitCause;

/// The metadata `event_type` of every message a notice job posts; its payload holds the key.
const DELIVERY_EVENT: &str = "gatehouse_delivery";
const MAX_HISTORY_PAGES: usize = 50;

/// A message: `text` is the notification fallback, `blocks` what people see.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub text: String,
    pub blocks: Value,
}

impl SlackApi {
    /// Posts to a channel (or a thread of it); returns the message's `ts`.
    pub async fn post_message(
        &self,
        channel: &str,
        msg: &Message,
        thread_ts: Option<&str>,
    ) -> Result<String, SlackError> {
        self.post_with_key(channel, msg, thread_ts, None).await
    }

    /// Like `post_message`, with a delivery key in the message's metadata (invisible to people)
    /// so that `find_delivered` can tell later whether this message was posted.
    pub async fn post_delivery(
        &self,
        channel: &str,
        msg: &Message,
        thread_ts: Option<&str>,
        key: &str,
    ) -> Result<String, SlackError> {
        self.post_with_key(channel, msg, thread_ts, Some(key)).await
    }

    async fn post_with_key(
        &self,
        channel: &str,
        msg: &Message,
        thread_ts: Option<&str>,
        key: Option<&str>,
    ) -> Result<String, SlackError> {
        let channel_key = channel.to_owned();
        if self.pace && self.limits.channels.check_key(&channel_key).is_err() {
            let started = std::time::Instant::now();
            self.limits.channels.until_key_ready(&channel_key).await;
            self.metrics
                .rate_limit_wait(WaitCause::Pacing, started.elapsed());
        }
        let mut body = json!({ "channel": channel, "text": msg.text, "blocks": msg.blocks, "unfurl_links": false });
        if let Some(ts) = thread_ts {
            body["thread_ts"] = json!(ts);
        }
        if let Some(key) = key {
            body["metadata"] =
                json!({ "event_type": DELIVERY_EVENT, "event_payload": { "key": key } });
        }
        let v = self.post("chat.postMessage", body).await?;
        str_field(&v, "ts", "chat.postMessage")
    }

    /// The `ts` of a message carrying delivery `key`, posted after `oldest` (a Slack timestamp)
    /// in `channel`, or in the thread of `thread_ts` when given.
    pub async fn find_delivered(
        &self,
        channel: &str,
        thread_ts: Option<&str>,
        oldest: &str,
        key: &str,
    ) -> Result<Option<String>, SlackError> {
        let method = if thread_ts.is_some() {
            "conversations.replies"
        } else {
            "conversations.history"
        };
        let mut cursor = String::new();
        // Bounded, in case a cursor never ends; the window since the job began is small anyway.
        for _ in 0..MAX_HISTORY_PAGES {
            let mut params = vec![
                ("channel", channel),
                ("oldest", oldest),
                ("include_all_metadata", "true"),
                ("limit", "200"),
            ];
            if let Some(ts) = thread_ts {
                params.push(("ts", ts));
            }
            if !cursor.is_empty() {
                params.push(("cursor", &cursor));
            }
            let v = self.get(method, &params).await?;
            let found = v["messages"].as_array().and_then(|ms| {
                ms.iter().find(|m| {
                    m["metadata"]["event_type"] == DELIVERY_EVENT
                        && m["metadata"]["event_payload"]["key"] == key
                })
            });
            if let Some(m) = found {
                return str_field(m, "ts", method).map(Some);
            }
            match v["response_metadata"]["next_cursor"].as_str() {
                Some(next) if !next.is_empty() => cursor = next.to_owned(),
                _ => return Ok(None),
            }
        }
        tracing::warn!(
            channel,
            key,
            "gave up reading history for an earlier delivery"
        );
        Ok(None)
    }

    pub async fn update_message(
        &self,
        channel: &str,
        ts: &str,
        msg: &Message,
    ) -> Result<(), SlackError> {
        self.post(
            "chat.update",
            json!({ "channel": channel, "ts": ts, "text": msg.text, "blocks": msg.blocks }),
        )
        .await
        .map(drop)
    }

    pub async fn post_ephemeral(
        &self,
        channel: &str,
        user: &str,
        msg: &Message,
    ) -> Result<(), SlackError> {
        self.post(
            "chat.postEphemeral",
            json!({ "channel": channel, "user": user, "text": msg.text, "blocks": msg.blocks }),
        )
        .await
        .map(drop)
    }

    /// The reactions on a message: each emoji's name and everyone who added it, in full
    /// (`reactions.get` with `full=true`; docs.slack.dev/reference/methods/reactions.get).
    pub async fn reactions_of(
        &self,
        channel: &str,
        ts: &str,
    ) -> Result<Vec<(String, Vec<String>)>, SlackError> {
        let v = self
            .get(
                "reactions.get",
                &[("channel", channel), ("timestamp", ts), ("full", "true")],
            )
            .await?;
        let reactions = v["message"]["reactions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        Ok(reactions
            .iter()
            .filter_map(|r| {
                let name = r["name"].as_str()?.to_owned();
                let users = r["users"]
                    .as_array()?
                    .iter()
                    .filter_map(|u| u.as_str().map(str::to_owned))
                    .collect();
                Some((name, users))
            })
            .collect())
    }
}
