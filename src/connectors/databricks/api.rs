//! The Databricks workspace SCIM 2.0 client: a fixed token (PAT) or an OAuth machine-to-machine
//! token (`POST {host}/oidc/v1/token`, HTTP Basic client id and secret) cached and renewed, sent
//! as `Authorization: Bearer` on every call; with OAuth, one fresh token and retry when the
//! workspace answers 401. Lists are read with 1-based `startIndex`/`count` until `totalResults`.
//! Statuses are classed into `ConnectorError`s in Databricks' words. It knows nothing of units.

use std::time::Duration;

use base64::Engine as _;
use reqwest::{Method, StatusCode, Url, header};
use serde_json::Value;

use super::super::ConnectorError;
use super::super::http::{self, TokenCache};
use crate::config::Secret;

/// How long one HTTP exchange may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const PLATFORM: &str = "Databricks";
const SCIM: [&str; 5] = ["api", "2.0", "preview", "scim", "v2"];
const UNITY_CATALOG: [&str; 3] = ["api", "2.1", "unity-catalog"];
const SCIM_JSON: &str = "application/scim+json";

/// How Gatehouse proves who it is.
pub(super) enum Auth {
    /// A personal access token or a service principal's token, used as it is.
    Token(Secret),
    /// A service principal's OAuth secret, exchanged for hour-long tokens.
    OAuth {
        client_id: String,
        client_secret: Secret,
        tokens: TokenCache,
    },
}

pub(super) struct Api {
    http: reqwest::Client,
    /// The workspace root (`https://adb-….azuredatabricks.net`).
    base: Url,
    auth: Auth,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("DatabricksApi");
        d.field("base", &self.base.as_str());
        match &self.auth {
            Auth::Token(_) => d.field("auth", &"token"),
            Auth::OAuth { client_id, .. } => d.field("client_id", client_id),
        };
        d.finish_non_exhaustive()
    }
}

