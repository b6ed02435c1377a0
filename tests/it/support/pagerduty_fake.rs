//! A stateful fake of PagerDuty's REST API v2 `GET /oncalls` on 127.0.0.1: on-call entries with
//! a schedule, an escalation policy, a user and a `start`/`end` (null = open); the token checked
//! on every call (`Authorization: Token token=…`, else 401 in PagerDuty's error shape);
//! `schedule_ids[]`/`escalation_policy_ids[]` filters; `include[]=users` for full users (with
//! email) instead of references; classic `limit`/`offset`/`more` paging, with a knob for the
//! largest page; only entries covering now (the default `since`/`until`), unless told to answer
//! stale ones too; and knobs for 429 with Retry-After and for 503.

use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use gatehouse::clock::{Clock, SystemClock};
use gatehouse::config::Secret;
use gatehouse::oncall::{PagerDuty, PagerDutySettings};
use serde_json::{Value, json};

use crate::support::rest_fake;

pub const TOKEN: &str = "pd-test-token-7f3e2a91";

#[derive(Clone)]
pub struct FakeOnCall {
    pub schedule: String,
    pub escalation_policy: String,
    pub user_id: String,
    pub email: String,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
}

pub struct FakeState {
    pub oncalls: Vec<FakeOnCall>,
    /// The largest page the fake answers (PagerDuty's is 100).
    pub max_limit: usize,
    /// Answer entries whatever their `start`/`end`, as a server whose clock differs might.
    pub ignore_window: bool,
    /// Every authenticated call's query string, before the knobs answer it.
    pub log: Vec<String>,
    pub throttle_next: usize,
    pub unavailable_next: usize,
    pub retry_after: Option<u64>,
}

impl Default for FakeState {
    fn default() -> Self {
        FakeState {
            oncalls: Vec::new(),
            max_limit: 100,
            ignore_window: false,
            log: Vec::new(),
            throttle_next: 0,
            unavailable_next: 0,
            retry_after: None,
        }
    }
}

type Shared = Arc<Mutex<FakeState>>;

#[derive(Clone)]
pub struct PagerDutyFake {
    pub url: String,
    state: Shared,
}

fn error(status: StatusCode, code: u32, message: &str, errors: &[&str]) -> Response {
    let body = json!({ "error": { "message": message, "code": code, "errors": errors } });
    (status, Json(body)).into_response()
}

impl PagerDutyFake {
    pub async fn start() -> PagerDutyFake {
        let routes = Router::new().route("/oncalls", get(oncalls));
        let (url, state) = rest_fake::serve(routes).await;
        PagerDutyFake { url, state }
    }

    pub fn state(&self) -> MutexGuard<'_, FakeState> {
        self.state.lock().unwrap()
    }

    pub fn settings(&self, schedule_ids: &[&str], policy_ids: &[&str]) -> PagerDutySettings {
        PagerDutySettings {
            base_url: self.url.clone(),
            token: Secret::new(TOKEN),
            schedule_ids: schedule_ids.iter().map(|s| s.to_string()).collect(),
            escalation_policy_ids: policy_ids.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// The client, as Gatehouse builds it, with the right token.
    pub fn client(&self, schedule_ids: &[&str], policy_ids: &[&str]) -> PagerDuty {
        PagerDuty::new(self.settings(schedule_ids, policy_ids)).unwrap()
    }

    /// `email` on call for `schedule` (under policy `EP-<schedule>`) from `start` to `end`.
    pub fn add(
        &self,
        schedule: &str,
        email: &str,
        start: Option<DateTime<Utc>>,
        end: Option<DateTime<Utc>>,
    ) {
        let mut s = self.state();
        let user_id = format!("PU{}", s.oncalls.len() + 1);
        s.oncalls.push(FakeOnCall {
            schedule: schedule.into(),
            escalation_policy: format!("EP-{schedule}"),
            user_id,
            email: email.into(),
            start,
            end,
        });
    }

    pub fn log(&self) -> Vec<String> {
        self.state().log.clone()
    }
}

fn user(o: &FakeOnCall, full: bool) -> Value {
    let mut u = json!({
        "id": o.user_id,
        "type": if full { "user" } else { "user_reference" },
        "summary": o.email,
        "self": format!("https://api.pagerduty.com/users/{}", o.user_id),
        "html_url": format!("https://example.pagerduty.com/users/{}", o.user_id),
    });
    if full {
        u["email"] = json!(o.email);
        u["name"] = json!(o.email);
        u["time_zone"] = json!("Etc/UTC");
    }
    u
}

fn entry(o: &FakeOnCall, full_users: bool) -> Value {
    json!({
        "escalation_policy": { "id": o.escalation_policy, "type": "escalation_policy_reference",
            "summary": o.escalation_policy },
        "escalation_level": 1,
        "schedule": { "id": o.schedule, "type": "schedule_reference", "summary": o.schedule },
        "user": user(o, full_users),
        "start": o.start.map(|t| t.to_rfc3339()),
        "end": o.end.map(|t| t.to_rfc3339()),
    })
}

/// `GET /oncalls`.
async fn oncalls(
    State(state): State<Shared>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let mut s = state.lock().unwrap();
    if rest_fake::token(&headers, "Token token=") != Some(TOKEN) {
        return error(StatusCode::UNAUTHORIZED, 2006, "Authentication failed", &[]);
    }
    let query = query.unwrap_or_default();
    s.log.push(query.clone());
    let s = &mut *s;
    let fault = rest_fake::knobs!(s).fault(
        || {
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                2000,
                "Service Unavailable",
                &[],
            )
        },
        || {
            error(
                StatusCode::TOO_MANY_REQUESTS,
                2020,
                "Rate Limit Exceeded",
                &[],
            )
        },
    );
    if let Some(fault) = fault {
        return fault;
    }
    let pairs = rest_fake::pairs_in_order(&query);
    let all = |key: &str| -> Vec<String> {
        pairs
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    };
    let one = |key: &str| all(key).into_iter().next();
    let number = |key: &str, default: usize| -> Result<usize, String> {
        match one(key) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| format!("{key} must be a non-negative integer")),
        }
    };
    let (limit, offset) = match (number("limit", 25), number("offset", 0)) {
        (Ok(l), Ok(o)) => (l.clamp(1, s.max_limit), o),
        (Err(e), _) | (_, Err(e)) => {
            return error(
                StatusCode::BAD_REQUEST,
                2001,
                "Invalid Input Provided",
                &[&e],
            );
        }
    };
    let schedules = all("schedule_ids[]");
    let policies = all("escalation_policy_ids[]");
    let full_users = all("include[]").iter().any(|i| i == "users");
    let now = SystemClock.now();
    let matching: Vec<&FakeOnCall> = s
        .oncalls
        .iter()
        .filter(|o| schedules.is_empty() || schedules.contains(&o.schedule))
        .filter(|o| policies.is_empty() || policies.contains(&o.escalation_policy))
        .filter(|o| {
            s.ignore_window || (o.start.is_none_or(|t| t <= now) && o.end.is_none_or(|t| now < t))
        })
        .collect();
    let page: Vec<Value> = matching
        .iter()
        .skip(offset)
        .take(limit)
        .map(|o| entry(o, full_users))
        .collect();
    let more = offset + page.len() < matching.len();
    Json(json!({
        "oncalls": page, "limit": limit, "offset": offset, "more": more, "total": null,
    }))
    .into_response()
}
