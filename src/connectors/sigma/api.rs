//! Sigma's REST API client: a client-credentials token from `/v2/auth/token` (kept in a
//! `TokenCache`, since the endpoint allows one call a second), bearer calls renewed once on a
//! 401, `limit` + `page`/`nextPage` paging, and Sigma's `{message, code, requestId}` errors
//! classed into `ConnectorError`s. It knows nothing of teams or grants as units of access.

use std::time::Duration;

use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::super::ConnectorError;
use super::super::http::{self, TokenCache, client, failure, retry_after, unreachable};
use crate::config::Secret;

/// How long one HTTP exchange may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// What Sigma documents as a token's life, for an answer that leaves `expires_in` out.
const DEFAULT_TOKEN_LIFE: Duration = Duration::from_secs(3600);

pub(super) struct Api {
    http: reqwest::Client,
    base: Url,
    client_id: String,
    client_secret: Secret,
    tokens: TokenCache,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api")
            .field("base", &self.base.as_str())
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// One page of a list: `{entries, nextPage, hasMore?, total?}`.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Page<T> {
    pub entries: Vec<T>,
    #[serde(default)]
    pub next_page: Option<String>,
}

/// Sigma's error body `{message, code, requestId}` in a line; a proxy's text page, its start.
fn said(body: &Value) -> String {
    let message = body["message"].as_str().unwrap_or("").trim();
    if message.is_empty() {
        return http::quoted(body);
    }
    let mut out = message.to_owned();
    let code = body["code"].as_str();
    let request = body["requestId"].as_str();
    match (code, request) {
        (Some(c), Some(r)) => out.push_str(&format!(" (code {c}, request {r})")),
        (Some(c), None) => out.push_str(&format!(" (code {c})")),
        (None, Some(r)) => out.push_str(&format!(" (request {r})")),
        (None, None) => {}
    }
    out
}

impl Api {
    pub(super) fn new(
        base_url: &str,
        client_id: &str,
        client_secret: Secret,
    ) -> Result<Self, String> {
        let base = http::base_url(base_url.trim_end_matches('/'), "Sigma URL", base_url)?;
        if client_id.trim().is_empty() {
            return Err("a Sigma connector needs `client_id`".into());
        }
        Ok(Api {
            http: client(REQUEST_TIMEOUT)?,
            base,
            client_id: client_id.to_owned(),
            client_secret,
            tokens: TokenCache::default(),
        })
    }

    /// `{base}/v2/<segments…>`, each segment percent-encoded as one.
    pub(super) fn url(&self, segments: &[&str]) -> Url {
        http::join(&self.base, ["v2"].iter().chain(segments))
    }

    /// A new token: `POST /v2/auth/token` with the client credentials, form-encoded.
    async fn fetch_token(&self) -> Result<(String, Duration), ConnectorError> {
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.client_secret.expose()),
        ];
        let mut tries = 0;
        let (status, headers, json) = loop {
            tries += 1;
            let resp = http::form_post(&self.http, self.url(&["auth", "token"]), &form)
                .send()
                .await
                .map_err(|e| unreachable("Sigma", &e))?;
            let (status, headers) = (resp.status(), resp.headers().clone());
            // The endpoint allows one call a second: a refusal is worth one more, a second on.
            if status == StatusCode::TOO_MANY_REQUESTS && tries == 1 {
                let wait = retry_after(&headers).unwrap_or(Duration::from_secs(1));
                tokio::time::sleep(wait.min(Duration::from_secs(2))).await;
                continue;
            }
            break (status, headers, http::read_json("Sigma", resp).await?);
        };
        if !status.is_success() {
            return Err(match status {
                StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                    ConnectorError::Permanent(format!(
                        "Sigma refused the client credentials of `{}` (HTTP {}: {}); check the \
                         connector's client_id and client_secret",
                        self.client_id,
                        status.as_u16(),
                        said(&json)
                    ))
                }
                _ => failure("Sigma", status, &headers, &said(&json)),
            });
        }
        http::access_token(&json, "Sigma's token answer", DEFAULT_TOKEN_LIFE.as_secs())
    }

    async fn token(&self) -> Result<String, ConnectorError> {
        self.tokens.get(|| self.fetch_token()).await
    }

    /// One authenticated call; a 401 gets a new token and one more try. Returns the JSON body.
    pub(super) async fn call(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<Value, ConnectorError> {
        Ok(self.call_keeping(method, url, body, &[]).await?.1)
    }

    /// [`Api::call`], returning the statuses in `kept` to the caller rather than as failures.
    pub(super) async fn call_keeping(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
        kept: &[StatusCode],
    ) -> Result<(StatusCode, Value), ConnectorError> {
        let request = |token: &str| http::bearer_json(&self.http, &method, &url, token, body);
        let stale = |status, _: &Value| status == StatusCode::UNAUTHORIZED;
        let answer =
            http::send_renewing("Sigma", || self.token(), Some(&self.tokens), request, stale)
                .await?;
        http::kept_or_failure("Sigma", answer, kept, said)
    }

    /// Every entry of a paged list: `query`, then `limit` on each call and `page` from the
    /// last `nextPage`.
    pub(super) async fn all<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        query: &[(&str, &str)],
        limit: usize,
    ) -> Result<Vec<T>, ConnectorError> {
        let mut out = Vec::new();
        let mut page: Option<String> = None;
        loop {
            let mut url = self.url(segments);
            {
                let mut q = url.query_pairs_mut();
                q.extend_pairs(query);
                q.append_pair("limit", &limit.to_string());
                if let Some(p) = &page {
                    q.append_pair("page", p);
                }
            }
            let json = self.call(Method::GET, url, None).await?;
            let next: Page<T> = serde_json::from_value(json).map_err(|e| {
                ConnectorError::Permanent(format!(
                    "Sigma's answer to /v2/{} is not a page of entries: {e}",
                    segments.join("/")
                ))
            })?;
            out.extend(next.entries);
            match next.next_page.filter(|p| !p.is_empty()) {
                // A page that points at itself would loop forever.
                Some(p) if page.as_ref() != Some(&p) => page = Some(p),
                _ => return Ok(out),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sigmas_errors_read_as_one_line_with_their_code_and_request() {
        let body = json!({"message": "Team not found", "code": "not_found", "requestId": "r1"});
        assert_eq!(said(&body), "Team not found (code not_found, request r1)");
        assert_eq!(said(&json!("Bad Gateway")), "Bad Gateway");
        assert_eq!(said(&json!({})), "no message");
    }

    #[test]
    fn path_segments_are_encoded_one_by_one_and_the_secret_stays_out_of_debug() {
        let api = Api::new("https://api.example.com/", "id", Secret::new("s3cr3t")).unwrap();
        assert_eq!(
            api.url(&["teams", "a/b?c#d", "members"]).as_str(),
            "https://api.example.com/v2/teams/a%2Fb%3Fc%23d/members"
        );
        assert!(!format!("{api:?}").contains("s3cr3t"));
        assert!(Api::new("ftp://x", "id", Secret::new("s")).is_err());
    }
}
