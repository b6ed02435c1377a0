//! A stateful fake of Opsgenie's Who Is On Call API on 127.0.0.1: schedules (an ID and a name)
//! with shifts (a user's email, `start`, `end`); `GET /v2/schedules/{identifier}/on-calls` with
//! `scheduleIdentifierType` (`id` by default, or `name`) and `flat` (`onCallRecipients`, else
//! `onCallParticipants`), answering who is on call now; the key checked on every call
//! (`Authorization: GenieKey …`, else 401 in Opsgenie's `{message, took, requestId}` shape);
//! unknown schedules 404; and knobs for 429 with Retry-After and for 503.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use gatehouse::clock::{Clock, SystemClock};
use gatehouse::config::Secret;
use gatehouse::oncall::{Opsgenie, OpsgenieSettings};
use serde_json::json;

use crate::support::rest_fake;

pub const KEY: &str = "og-test-key-51d0c8e2";

#[derive(Clone)]
pub struct FakeShift {
    pub email: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

#[derive(Clone)]
pub struct FakeSchedule {
    pub id: String,
    pub name: String,
    pub shifts: Vec<FakeShift>,
}

/// One authenticated call as the fake understood it.
#[derive(Clone, Debug)]
pub struct Seen {
    /// The path as sent, still encoded.
    pub raw_path: String,
    /// The identifier, decoded from its one path segment.
    pub identifier: String,
    pub identifier_type: String,
    pub flat: bool,
}

#[derive(Default)]
pub struct FakeState {
    pub schedules: Vec<FakeSchedule>,
    pub seen: Vec<Seen>,
    pub throttle_next: usize,
    pub unavailable_next: usize,
    pub retry_after: Option<u64>,
}

type Shared = Arc<Mutex<FakeState>>;

#[derive(Clone)]
pub struct OpsgenieFake {
    pub url: String,
    state: Shared,
}

fn error(status: StatusCode, message: &str) -> Response {
    let body = json!({ "message": message, "took": 0.002,
        "requestId": uuid::Uuid::new_v4().to_string() });
    (status, Json(body)).into_response()
}

impl OpsgenieFake {
    pub async fn start() -> OpsgenieFake {
        let routes = Router::new().route("/v2/schedules/{identifier}/on-calls", get(on_calls));
        let (url, state) = rest_fake::serve(routes).await;
        OpsgenieFake { url, state }
    }

    pub fn state(&self) -> MutexGuard<'_, FakeState> {
        self.state.lock().unwrap()
    }

    pub fn settings(&self, schedules: &[&str]) -> OpsgenieSettings {
        OpsgenieSettings {
            base_url: self.url.clone(),
            key: Secret::new(KEY),
            schedules: schedules.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// The client, as Gatehouse builds it, with the right key.
    pub fn client(&self, schedules: &[&str]) -> Opsgenie {
        Opsgenie::new(self.settings(schedules)).unwrap()
    }

    pub fn add_schedule(&self, id: &str, name: &str) {
        self.state().schedules.push(FakeSchedule {
            id: id.into(),
            name: name.into(),
            shifts: Vec::new(),
        });
    }

    /// A shift on the schedule with this name.
    pub fn add_shift(&self, schedule: &str, email: &str, start: DateTime<Utc>, end: DateTime<Utc>) {
        let mut s = self.state();
        let sched = s.schedules.iter_mut().find(|x| x.name == schedule).unwrap();
        sched.shifts.push(FakeShift {
            email: email.into(),
            start,
            end,
        });
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state().seen.clone()
    }
}

/// `GET /v2/schedules/{identifier}/on-calls`.
async fn on_calls(
    State(state): State<Shared>,
    headers: HeaderMap,
    uri: Uri,
    Path(identifier): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let mut s = state.lock().unwrap();
    if rest_fake::token(&headers, "GenieKey ") != Some(KEY) {
        return error(StatusCode::UNAUTHORIZED, "Could not authenticate");
    }
    let identifier_type = query
        .get("scheduleIdentifierType")
        .cloned()
        .unwrap_or_else(|| "id".into());
    let flat = query.get("flat").is_some_and(|f| f == "true");
    s.seen.push(Seen {
        raw_path: uri.path().to_owned(),
        identifier: identifier.clone(),
        identifier_type: identifier_type.clone(),
        flat,
    });
    let s = &mut *s;
    let fault = rest_fake::knobs!(s).fault(
        || error(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable"),
        || {
            error(
                StatusCode::TOO_MANY_REQUESTS,
                "You are making too many requests! To avoid errors, we recommend you limit requests.",
            )
        },
    );
    if let Some(fault) = fault {
        return fault;
    }
    let schedule = match identifier_type.as_str() {
        "id" => s.schedules.iter().find(|x| x.id == identifier),
        "name" => s.schedules.iter().find(|x| x.name == identifier),
        other => {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                &format!("Invalid scheduleIdentifierType [{other}]"),
            );
        }
    };
    let Some(schedule) = schedule else {
        return error(
            StatusCode::NOT_FOUND,
            &format!("No schedule exists with {identifier_type} [{identifier}]"),
        );
    };
    let now = SystemClock.now();
    let on_call: Vec<&FakeShift> = schedule
        .shifts
        .iter()
        .filter(|x| x.start <= now && now < x.end)
        .collect();
    let mut data = json!({
        "_parent": { "id": schedule.id, "name": schedule.name, "enabled": true },
    });
    if flat {
        data["onCallRecipients"] = json!(on_call.iter().map(|x| &x.email).collect::<Vec<_>>());
    } else {
        data["onCallParticipants"] = json!(
            on_call
                .iter()
                .map(|x| json!({ "id": uuid::Uuid::new_v4().to_string(), "name": x.email, "type": "user" }))
                .collect::<Vec<_>>()
        );
    }
    Json(json!({ "data": data, "took": 0.011, "requestId": uuid::Uuid::new_v4().to_string() }))
        .into_response()
}
