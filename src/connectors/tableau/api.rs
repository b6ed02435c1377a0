//! The Tableau REST API client: a personal-access-token session (one per connector, kept in a
//! `TokenCache` with the site's id, signed in again once on a 401), JSON requests with
//! `X-Tableau-Auth`, every page of a paged list, and Tableau's error body classed into
//! `ConnectorError`s. It knows nothing of grants.

use std::fmt;
use std::time::Duration;

use reqwest::{Method, StatusCode, Url, header};
use serde_json::{Value, json};

use super::super::ConnectorError;
use super::super::http::{self, TokenCache};
use crate::config::Secret;

/// How long one HTTP exchange may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Tableau's sign-in answer does not say how long the session lives: Cloud ends idle sessions
/// after 2 h by default (Server after 4 h). The cache renews at 80 % of this.
const SESSION_LIFE: Duration = Duration::from_secs(2 * 3600);

/// An answer: its status, headers and JSON body (a string when it was not JSON).
pub(super) struct Reply {
    pub status: StatusCode,
    pub headers: header::HeaderMap,
    pub body: Value,
}

impl Reply {
    /// Tableau's error code (`"409011"`), when the body is its error object.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    /// A success, or the answer classed as an error.
    pub fn ok(self) -> Result<Value, ConnectorError> {
        if self.status.is_success() {
            Ok(self.body)
        } else {
            Err(self.failure())
        }
    }

    pub fn failure(&self) -> ConnectorError {
        http::failure("Tableau", self.status, &self.headers, &said(&self.body))
    }
}

/// Tableau's words from `{"error":{"summary","detail","code"}}`, or the start of another body.
pub(super) fn said(body: &Value) -> String {
    let e = &body["error"];
    let summary = e["summary"].as_str().unwrap_or("").trim();
    let detail = e["detail"].as_str().unwrap_or("").trim();
    let code = e["code"].as_str().unwrap_or("").trim();
    let mut out = match (summary.is_empty(), detail.is_empty()) {
        (false, false) => format!("{summary}: {detail}"),
        (false, true) => summary.to_owned(),
        (true, false) => detail.to_owned(),
        (true, true) => match body.as_str().map(str::trim) {
            Some(text) if !text.is_empty() => text.chars().take(200).collect(),
            _ => "no message".to_owned(),
        },
    };
    if !code.is_empty() {
        out.push_str(&format!(" (Tableau error {code})"));
    }
    out
}

pub(super) struct Api {
    http: reqwest::Client,
    /// `{base_url}/api/{version}`.
    root: Url,
    site: String,
    token_name: String,
    token_secret: Secret,
    /// The session: `"{site id}\n{token}"`.
    session: TokenCache,
    /// Held while a refused session is replaced, so that callers refused together sign in
    /// once (each new sign-in would end the session the previous one opened).
    renewing: tokio::sync::Mutex<()>,
}

impl fmt::Debug for Api {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Api")
            .field("root", &self.root.as_str())
            .field("site", &self.site)
            .field("token_name", &self.token_name)
            .field("token_secret", &self.token_secret)
            .finish()
    }
}