/// Databricks' words in an error body: SCIM's `{"schemas": […Error], "detail", "status"}`, the
/// REST APIs' `{"error_code", "message"}`, or OAuth's `{"error", "error_description"}`. A body
/// that is none of these (a proxy's page) is quoted by its start.
pub(super) fn platform_message(body: &Value) -> String {
    let field = |k: &str| {
        body[k]
            .as_str()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    if let Some(detail) = field("detail") {
        return detail;
    }
    if let Some(message) = field("message") {
        return match field("error_code") {
            Some(code) => format!("{code}: {message}"),
            None => message,
        };
    }
    match (field("error"), field("error_description")) {
        (Some(e), Some(d)) => return format!("{e}: {d}"),
        (Some(e), None) | (None, Some(e)) => return e,
        (None, None) => {}
    }
    http::quoted(body)
}

impl Api {
    pub(super) fn new(host: &str, auth: Auth) -> Result<Self, String> {
        let trimmed = host.trim().trim_end_matches('/');
        let with_scheme = if trimmed.contains("://") {
            trimmed.to_owned()
        } else {
            format!("https://{trimmed}")
        };
        let mut base = http::base_url(&with_scheme, "Databricks host", host)?;
        base.set_fragment(None);
        Ok(Api {
            http: http::client(REQUEST_TIMEOUT)?,
            base,
            auth,
        })
    }

    fn under(&self, prefix: &[&str], segments: &[&str]) -> Url {
        http::join(&self.base, prefix.iter().chain(segments))
    }

    /// `{host}/api/2.0/preview/scim/v2/<segments…>`, each segment percent-encoded as one.
    pub(super) fn url(&self, segments: &[&str]) -> Url {
        self.under(&SCIM, segments)
    }

    /// `{host}/api/2.1/unity-catalog/<segments…>`, each segment percent-encoded as one (a
    /// securable's full name is one segment, whatever characters its parts hold).
    pub(super) fn uc_url(&self, segments: &[&str]) -> Url {
        self.under(&UNITY_CATALOG, segments)
    }

    /// `POST {host}/oidc/v1/token` with the client id and secret as HTTP Basic.
    async fn fetch_token(
        &self,
        client_id: &str,
        secret: &Secret,
    ) -> Result<(String, Duration), ConnectorError> {
        let basic = base64::engine::general_purpose::STANDARD
            .encode(format!("{client_id}:{}", secret.expose()));
        let form = [("grant_type", "client_credentials"), ("scope", "all-apis")];
        let request = http::form_post(&self.http, self.under(&["oidc", "v1", "token"], &[]), &form)
            .header(header::AUTHORIZATION, format!("Basic {basic}"));
        let answer = http::send_for_json(PLATFORM, request).await?;
        let refused = |status: StatusCode, said: &str| {
            format!(
                "Databricks refused an OAuth token to service principal {client_id} (HTTP {}: \
                 {said}); check the connector's client_id and client_secret",
                status.as_u16()
            )
        };
        let whose = "Databricks' token answer";
        http::token_answer(PLATFORM, answer, platform_message, refused, whose, 3600)
    }

    async fn bearer(&self) -> Result<String, ConnectorError> {
        match &self.auth {
            Auth::Token(t) => Ok(t.expose().to_owned()),
            Auth::OAuth {
                client_id,
                client_secret,
                tokens,
            } => {
                tokens
                    .get(|| self.fetch_token(client_id, client_secret))
                    .await
            }
        }
    }

    /// One authenticated call; a 404 is returned, not classed. With OAuth, a 401 means the token
    /// died early: it is forgotten, a new one fetched, and the call sent once more. A fixed
    /// token that gets a 401 is refused for good.
    pub(super) async fn call(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<(StatusCode, Value), ConnectorError> {
        self.call_as(method, url, body, SCIM_JSON, None).await
    }

    /// A read whose 403 and 404 are answers for the caller (readiness asks whether a right is
    /// there; a refusal says it is not). `scim` picks the media type.
    pub(super) async fn probe(
        &self,
        url: Url,
        scim: bool,
    ) -> Result<(StatusCode, Value), ConnectorError> {
        let media = if scim { SCIM_JSON } else { "application/json" };
        self.call_as(Method::GET, url, None, media, Some(StatusCode::FORBIDDEN))
            .await
    }

    /// A Unity Catalog REST call (plain JSON bodies); every failure, 404 included, is classed
    /// in Databricks' words (`error_code: message`).
    pub(super) async fn uc(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<Value, ConnectorError> {
        let answer = self
            .call_as(method, url, body, "application/json", None)
            .await?;
        http::found(PLATFORM, answer, platform_message)
    }

    /// [`Api::call`] with the body sent as `media`, also returning `also` to the caller.
    async fn call_as(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
        media: &str,
        also: Option<StatusCode>,
    ) -> Result<(StatusCode, Value), ConnectorError> {
        let request = |token: &str| {
            let req = self.http.request(method.clone(), url.clone());
            let req = req.bearer_auth(token);
            let req = req.header(header::ACCEPT, "application/scim+json, application/json");
            match body {
                Some(b) => req.header(header::CONTENT_TYPE, media).body(b.to_string()),
                None => req,
            }
        };
        // Only an OAuth token is renewed; a fixed token that gets a 401 is refused for good.
        let renew = match &self.auth {
            Auth::OAuth { tokens, .. } => Some(tokens),
            Auth::Token(_) => None,
        };
        let stale = |status, _: &Value| status == StatusCode::UNAUTHORIZED;
        let answer = http::send_renewing(PLATFORM, || self.bearer(), renew, request, stale).await?;
        let kept = [StatusCode::NOT_FOUND, also.unwrap_or(StatusCode::NOT_FOUND)];
        http::kept_or_failure(PLATFORM, answer, &kept, platform_message)
    }

    /// A call whose 404 is a failure too.
    pub(super) async fn expect(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<Value, ConnectorError> {
        let answer = self.call(method, url, body).await?;
        http::found(PLATFORM, answer, platform_message)
    }

    /// Every resource of a SCIM list (`Users`, `Groups`, `ServicePrincipals`), `count` at a
    /// time from `startIndex=1`, until `totalResults` are read. An empty page ends it too, so a
    /// workspace that miscounts cannot make this loop.
    pub(super) async fn all(
        &self,
        resource: &str,
        query: &[(&str, &str)],
        count: usize,
    ) -> Result<Vec<Value>, ConnectorError> {
        let mut out = Vec::new();
        let mut start = 1usize;
        loop {
            let mut url = self.url(&[resource]);
            url.query_pairs_mut()
                .extend_pairs(query)
                .append_pair("startIndex", &start.to_string())
                .append_pair("count", &count.to_string());
            let page = self.expect(Method::GET, url, None).await?;
            let rows = match &page["Resources"] {
                Value::Array(rows) => rows.clone(),
                // SCIM leaves `Resources` out of an empty list.
                Value::Null => Vec::new(),
                other => {
                    return Err(ConnectorError::Permanent(format!(
                        "Databricks' {resource} list has no Resources array: {}",
                        http::start_of(other)
                    )));
                }
            };
            let total = page["totalResults"].as_u64().unwrap_or(0) as usize;
            let n = rows.len();
            out.extend(rows);
            let step = match page["itemsPerPage"].as_u64() {
                Some(k) if k > 0 => k as usize,
                _ => n,
            };
            if n == 0 || start + step > total {
                return Ok(out);
            }
            start += step;
        }
    }
}
