//! The Google REST client for BigQuery and the Admin SDK Directory: one cached token per API
//! (BigQuery as the service account itself; the Directory as the Workspace admin it acts for
//! through domain-wide delegation), `Authorization: Bearer …`, one fresh exchange and retry on
//! a 401, and Google's error body `{"error": {"code", "message", "status", "errors":
//! [{"reason"}]}}` classed into `ConnectorError`s in Google's words.

use std::time::Duration;

use reqwest::{Method, StatusCode, Url, header};
use serde_json::Value;

use super::super::ConnectorError;
use super::super::http::{self, TokenCache};
use super::auth::{self, ServiceAccount};

/// How long one HTTP exchange may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
pub(super) const PLATFORM: &str = "BigQuery";

/// Which API a call goes to, and so which token it carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Service {
    Bigquery,
    Directory,
    /// Cloud Resource Manager, asked only whether the service account holds a permission on a
    /// project.
    ResourceManager,
}

pub(super) struct Api {
    http: reqwest::Client,
    sa: ServiceAccount,
    bigquery: Url,
    directory: Url,
    resource_manager: Url,
    directory_admin: Option<String>,
    bigquery_tokens: TokenCache,
    directory_tokens: TokenCache,
    resource_manager_tokens: TokenCache,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BigqueryApi")
            .field("service_account", &self.sa)
            .field("bigquery", &self.bigquery.as_str())
            .field("directory", &self.directory.as_str())
            .finish_non_exhaustive()
    }
}

/// An answer Google gave: success, or a 404 or 412 its caller makes sense of.
pub(super) struct Answer {
    pub(super) status: StatusCode,
    pub(super) json: Value,
}

/// Google's error body in its words: `message` (and the first `reason`), or the start of a body
/// that is not Google's JSON (a proxy's page).
pub(super) fn platform_message(body: &Value) -> String {
    let message = body["error"]["message"].as_str().unwrap_or("").trim();
    let reason = reason_of(body);
    match (message.is_empty(), reason) {
        (false, Some(r)) => format!("{message} ({r})"),
        (false, None) => message.to_owned(),
        (true, Some(r)) => r.to_owned(),
        (true, None) => http::quoted(body),
    }
}

fn reason_of(body: &Value) -> Option<&str> {
    body["error"]["errors"][0]["reason"].as_str()
}

fn base(url: Option<&str>, default: &str, what: &str) -> Result<Url, String> {
    let raw = url.unwrap_or(default).trim().trim_end_matches('/');
    let mut u = http::base_url(raw, &format!("{what} URL"), raw)?;
    u.set_fragment(None);
    Ok(u)
}

impl Api {
    pub(super) fn new(
        sa: ServiceAccount,
        api_url: Option<&str>,
        directory_url: Option<&str>,
        directory_admin: Option<&str>,
    ) -> Result<Self, String> {
        // The settings have no Resource Manager URL of their own: an `api_url` override (a
        // proxy, or a test's fake) is taken to serve it too.
        let resource_manager = base(
            api_url,
            "https://cloudresourcemanager.googleapis.com",
            "Resource Manager",
        )?;
        Ok(Api {
            http: http::client(REQUEST_TIMEOUT)?,
            sa,
            resource_manager,
            resource_manager_tokens: TokenCache::default(),
            bigquery: base(api_url, "https://bigquery.googleapis.com", "BigQuery")?,
            directory: base(directory_url, "https://admin.googleapis.com", "Directory")?,
            directory_admin: directory_admin
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
            bigquery_tokens: TokenCache::default(),
            directory_tokens: TokenCache::default(),
        })
    }

    pub(super) fn project_id(&self) -> Option<&str> {
        self.sa.project_id.as_deref()
    }

    /// The service account Gatehouse acts as (its email, never its key).
    pub(super) fn client_email(&self) -> &str {
        &self.sa.client_email
    }

    pub(super) fn directory_admin(&self) -> Option<&str> {
        self.directory_admin.as_deref()
    }

    /// `{base}/<segments…>` of one API, each segment percent-encoded as one path segment.
    pub(super) fn url(&self, service: Service, segments: &[&str]) -> Url {
        let base = match service {
            Service::Bigquery => &self.bigquery,
            Service::Directory => &self.directory,
            Service::ResourceManager => &self.resource_manager,
        };
        http::join(base, segments)
    }

