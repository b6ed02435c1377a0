//! Slack's Web API, as Gatehouse uses it: one client, JSON in and out through slack-morphism's
//! session, limits per method tier and per channel (governor), a bound on how long each call
//! waits for an answer, and errors that never carry a token.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultKeyedRateLimiter, Quota};
use serde_json::{Value, json};
use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;

use crate::config::Secret;
use crate::metrics::{Metrics, WaitCause};

/// What a Slack call can fail with. Messages are safe to log and show: tokens are redacted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlackError {
    /// Slack answered `ok: false` with this code (e.g. `channel_not_found`, `user_not_found`).
    #[error("Slack answered `{code}` to {method}")]
    Api { method: &'static str, code: String },
    #[error("Slack is rate limiting {method}")]
    RateLimited {
        method: &'static str,
        retry_after: Option<Duration>,
    },
    #[error("cannot reach Slack for {method}: {detail}")]
    Transport {
        method: &'static str,
        detail: String,
    },
    #[error("Slack's answer to {method} lacks {what}")]
    Unexpected {
        method: &'static str,
        what: &'static str,
    },
}

impl SlackError {
    pub fn code(&self) -> Option<&str> {
        match self {
            SlackError::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Worth another try later: rate limits, network trouble, Slack's own hiccups.
    pub fn is_retryable(&self) -> bool {
        match self {
            SlackError::RateLimited { .. } | SlackError::Transport { .. } => true,
            SlackError::Api { code, .. } => {
                matches!(
                    code.as_str(),
                    "internal_error" | "fatal_error" | "service_unavailable" | "request_timeout"
                )
            }
            SlackError::Unexpected { .. } => false,
        }
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            SlackError::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// Removes anything shaped like a Slack token from text that may reach a log or a person.
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = ["xoxb-", "xoxp-", "xoxa-", "xoxe-", "xapp-"]
        .iter()
        .filter_map(|p| rest.find(p))
        .min()
    {
        out.push_str(&rest[..i]);
        out.push_str("xox…[redacted]");
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .unwrap_or(tail.len());
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// The metadata `event_type` of every message a notice job posts; its payload holds the key.
const DELIVERY_EVENT: &str = "gatehouse_delivery";
const MAX_HISTORY_PAGES: usize = 50;

/// A message: `text` is the notification fallback, `blocks` what people see.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub text: String,
    pub blocks: Value,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotInfo {
    pub user_id: String,
    pub team_id: String,
    /// The Enterprise Grid organisation, on an org's workspace.
    pub enterprise_id: Option<String>,
}

/// What Gatehouse needs to know of a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    pub id: String,
    pub name: String,
    pub email: Option<String>,
    pub tz: Option<String>,
    pub deleted: bool,
    pub restricted: bool,
    pub is_bot: bool,
    /// An app's account (Slack lists `is_app_user` apart from `is_bot`).
    pub is_app_user: bool,
    /// Slack says the person belongs to another workspace (Slack Connect).
    pub is_stranger: bool,
    /// The workspace the person belongs to.
    pub team_id: Option<String>,
    /// Their Enterprise Grid organisation (`enterprise_user.enterprise_id`), if any.
    pub enterprise_id: Option<String>,
}

struct Limits {
    /// Per method, by Slack's tier: T2 20/min, T3 50/min, T4 100/min.
    tier2: DefaultKeyedRateLimiter<&'static str>,
    tier3: DefaultKeyedRateLimiter<&'static str>,
    tier4: DefaultKeyedRateLimiter<&'static str>,
    /// chat.postMessage: about one message a second per channel, short bursts allowed.
    channels: DefaultKeyedRateLimiter<String>,
}

fn per_minute(n: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN))
}

fn tier(method: &str) -> u8 {
    match method {
        "usergroups.users.list" => 2,
        "views.open" | "views.publish" | "users.info" | "chat.postEphemeral" | "auth.test" => 4,
        _ => 3,
    }
}

/// How long one Web API call waits for Slack's answer before it fails (retryably). Slack answers
/// in well under a second; a call past this is lost, and a job holding it would hold its lease.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct SlackApi {
    client: Arc<SlackHyperClient>,
    token: SlackApiToken,
    limits: Arc<Limits>,
    /// False: no pacing of our own; Slack's 429s (with Retry-After) still hold us back.
    pace: bool,
    /// Calls, errors and rate-limit waits are counted here.
    metrics: Arc<Metrics>,
    /// See `CALL_TIMEOUT`.
    timeout: Duration,
}

/// The connector of slack.md §4.4: https or plain http (for slack-sim), with `SLACK_API_URL`.
pub fn hyper_client(api_url: &str) -> Result<Arc<SlackHyperClient>, SlackError> {
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_native_roots()
        .map_err(|e| SlackError::Transport {
            method: "connect",
            detail: format!("no TLS root certificates on this machine: {e}"),
        })?
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .build();
    let connector = SlackClientHyperConnector::from(https).with_slack_api_url(api_url);
    Ok(Arc::new(SlackClient::new(connector)))
}

impl SlackApi {
    pub fn new(
        client: Arc<SlackHyperClient>,
        bot_token: &Secret,
        pace: bool,
        metrics: Arc<Metrics>,
    ) -> Self {
        let burst = NonZeroU32::new(4).unwrap_or(NonZeroU32::MIN);
        let per_second = NonZeroU32::MIN;
        SlackApi {
            client,
            token: SlackApiToken::new(bot_token.expose().to_owned().into()),
            pace,
            metrics,
            timeout: CALL_TIMEOUT,
            limits: Arc::new(Limits {
                tier2: DefaultKeyedRateLimiter::keyed(per_minute(20)),
                tier3: DefaultKeyedRateLimiter::keyed(per_minute(50)),
                tier4: DefaultKeyedRateLimiter::keyed(per_minute(100)),
                channels: DefaultKeyedRateLimiter::keyed(
                    Quota::per_second(per_second).allow_burst(burst),
                ),
            }),
        }
    }

