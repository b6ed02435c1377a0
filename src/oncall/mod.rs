//! On-call lookups: is the requester on call right now, per PagerDuty or Opsgenie? Auto-approval
//! asks this; each service is read through its REST API at a configurable base URL. Errors are
//! classed like connectors' errors and never carry the token.

pub mod opsgenie;
pub mod pagerduty;

use std::time::Duration;

use reqwest::{StatusCode, header};

use crate::platform::http;

pub use opsgenie::{Opsgenie, OpsgenieSettings};
pub use pagerduty::{PagerDuty, PagerDutySettings};

/// How long one call to an on-call service may take.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// A lookup's failure, classed by whether trying again can help: the same two classes as a
/// platform's (no answer in time, a 5xx or a 429 with its Retry-After; or refused credentials,
/// an unknown schedule, bad settings), so it is the platform's type, with its conversion from
/// a `ConnectorError` (what the shared HTTP client's classing gives).
pub type OnCallError = crate::platform::ExternalError;

/// Someone's on-call status, asked of one service.
#[async_trait::async_trait]
pub trait OnCall: Send + Sync {
    /// Is the person with this email on call now? Emails are compared case-insensitively.
    async fn on_call_now(&self, email: &str) -> Result<bool, OnCallError>;
}

/// The on-call services of the catalog's `[oncall.<id>]` tables, by id, with their secrets
/// read through `lookup`; a missing secret or a bad setting is a start error naming the table.
pub fn from_catalog(
    catalog: &crate::config::Catalog,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<std::collections::HashMap<String, std::sync::Arc<dyn OnCall>>, String> {
    use crate::config::OnCallConfig;
    let mut all: std::collections::HashMap<String, std::sync::Arc<dyn OnCall>> =
        std::collections::HashMap::new();
    for (id, config) in &catalog.oncall {
        let client: std::sync::Arc<dyn OnCall> = match config {
            OnCallConfig::Pagerduty {
                token,
                schedule_ids,
                escalation_policy_ids,
                base_url,
            } => {
                let mut settings = PagerDutySettings::new(
                    token
                        .resolve(lookup)
                        .map_err(|e| format!("[oncall.{id}]: {e}"))?,
                );
                settings.schedule_ids = schedule_ids.clone();
                settings.escalation_policy_ids = escalation_policy_ids.clone();
                if let Some(u) = base_url {
                    settings.base_url = u.clone();
                }
                std::sync::Arc::new(
                    PagerDuty::new(settings).map_err(|e| format!("[oncall.{id}]: {e}"))?,
                )
            }
            OnCallConfig::Opsgenie {
                key,
                schedules,
                base_url,
            } => {
                let mut settings = OpsgenieSettings::new(
                    key.resolve(lookup)
                        .map_err(|e| format!("[oncall.{id}]: {e}"))?,
                    schedules.clone(),
                );
                if let Some(u) = base_url {
                    settings.base_url = u.clone();
                }
                std::sync::Arc::new(
                    Opsgenie::new(settings).map_err(|e| format!("[oncall.{id}]: {e}"))?,
                )
            }
        };
        all.insert(id.clone(), client);
    }
    Ok(all)
}

/// Emails match whatever their case (services keep what the user typed).
pub(crate) fn same_email(a: &str, b: &str) -> bool {
    let (a, b) = (a.trim(), b.trim());
    !a.is_empty() && a.eq_ignore_ascii_case(b)
}

/// Classes an answer that is not a success. `said` is the service's own message; the request's
/// headers (and so the token) never reach it.
pub(crate) fn failure(
    service: &str,
    status: StatusCode,
    headers: &header::HeaderMap,
    said: &str,
) -> OnCallError {
    let code = status.as_u16();
    match code {
        429 => OnCallError::Retryable {
            message: format!("{service} is throttling requests (HTTP 429: {said})"),
            retry_after: http::retry_after(headers),
        },
        408 | 500..=599 => OnCallError::Retryable {
            message: format!("{service} answered HTTP {code}: {said}"),
            retry_after: http::retry_after(headers),
        },
        401 | 403 => OnCallError::Permanent(format!(
            "{service} refused Gatehouse's API key or its rights (HTTP {code}: {said}); check the key in the on-call settings"
        )),
        _ => OnCallError::Permanent(format!("{service} answered HTTP {code}: {said}")),
    }
}

/// The HTTP client every on-call service uses (the connectors' TLS setup, a 5 s bound).
pub(crate) fn client() -> Result<reqwest::Client, OnCallError> {
    http::client(REQUEST_TIMEOUT).map_err(OnCallError::Permanent)
}

/// A base URL from settings, checked once, without a query.
pub(crate) fn base_url(service: &str, raw: &str) -> Result<reqwest::Url, OnCallError> {
    let mut url = reqwest::Url::parse(raw.trim()).map_err(|e| {
        OnCallError::Permanent(format!("the {service} base URL {raw:?} is not a URL: {e}"))
    })?;
    if url.cannot_be_a_base() || !matches!(url.scheme(), "http" | "https") {
        return Err(OnCallError::Permanent(format!(
            "the {service} base URL {raw:?} must be http(s)"
        )));
    }
    url.set_query(None);
    Ok(url)
}

/// Sends a GET and returns the JSON of a success; anything else becomes an `OnCallError`
/// carrying the service's own words, read from the body by `said`.
pub(crate) async fn get_json(
    service: &str,
    request: reqwest::RequestBuilder,
    said: fn(&serde_json::Value) -> Option<String>,
) -> Result<serde_json::Value, OnCallError> {
    let (status, headers, text) = http::send_for_text(service, request).await?;
    let json: Option<serde_json::Value> = serde_json::from_str(&text).ok();
    if status.is_success() {
        return json.ok_or_else(|| {
            OnCallError::Permanent(format!("{service} answered HTTP {status} with no JSON"))
        });
    }
    let words = json
        .as_ref()
        .and_then(said)
        .unwrap_or_else(|| short(&text).to_owned());
    Err(failure(service, status, &headers, &words))
}

/// The start of a body that was not the JSON expected, bounded for an error message.
fn short(text: &str) -> &str {
    let text = text.trim();
    match text.char_indices().nth(200) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_match_whatever_their_case_but_never_empty() {
        assert!(same_email("Maya.Chen@Example.com", "maya.chen@example.com"));
        assert!(!same_email("maya@example.com", "maya@example.org"));
        assert!(!same_email("", ""));
    }

    #[test]
    fn answers_are_classed_by_whether_trying_again_helps() {
        let mut h = header::HeaderMap::new();
        h.insert(header::RETRY_AFTER, "12".parse().unwrap());
        assert_eq!(
            failure("PagerDuty", StatusCode::TOO_MANY_REQUESTS, &h, "slow down"),
            OnCallError::Retryable {
                message: "PagerDuty is throttling requests (HTTP 429: slow down)".into(),
                retry_after: Some(Duration::from_secs(12)),
            }
        );
        let none = header::HeaderMap::new();
        assert!(matches!(
            failure("Opsgenie", StatusCode::SERVICE_UNAVAILABLE, &none, "x"),
            OnCallError::Retryable { .. }
        ));
        assert_eq!(
            failure("Opsgenie", StatusCode::NOT_FOUND, &none, "no such schedule"),
            OnCallError::Permanent("Opsgenie answered HTTP 404: no such schedule".into())
        );
    }

    #[test]
    fn a_segment_is_encoded_as_one() {
        let base = base_url("Opsgenie", "https://api.opsgenie.com/").unwrap();
        let u = http::join(&base, ["v2", "schedules", "Data / EU", "on-calls"]);
        assert_eq!(
            u.as_str(),
            "https://api.opsgenie.com/v2/schedules/Data%20%2F%20EU/on-calls"
        );
    }
}