    async fn token(&self, service: Service) -> Result<String, ConnectorError> {
        match service {
            Service::Bigquery => {
                self.bigquery_tokens
                    .get(|| self.sa.exchange(&self.http, auth::BIGQUERY_SCOPE, None))
                    .await
            }
            Service::Directory => {
                let admin = self.directory_admin.as_deref();
                self.directory_tokens
                    .get(|| self.sa.exchange(&self.http, auth::DIRECTORY_SCOPE, admin))
                    .await
            }
            Service::ResourceManager => {
                let scope = auth::CLOUD_PLATFORM_READ_SCOPE;
                self.resource_manager_tokens
                    .get(|| self.sa.exchange(&self.http, scope, None))
                    .await
            }
        }
    }

    /// One authenticated call. A 401 means the token died early: it is forgotten, a new one
    /// exchanged, and the call sent once more. 404 and 412 are returned to the caller.
    pub(super) async fn call(
        &self,
        service: Service,
        method: Method,
        url: Url,
        if_match: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Answer, ConnectorError> {
        self.call_allowing(service, method, url, if_match, body, None)
            .await
    }

    /// A GET whose 404 is a failure, in the words `missing` makes of Google's message.
    pub(super) async fn get_found(
        &self,
        service: Service,
        url: Url,
        missing: impl FnOnce(String) -> String,
    ) -> Result<Value, ConnectorError> {
        let a = self.call(service, Method::GET, url, None, None).await?;
        if a.status == StatusCode::NOT_FOUND {
            return Err(ConnectorError::Permanent(missing(platform_message(
                &a.json,
            ))));
        }
        Ok(a.json)
    }

    /// [`Api::call`], also returning `also` to the caller (IAM's 409 on a stale etag).
    pub(super) async fn call_allowing(
        &self,
        service: Service,
        method: Method,
        url: Url,
        if_match: Option<&str>,
        body: Option<&Value>,
        also: Option<StatusCode>,
    ) -> Result<Answer, ConnectorError> {
        let request = |token: &str| {
            let req = http::bearer_json(&self.http, &method, &url, token, body);
            match if_match {
                Some(etag) => req.header(header::IF_MATCH, etag),
                None => req,
            }
        };
        let cache = match service {
            Service::Bigquery => &self.bigquery_tokens,
            Service::Directory => &self.directory_tokens,
            Service::ResourceManager => &self.resource_manager_tokens,
        };
        let stale = |status, _: &Value| status == StatusCode::UNAUTHORIZED;
        let token = || self.token(service);
        let (status, headers, json) =
            http::send_renewing(PLATFORM, token, Some(cache), request, stale).await?;
        let said = platform_message(&json);
        let platform = match service {
            Service::Bigquery => PLATFORM,
            Service::Directory => "The Google Workspace Directory",
            Service::ResourceManager => "Google Cloud Resource Manager",
        };
        // BigQuery throttles with 403 `rateLimitExceeded`/`quotaExceeded` as well as 429.
        if status == StatusCode::FORBIDDEN
            && matches!(
                reason_of(&json),
                Some("rateLimitExceeded" | "quotaExceeded")
            )
        {
            return Err(ConnectorError::Throttled {
                message: format!("{platform} is throttling requests (HTTP 403: {said})"),
                retry_after: http::retry_after(&headers),
            });
        }
        // A throttling 403 was taken above: a caller allowing 403 gets only refusals.
        if status.is_success()
            || status == StatusCode::NOT_FOUND
            || status == StatusCode::PRECONDITION_FAILED
            || Some(status) == also
        {
            return Ok(Answer { status, json });
        }
        Err(http::failure(platform, status, &headers, &said))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn googles_error_bodies_are_quoted_in_its_words() {
        let body = json!({"error": {"code": 403, "message": "Exceeded rate limits", "status":
            "PERMISSION_DENIED", "errors": [{"reason": "rateLimitExceeded", "domain": "global"}]}});
        assert_eq!(
            platform_message(&body),
            "Exceeded rate limits (rateLimitExceeded)"
        );
        assert_eq!(platform_message(&Value::Null), "no message");
    }
}
