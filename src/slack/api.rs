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
        SlackApi {
            client,
            token: SlackApiToken::new(bot_token.expose().to_owned().into()),
            pace,
            metrics,
            timeout: CALL_TIMEOUT,
            limits: Arc::new(Limits::new()),
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
