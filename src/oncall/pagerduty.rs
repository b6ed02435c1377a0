//! PagerDuty: `GET /oncalls` of the REST API v2.
//!
//! Checked against PagerDuty's API reference ("List all of the on-calls",
//! developer.pagerduty.com/api-reference/3a6b910f11050) and its OpenAPI listing: headers
//! `Authorization: Token token=…` and `Accept: application/vnd.pagerduty+json;version=2`;
//! filters `schedule_ids[]`, `escalation_policy_ids[]`; `include[]=users` puts the full user
//! (with `email`) in each entry; `earliest=true` keeps one entry per escalation policy, level and
//! user; `since`/`until` default to now, so the answer is who is on call now. Classic pagination:
//! `limit` (at most 100), `offset`, and `more` in the answer. Each entry has `start` and `end`,
//! null when the user is always on call (an escalation rule that names them directly). Errors
//! are `{"error": {"message", "code", "errors": [...]}}`.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use reqwest::header;
use serde::Deserialize;

use super::{OnCall, OnCallError};
use crate::clock::{SharedClock, SystemClock};
use crate::config::Secret;
use crate::platform::http;

const SERVICE: &str = "PagerDuty";
/// PagerDuty's largest page.
const PAGE: usize = 100;
/// A bound on pages followed, so a service that always says `more` cannot keep us looping.
const MAX_PAGES: usize = 100;

pub const DEFAULT_BASE_URL: &str = "https://api.pagerduty.com";

/// Where to ask and whose on-calls count. With no schedule and no escalation policy, every
/// on-call in the account counts.
#[derive(Debug, Clone)]
pub struct PagerDutySettings {
    pub base_url: String,
    pub token: Secret,
    pub schedule_ids: Vec<String>,
    pub escalation_policy_ids: Vec<String>,
}

impl PagerDutySettings {
    /// Settings for the public API.
    pub fn new(token: Secret) -> Self {
        PagerDutySettings {
            base_url: DEFAULT_BASE_URL.to_owned(),
            token,
            schedule_ids: Vec::new(),
            escalation_policy_ids: Vec::new(),
        }
    }
}

pub struct PagerDuty {
    http: reqwest::Client,
    base: reqwest::Url,
    token: Secret,
    schedule_ids: Vec<String>,
    escalation_policy_ids: Vec<String>,
    clock: SharedClock,
}

impl std::fmt::Debug for PagerDuty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PagerDuty")
            .field("base", &self.base.as_str())
            .field("schedule_ids", &self.schedule_ids)
            .field("escalation_policy_ids", &self.escalation_policy_ids)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    oncalls: Vec<Entry>,
    #[serde(default)]
    more: bool,
}

#[derive(Deserialize)]
struct Entry {
    user: Option<User>,
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
struct User {
    email: Option<String>,
}

impl Entry {
    /// A null `start` or `end` is open on that side.
    fn covers(&self, now: DateTime<Utc>) -> bool {
        self.start.is_none_or(|s| s <= now) && self.end.is_none_or(|e| now < e)
    }
}

/// The service's own words from `{"error": {"message", "errors"}}`.
fn said(body: &serde_json::Value) -> Option<String> {
    let error = body.get("error")?;
    let message = error.get("message")?.as_str()?.to_owned();
    let details: Vec<&str> = error
        .get("errors")
        .and_then(|e| e.as_array())
        .map(|a| a.iter().filter_map(|d| d.as_str()).collect())
        .unwrap_or_default();
    Some(if details.is_empty() {
        message
    } else {
        format!("{message}: {}", details.join("; "))
    })
}

impl PagerDuty {
    pub fn new(settings: PagerDutySettings) -> Result<Self, OnCallError> {
        Ok(PagerDuty {
            http: super::client()?,
            base: super::base_url(SERVICE, &settings.base_url)?,
            token: settings.token,
            schedule_ids: settings.schedule_ids,
            escalation_policy_ids: settings.escalation_policy_ids,
            clock: Arc::new(SystemClock),
        })
    }

    /// The clock that says when "now" is, for entries' `start`/`end`.
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    async fn page(&self, offset: usize) -> Result<Page, OnCallError> {
        let mut query: Vec<(&str, String)> = vec![
            ("include[]", "users".into()),
            ("earliest", "true".into()),
            ("limit", PAGE.to_string()),
            ("offset", offset.to_string()),
        ];
        query.extend(
            self.schedule_ids
                .iter()
                .map(|s| ("schedule_ids[]", s.clone())),
        );
        query.extend(
            self.escalation_policy_ids
                .iter()
                .map(|s| ("escalation_policy_ids[]", s.clone())),
        );
        let request = self
            .http
            .get(http::join(&self.base, ["oncalls"]))
            .header(
                header::AUTHORIZATION,
                format!("Token token={}", self.token.expose()),
            )
            .header(header::ACCEPT, "application/vnd.pagerduty+json;version=2")
            .query(&query);
        let json = super::get_json(SERVICE, request, said).await?;
        serde_json::from_value(json).map_err(|e| {
            OnCallError::Permanent(format!(
                "{SERVICE} answered on-calls Gatehouse cannot read: {e}"
            ))
        })
    }
}

#[async_trait::async_trait]
impl OnCall for PagerDuty {
    async fn on_call_now(&self, email: &str) -> Result<bool, OnCallError> {
        let now = self.clock.now();
        let mut offset = 0;
        for _ in 0..MAX_PAGES {
            let page = self.page(offset).await?;
            // The answer is "now" by PagerDuty's clock; ours decides at the edges of a shift.
            let found = page.oncalls.iter().any(|e| {
                e.covers(now)
                    && e.user
                        .as_ref()
                        .and_then(|u| u.email.as_deref())
                        .is_some_and(|m| super::same_email(m, email))
            });
            if found {
                return Ok(true);
            }
            if !page.more || page.oncalls.is_empty() {
                return Ok(false);
            }
            offset += page.oncalls.len();
        }
        Err(OnCallError::Permanent(format!(
            "{SERVICE} kept saying there were more on-calls after {MAX_PAGES} pages"
        )))
    }
}
