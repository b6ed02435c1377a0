//! Slack's Web API, as Gatehouse uses it: one client, JSON in and out through slack-morphism's
//! session, limits per method tier and per channel (governor), a bound on how long each call
//! waits for an answer, and errors that never carry a token.
//!
//! This file owns the client and the one way every call goes out (pace, send, time out, count,
//! class the error). The calls themselves are in `messages` and `workspace`, the pacing limits
//! in `pacing`, the error type in `error`.

mod error;
mod messages;
mod pacing;
mod workspace;

pub use error::{SlackError, redact};
pub use messages::Message;
pub use workspace::{BotInfo, UserInfo};

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;

use crate::config::Secret;
use crate::metrics::{Metrics, WaitCause};
use pacing::{Limits, tier};

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
    /// The Web API's own origin (`SLACK_API_URL`: slack-sim, or a proxy before Slack): the one
    /// place besides Slack's hooks host that a `response_url` may point to.
    api_origin: Option<reqwest::Url>,
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
    /// Where Slack's calls, and the process's acks, are counted.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn new(
        client: Arc<SlackHyperClient>,
        bot_token: &Secret,
        pace: bool,
        metrics: Arc<Metrics>,
    ) -> Self {
        SlackApi {
            client,
            token: SlackApiToken::new(bot_token.expose().to_owned().into()),
            pace,
            metrics,
            timeout: CALL_TIMEOUT,
            limits: Arc::new(Limits::new()),
            api_origin: None,
        }
    }

    /// Trusts `response_url`s on the origin of `api_url` (`SLACK_API_URL`) too.
    pub fn with_api_url(mut self, api_url: &str) -> Self {
        self.api_origin = reqwest::Url::parse(api_url).ok();
        self
    }

    /// Answers an interaction through its `response_url`, to the person alone
    /// (docs.slack.dev/interactivity/handling-user-interaction#message_responses): unlike
    /// `chat.postEphemeral` it reaches them in any conversation, one Gatehouse is not in too.
    pub async fn respond(&self, response_url: &str, msg: &Message) -> Result<(), SlackError> {
        const METHOD: &str = "response_url";
        let url = reqwest::Url::parse(response_url)
            .ok()
            .filter(|u| may_respond_to(self.api_origin.as_ref(), u))
            .ok_or(SlackError::Unexpected {
                method: METHOD,
                what: "a response_url on Slack's hooks host",
            })?;
        let mut blocks = msg.blocks.clone();
        super::limits::fit_message(&mut blocks);
        let body = json!({ "response_type": "ephemeral", "text": msg.text, "blocks": blocks });
        let span = tracing::debug_span!("slack response_url");
        // The URL is a capability: slack-morphism keeps it out of its logs (sensitive).
        let context = SlackClientApiCallContext {
            rate_control_params: None,
            token: None,
            tracing_span: &span,
            is_sensitive_url: true,
        };
        let call = self
            .client
            .http_api
            .connector
            .http_post_uri::<Value, Value>(url, &body, context);
        let result = self.answered(METHOD, call).await.map(drop);
        self.count(METHOD, &result);
        result
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

/// Whether `url` is a response URL Slack could have given: https on `hooks.slack.com`, or the
/// Web API's own origin (`api_origin`). A payload naming anything else is not answered there,
/// so a forged one cannot make Gatehouse send what it knows to a host of its choosing.
fn may_respond_to(api_origin: Option<&reqwest::Url>, url: &reqwest::Url) -> bool {
    let slack = url.scheme() == "https" && url.host_str() == Some("hooks.slack.com");
    let ours = api_origin.is_some_and(|api| {
        api.scheme() == url.scheme()
            && api.host_str() == url.host_str()
            && api.port_or_known_default() == url.port_or_known_default()
    });
    slack || ours
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_slacks_hooks_host_and_the_apis_own_origin_are_answered() {
        let url = |u: &str| reqwest::Url::parse(u).unwrap();
        let (slack, sim) = (
            url("https://slack.com/api/"),
            url("http://127.0.0.1:4321/api/"),
        );
        let yes = |api: &reqwest::Url, u: &str| may_respond_to(Some(api), &url(u));
        assert!(yes(&slack, "https://hooks.slack.com/commands/T1/2/abc"));
        assert!(
            !yes(&slack, "http://hooks.slack.com/commands/T1/2/abc"),
            "not over http"
        );
        assert!(!yes(&slack, "https://hooks.slack.com.evil.example/x"));
        assert!(!yes(&slack, "https://169.254.169.254/latest/meta-data"));
        assert!(yes(&sim, "http://127.0.0.1:4321/hooks/T0SIM/1"));
        assert!(
            !yes(&sim, "http://127.0.0.1:5432/hooks/T0SIM/1"),
            "another port"
        );
    }
}
