//! The Looker API 4.0 client: API-key login (`POST /api/4.0/login`, form-encoded) with the
//! token cached and renewed, `Authorization: token …` on every call, one fresh login and retry
//! when Looker answers 401, `limit`/`offset` paging, and HTTP statuses classed into
//! `ConnectorError`s in Looker's words. It knows nothing of groups or users.

use std::time::Duration;

use reqwest::{Method, StatusCode, Url, header};
use serde_json::Value;

use super::super::ConnectorError;
use super::super::http::{self, TokenCache};
use crate::config::Secret;

/// How long one HTTP exchange may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const PLATFORM: &str = "Looker";

pub(super) struct Api {
    http: reqwest::Client,
    /// The instance's root (`https://acme.cloud.looker.com[:19999]`), without `/api/4.0`.
    base: Url,
    client_id: String,
    client_secret: Secret,
    tokens: TokenCache,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LookerApi")
            .field("base", &self.base.as_str())
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// Looker's error body: `{"message": "…", "documentation_url": "…"}`, and for 422 also
/// `"errors": [{"field", "code", "message"}]`. A body that is not Looker's JSON (a proxy's page)
/// is quoted by its start, to tell what answered.
pub(super) fn platform_message(body: &Value) -> String {
    let message = body["message"].as_str().unwrap_or("").trim().to_owned();
    let details: Vec<String> = body["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| {
            let m = e["message"].as_str()?.trim();
            Some(match e["field"].as_str() {
                Some(field) if !field.is_empty() => format!("{field}: {m}"),
                _ => m.to_owned(),
            })
        })
        .collect();
    match (message.is_empty(), details.is_empty()) {
        (false, true) => message,
        (false, false) => format!("{message}: {}", details.join("; ")),
        (true, false) => details.join("; "),
        (true, true) => http::quoted(body),
    }
}

impl Api {
    pub(super) fn new(
        base_url: &str,
        client_id: &str,
        client_secret: Secret,
    ) -> Result<Self, String> {
        let trimmed = base_url.trim().trim_end_matches('/');
        let trimmed = trimmed.strip_suffix("/api/4.0").unwrap_or(trimmed);
        let mut base = http::base_url(trimmed, "Looker URL", base_url)?;
        base.set_fragment(None);
        if client_id.trim().is_empty() {
            return Err("a Looker connector needs the API key's `client_id`".into());
        }
        Ok(Api {
            http: http::client(REQUEST_TIMEOUT)?,
            base,
            client_id: client_id.trim().to_owned(),
            client_secret,
            tokens: TokenCache::default(),
        })
    }

    /// `{base}/api/4.0/<segments…>`, each segment percent-encoded as one path segment.
    pub(super) fn url(&self, segments: &[&str]) -> Url {
        http::join(&self.base, ["api", "4.0"].iter().chain(segments))
    }

    /// `POST /api/4.0/login` with the key in a form body; the token and how long it lives.
    async fn login(&self) -> Result<(String, Duration), ConnectorError> {
        let form = [
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.client_secret.expose()),
        ];
        let request = http::form_post(&self.http, self.url(&["login"]), &form);
        let answer = http::send_for_json(PLATFORM, request).await?;
        let refused = |status: StatusCode, said: &str| {
            format!(
                "Looker refused the login of API key {} (HTTP {}: {said}); check the \
                 connector's client_id and client_secret",
                self.client_id,
                status.as_u16()
            )
        };
        let whose = "Looker's login answer";
        http::token_answer(PLATFORM, answer, platform_message, refused, whose, 3600)
    }

    /// One authenticated call. A 401 means the token died early (revoked, instance restarted):
    /// it is forgotten, a new one fetched, and the call sent once more.
    pub(super) async fn call(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<(StatusCode, Value), ConnectorError> {
        self.call_keeping(method, url, body, &[StatusCode::NOT_FOUND])
            .await
    }

    /// [`Api::call`], returning the statuses in `kept` to the caller (with a success) rather
    /// than as failures.
    pub(super) async fn call_keeping(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
        kept: &[StatusCode],
    ) -> Result<(StatusCode, Value), ConnectorError> {
        let request = |token: &str| {
            let req = self.http.request(method.clone(), url.clone());
            let req = req.header(header::AUTHORIZATION, format!("token {token}"));
            let req = req.header(header::ACCEPT, "application/json");
            match body {
                Some(b) => req.json(b),
                None => req,
            }
        };
        let token = || self.tokens.get(|| self.login());
        let stale = |status, _: &Value| status == StatusCode::UNAUTHORIZED;
        let answer =
            http::send_renewing(PLATFORM, token, Some(&self.tokens), request, stale).await?;
        http::kept_or_failure(PLATFORM, answer, kept, platform_message)
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

    /// Every row of a listing, `page` at a time (`limit`/`offset`, sorted by id so pages do not
    /// shift). A page shorter than `page` is the last; a page of ids already seen (an instance
    /// ignoring `offset`) ends it too rather than looping.
    pub(super) async fn all(
        &self,
        segments: &[&str],
        query: &[(&str, &str)],
        page: usize,
    ) -> Result<Vec<Value>, ConnectorError> {
        let mut out: Vec<Value> = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        loop {
            let mut url = self.url(segments);
            url.query_pairs_mut()
                .extend_pairs(query)
                .append_pair("sorts", "id")
                .append_pair("limit", &page.to_string())
                .append_pair("offset", &out.len().to_string());
            let rows = match self.expect(Method::GET, url, None).await? {
                Value::Array(rows) => rows,
                other => {
                    return Err(ConnectorError::Permanent(format!(
                        "Looker's answer to /{} is not a list: {}",
                        segments.join("/"),
                        http::start_of(&other)
                    )));
                }
            };
            let n = rows.len();
            let mut fresh = 0;
            for r in rows {
                if seen.insert(id_of(&r)) {
                    fresh += 1;
                }
                out.push(r);
            }
            if n < page || fresh == 0 {
                return Ok(out);
            }
        }
    }
}

/// A row's `id` as a string (Looker 4.0 sends strings; older instances numbers).
pub(super) fn id_of(row: &Value) -> String {
    match &row["id"] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}
