//! Opsgenie: the Who Is On Call API's "Get On Calls".
//!
//! Checked against docs.opsgenie.com/docs/who-is-on-call-api: `GET
//! /v2/schedules/:scheduleIdentifier/on-calls` with `Authorization: GenieKey …`;
//! `scheduleIdentifierType` is `id` (the default) or `name`; `flat=true` answers
//! `data.onCallRecipients`, the on-call users' usernames (their emails); without `date` the
//! answer is for the moment the request is received. EU accounts use api.eu.opsgenie.com.
//! Errors are `{"message", "took", "requestId"}`.

use reqwest::header;

use super::{OnCall, OnCallError};
use crate::config::Secret;
use crate::platform::http;

const SERVICE: &str = "Opsgenie";

pub const DEFAULT_BASE_URL: &str = "https://api.opsgenie.com";
pub const EU_BASE_URL: &str = "https://api.eu.opsgenie.com";

/// Where to ask and which schedules count. A schedule is named by its ID (a UUID) or its name;
/// which one is told from its shape.
#[derive(Debug, Clone)]
pub struct OpsgenieSettings {
    pub base_url: String,
    pub key: Secret,
    pub schedules: Vec<String>,
}

impl OpsgenieSettings {
    /// Settings for the US instance.
    pub fn new(key: Secret, schedules: Vec<String>) -> Self {
        OpsgenieSettings {
            base_url: DEFAULT_BASE_URL.to_owned(),
            key,
            schedules,
        }
    }
}

pub struct Opsgenie {
    http: reqwest::Client,
    base: reqwest::Url,
    key: Secret,
    schedules: Vec<String>,
}

impl std::fmt::Debug for Opsgenie {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opsgenie")
            .field("base", &self.base.as_str())
            .field("schedules", &self.schedules)
            .finish_non_exhaustive()
    }
}

/// The service's own words from `{"message": …}`.
fn said(body: &serde_json::Value) -> Option<String> {
    body.get("message")?.as_str().map(str::to_owned)
}

/// `id` for a UUID (what Opsgenie's schedule IDs are), `name` for anything else.
fn identifier_type(schedule: &str) -> &'static str {
    if uuid::Uuid::try_parse(schedule).is_ok() {
        "id"
    } else {
        "name"
    }
}

impl Opsgenie {
    pub fn new(settings: OpsgenieSettings) -> Result<Self, OnCallError> {
        if settings.schedules.iter().any(|s| s.trim().is_empty()) {
            return Err(OnCallError::Permanent(
                "an Opsgenie schedule is named by an empty string".into(),
            ));
        }
        Ok(Opsgenie {
            http: super::client()?,
            base: super::base_url(SERVICE, &settings.base_url)?,
            key: settings.key,
            schedules: settings.schedules,
        })
    }

    /// The emails on call now in one schedule.
    async fn recipients(&self, schedule: &str) -> Result<Vec<String>, OnCallError> {
        // The identifier is one path segment, encoded: names hold spaces and slashes.
        let url = http::join(&self.base, ["v2", "schedules", schedule, "on-calls"]);
        let request = self
            .http
            .get(url)
            .header(
                header::AUTHORIZATION,
                format!("GenieKey {}", self.key.expose()),
            )
            .header(header::ACCEPT, "application/json")
            .query(&[
                ("scheduleIdentifierType", identifier_type(schedule)),
                ("flat", "true"),
            ]);
        let json = super::get_json(SERVICE, request, said).await?;
        let recipients = json
            .get("data")
            .and_then(|d| d.get("onCallRecipients"))
            .and_then(|r| r.as_array())
            .ok_or_else(|| {
                OnCallError::Permanent(format!(
                    "{SERVICE} answered schedule {schedule:?}'s on-calls without data.onCallRecipients"
                ))
            })?;
        Ok(recipients
            .iter()
            .filter_map(|r| r.as_str().map(str::to_owned))
            .collect())
    }
}

#[async_trait::async_trait]
impl OnCall for Opsgenie {
    /// On call in any of the schedules. A schedule that cannot be read fails the lookup only
    /// when no other schedule has the person on call.
    async fn on_call_now(&self, email: &str) -> Result<bool, OnCallError> {
        let mut failed = None;
        for schedule in &self.schedules {
            match self.recipients(schedule).await {
                Ok(r) if r.iter().any(|m| super::same_email(m, email)) => return Ok(true),
                Ok(_) => {}
                Err(e) => {
                    failed.get_or_insert(e);
                }
            }
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uuid_is_an_id_and_anything_else_a_name() {
        assert_eq!(identifier_type("d875alp4-..."), "name");
        assert_eq!(
            identifier_type("4513b7ea-3b91-438f-b7e4-e3e54af9147c"),
            "id"
        );
        assert_eq!(identifier_type("Data Platform / EU"), "name");
    }
}