    /// Waits at most `timeout` (instead of `CALL_TIMEOUT`) for each answer.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Runs one call within `timeout`; past it, the call is dropped and fails retryably. The
    /// error names the method only: the URL (and so nothing near the token) stays out of it.
    async fn answered<T>(
        &self,
        method: &'static str,
        call: impl std::future::Future<Output = Result<T, SlackClientError>>,
    ) -> Result<T, SlackError> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(result) => result.map_err(|e| Self::map_err(method, e)),
            Err(_) => Err(SlackError::Transport {
                method,
                detail: format!("no answer in {} s", self.timeout.as_secs_f64()),
            }),
        }
    }

    async fn throttle(&self, method: &'static str) {
        // chat.postMessage has Slack's special limit, per channel (see `channels`), not a tier.
        if !self.pace || method == "chat.postMessage" {
            return;
        }
        let limiter = match tier(method) {
            2 => &self.limits.tier2,
            4 => &self.limits.tier4,
            _ => &self.limits.tier3,
        };
        if limiter.check_key(&method).is_err() {
            let started = std::time::Instant::now();
            limiter.until_key_ready(&method).await;
            self.metrics
                .rate_limit_wait(WaitCause::Pacing, started.elapsed());
        }
    }

    /// Counts the call and, when it failed, how.
    fn count<T>(&self, method: &'static str, result: &Result<T, SlackError>) {
        self.metrics.slack_call(method);
        match result {
            Ok(_) => {}
            Err(SlackError::RateLimited { retry_after, .. }) => {
                self.metrics.slack_error(method, "rate_limited");
                // The job that made the call waits this long before its next attempt.
                self.metrics
                    .rate_limit_wait(WaitCause::RetryAfter, retry_after.unwrap_or_default());
            }
            Err(SlackError::Api { code, .. }) => self.metrics.slack_error(method, code),
            Err(SlackError::Transport { .. }) => self.metrics.slack_error(method, "transport"),
            Err(SlackError::Unexpected { .. }) => self.metrics.slack_error(method, "unexpected"),
        }
    }

    fn map_err(method: &'static str, e: SlackClientError) -> SlackError {
        match e {
            SlackClientError::ApiError(api) => SlackError::Api {
                method,
                code: api.code,
            },
            SlackClientError::RateLimitError(rl) => SlackError::RateLimited {
                method,
                retry_after: rl.retry_after,
            },
            other => SlackError::Transport {
                method,
                detail: redact(&other.to_string()),
            },
        }
    }

    /// POSTs JSON to `method`; returns Slack's answer (already checked for `ok`).
    async fn post(&self, method: &'static str, mut body: Value) -> Result<Value, SlackError> {
        // Slack refuses a whole post for one text over its block's limit: cut, never refused.
        let cut = match body.get_mut("view") {
            Some(view) => super::limits::fit_view(view),
            None => body
                .get_mut("blocks")
                .is_some_and(super::limits::fit_message),
        };
        if cut {
            tracing::info!(method, "cut a text to Slack's Block Kit limits");
        }
        self.throttle(method).await;
        let session = self.client.open_session(&self.token);
        let call = session
            .http_session_api
            .http_post::<Value, Value>(method, &body, None);
        let result = self.answered(method, call).await;
        self.count(method, &result);
        result
    }

    async fn get(
        &self,
        method: &'static str,
        params: &[(&str, &str)],
    ) -> Result<Value, SlackError> {
        self.throttle(method).await;
        let session = self.client.open_session(&self.token);
        let params: Vec<(&str, Option<&str>)> =
            params.iter().map(|(k, v)| (*k, Some(*v))).collect();
        let call = session
            .http_session_api
            .http_get::<Value, _, &str>(method, &params, None);
        let result = self.answered(method, call).await;
        self.count(method, &result);
        result
    }

    /// Checks an app-level token the way Socket Mode will use it.
    pub async fn check_app_token(&self, app_token: &Secret) -> Result<(), SlackError> {
        let token = SlackApiToken::new(app_token.expose().to_owned().into());
        let session = self.client.open_session(&token);
        let body = json!({});
        let call = session.http_session_api.http_post::<Value, Value>(
            "apps.connections.open",
            &body,
            None,
        );
        self.answered("apps.connections.open", call).await.map(drop)
    }

    pub async fn auth_test(&self) -> Result<BotInfo, SlackError> {
        let v = self.post("auth.test", json!({})).await?;
        Ok(BotInfo {
            user_id: str_field(&v, "user_id", "auth.test")?,
            team_id: str_field(&v, "team_id", "auth.test")?,
            enterprise_id: v["enterprise_id"]
                .as_str()
                .filter(|e| !e.is_empty())
                .map(str::to_owned),
        })
    }

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

    /// Opens a modal; returns its view id.
    pub async fn open_view(&self, trigger_id: &str, view: &Value) -> Result<String, SlackError> {
        let v = self
            .post(
                "views.open",
                json!({ "trigger_id": trigger_id, "view": view }),
            )
            .await?;
        v["view"]["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or(SlackError::Unexpected {
                method: "views.open",
                what: "view.id",
            })
    }

    pub async fn publish_home(&self, user: &str, view: &Value) -> Result<(), SlackError> {
        self.post("views.publish", json!({ "user_id": user, "view": view }))
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

    /// The DM channel with `user`.
    pub async fn open_dm(&self, user: &str) -> Result<String, SlackError> {
        let v = self
            .post("conversations.open", json!({ "users": [user] }))
            .await?;
        v["channel"]["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or(SlackError::Unexpected {
                method: "conversations.open",
                what: "channel.id",
            })
    }

    pub async fn user_info(&self, user: &str) -> Result<UserInfo, SlackError> {
        let v = self.get("users.info", &[("user", user)]).await?;
        let u = &v["user"];
        let name = u["real_name"]
            .as_str()
            .or(u["profile"]["real_name"].as_str())
            .or(u["name"].as_str())
            .unwrap_or(user)
            .to_owned();
        Ok(UserInfo {
            id: str_field(u, "id", "users.info")?,
            name,
            email: u["profile"]["email"].as_str().map(str::to_owned),
            tz: u["tz"].as_str().map(str::to_owned),
            deleted: u["deleted"].as_bool().unwrap_or(false),
            restricted: u["is_restricted"].as_bool().unwrap_or(false)
                || u["is_ultra_restricted"].as_bool().unwrap_or(false),
            is_bot: u["is_bot"].as_bool().unwrap_or(false),
            is_app_user: u["is_app_user"].as_bool().unwrap_or(false),
            is_stranger: u["is_stranger"].as_bool().unwrap_or(false),
            team_id: u["team_id"].as_str().map(str::to_owned),
            enterprise_id: u["enterprise_user"]["enterprise_id"]
                .as_str()
                .map(str::to_owned),
        })
    }

    pub async fn usergroup_members(&self, group: &str) -> Result<Vec<String>, SlackError> {
        let v = self
            .get("usergroups.users.list", &[("usergroup", group)])
            .await?;
        Ok(v["users"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|u| u.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Reads one message of the channel: Slack answers `not_in_channel` or `channel_not_found`
    /// when the bot could not post there either (history needs membership, as posting does).
    pub async fn can_read(&self, channel: &str) -> Result<(), SlackError> {
        self.get(
            "conversations.history",
            &[("channel", channel), ("limit", "1")],
        )
        .await
        .map(drop)
    }
}

fn str_field(v: &Value, key: &str, method: &'static str) -> Result<String, SlackError> {
    v[key]
        .as_str()
        .map(str::to_owned)
        .ok_or(SlackError::Unexpected {
            method,
            what: "a field it always sends",
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_redacted_wherever_they_appear() {
        assert_eq!(
            redact("bad token xoxb-123-456-abcDEF in header; app xapp-1-A0-99."),
            "bad token xox…[redacted] in header; app xox…[redacted]."
        );
        assert_eq!(redact("nothing here"), "nothing here");
    }

    #[test]
    fn retryable_errors_are_told_apart() {
        let rl = SlackError::RateLimited {
            method: "chat.postMessage",
            retry_after: Some(Duration::from_secs(3)),
        };
        assert!(rl.is_retryable());
        assert_eq!(rl.retry_after(), Some(Duration::from_secs(3)));
        let gone = SlackError::Api {
            method: "chat.postMessage",
            code: "channel_not_found".into(),
        };
        assert!(!gone.is_retryable());
    }
}