impl Api {
    pub(super) fn new(
        base_url: &str,
        version: &str,
        site: &str,
        token_name: &str,
        token_secret: Secret,
    ) -> Result<Self, String> {
        let mut root = Url::parse(base_url.trim_end_matches('/'))
            .map_err(|e| format!("the Tableau URL `{base_url}` is not a URL: {e}"))?;
        if !matches!(root.scheme(), "http" | "https") || root.cannot_be_a_base() {
            return Err(format!(
                "the Tableau URL `{base_url}` is not an http(s) URL"
            ));
        }
        let version = version.trim();
        if version.is_empty() || !version.chars().all(|c| c.is_ascii_digit() || c == '.') {
            return Err(format!(
                "the Tableau API version `{version}` is not a version like 3.24"
            ));
        }
        if token_name.trim().is_empty() || token_secret.expose().is_empty() {
            return Err("a Tableau connector needs `token_name` and `token_secret`".into());
        }
        root.set_query(None);
        root.set_fragment(None);
        if let Ok(mut path) = root.path_segments_mut() {
            path.pop_if_empty().extend(["api", version]);
        }
        Ok(Api {
            http: http::client(REQUEST_TIMEOUT)?,
            root,
            site: site.to_owned(),
            token_name: token_name.to_owned(),
            token_secret,
            session: TokenCache::default(),
            renewing: tokio::sync::Mutex::new(()),
        })
    }

    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.root.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            for s in segments {
                path.push(s);
            }
        }
        url
    }

    /// Signs in with the personal access token: the session's token and the site's id.
    async fn sign_in(&self) -> Result<(String, Duration), ConnectorError> {
        let body = json!({ "credentials": {
            "personalAccessTokenName": self.token_name,
            "personalAccessTokenSecret": self.token_secret.expose(),
            "site": { "contentUrl": self.site },
        }});
        let reply = self
            .exchange(
                Method::POST,
                self.url(&["auth", "signin"]),
                None,
                Some(&body),
            )
            .await?;
        if reply.status == StatusCode::UNAUTHORIZED || reply.status == StatusCode::FORBIDDEN {
            return Err(ConnectorError::Permanent(format!(
                "Tableau refused the sign-in with the personal access token `{}` on site `{}` \
                 (HTTP {}: {}); check the token's name and secret, that it has not expired or \
                 been revoked, and the site's content URL",
                self.token_name,
                self.site,
                reply.status.as_u16(),
                said(&reply.body)
            )));
        }
        let answer = reply.ok()?;
        let credentials = &answer["credentials"];
        let (Some(token), Some(site_id)) = (
            credentials["token"].as_str(),
            credentials["site"]["id"].as_str(),
        ) else {
            return Err(ConnectorError::Permanent(
                "Tableau's sign-in answer has no credentials.token or credentials.site.id".into(),
            ));
        };
        Ok((format!("{site_id}\n{token}"), SESSION_LIFE))
    }

    /// The current session (signing in when there is none): the site id and the token.
    async fn session(&self) -> Result<(String, String), ConnectorError> {
        let both = self.session.get(|| self.sign_in()).await?;
        let (site, token) = both.split_once('\n').unwrap_or_default();
        Ok((site.to_owned(), token.to_owned()))
    }

    /// One HTTP exchange; `token` is sent as `X-Tableau-Auth`.
    async fn exchange(
        &self,
        method: Method,
        url: Url,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Reply, ConnectorError> {
        let mut req = self
            .http
            .request(method, url)
            .header(header::ACCEPT, "application/json");
        if let Some(t) = token {
            req = req.header("X-Tableau-Auth", t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| http::unreachable("Tableau", &e))?;
        let (status, headers) = (resp.status(), resp.headers().clone());
        let text = resp
            .text()
            .await
            .map_err(|e| http::unreachable("Tableau", &e))?;
        let body = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Ok(Reply {
            status,
            headers,
            body,
        })
    }

    /// A call under `sites/{site-id}/…`. A 401 ends the session: one new sign-in, one retry.
    pub(super) async fn call(
        &self,
        method: Method,
        under_site: &[&str],
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Reply, ConnectorError> {
        let mut retried = false;
        loop {
            let (site_id, token) = self.session().await?;
            let mut segments = vec!["sites", site_id.as_str()];
            segments.extend_from_slice(under_site);
            let mut url = self.url(&segments);
            if !query.is_empty() {
                url.query_pairs_mut().extend_pairs(query);
            }
            let reply = self
                .exchange(method.clone(), url, Some(&token), body)
                .await?;
            if reply.status != StatusCode::UNAUTHORIZED || retried {
                return Ok(reply);
            }
            let _one_at_a_time = self.renewing.lock().await;
            // Another caller may have replaced the session already: then use theirs.
            if self.session().await?.1 == token {
                self.session.invalidate().await;
            }
            retried = true;
        }
    }

    /// Every item of a paged list: `GET …?pageSize&pageNumber` until `totalAvailable` are read.
    /// `outer`/`inner` name the list (`users`/`user`).
    pub(super) async fn all_pages(
        &self,
        under_site: &[&str],
        query: &[(&str, &str)],
        (outer, inner): (&str, &str),
        page_size: usize,
    ) -> Result<Vec<Value>, ConnectorError> {
        let size = page_size.to_string();
        let mut out = Vec::new();
        for page in 1usize.. {
            let number = page.to_string();
            let mut q = query.to_vec();
            q.extend([("pageSize", size.as_str()), ("pageNumber", number.as_str())]);
            let answer = self.call(Method::GET, under_site, &q, None).await?.ok()?;
            let items = match &answer[outer][inner] {
                Value::Array(items) => items.clone(),
                Value::Object(_) => vec![answer[outer][inner].clone()],
                _ => Vec::new(),
            };
            let total = number_in(&answer["pagination"]["totalAvailable"]);
            let got = items.len();
            out.extend(items);
            match total {
                Some(total) if out.len() < total && got > 0 => continue,
                Some(_) => return Ok(out),
                // No pagination object: a short page is the last.
                None if got == page_size => continue,
                None => return Ok(out),
            }
        }
        Ok(out)
    }
}

/// Tableau writes its numbers as strings in JSON (`"totalAvailable": "158"`); either is read.
fn number_in(v: &Value) -> Option<usize> {
    match v {
        Value::String(s) => s.trim().parse().ok(),
        Value::Number(n) => n.as_u64().and_then(|n| usize::try_from(n).ok()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tableau_errors_read_as_its_own_words() {
        let body = json!({"error": {"summary": "Resource Conflict",
            "detail": "The user is already a member of the group", "code": "409011"}});
        assert_eq!(
            said(&body),
            "Resource Conflict: The user is already a member of the group (Tableau error 409011)"
        );
        assert_eq!(said(&json!("Bad Gateway")), "Bad Gateway");
        assert_eq!(said(&Value::Null), "no message");
        assert_eq!(number_in(&json!("158")), Some(158));
        assert_eq!(number_in(&json!(7)), Some(7));
    }

    #[test]
    fn the_secret_stays_out_of_debug_and_paths_are_escaped() {
        let api = Api::new(
            "https://tab.example.com/",
            "3.24",
            "acme",
            "gatehouse",
            Secret::new("s3cr3t-value"),
        )
        .unwrap();
        let shown = format!("{api:?}");
        assert!(
            !shown.contains("s3cr3t") && shown.contains("***"),
            "{shown}"
        );
        let url = api.url(&["sites", "a/b?c#d", "groups"]);
        assert_eq!(
            url.as_str(),
            "https://tab.example.com/api/3.24/sites/a%2Fb%3Fc%23d/groups"
        );
        assert!(Api::new("x", "3.24", "", "n", Secret::new("s")).is_err());
        assert!(Api::new("https://t", "3.24/../", "", "n", Secret::new("s")).is_err());
    }
}
