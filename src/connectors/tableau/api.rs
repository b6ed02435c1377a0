//! The Tableau REST API client: a personal-access-token session (one per connector, kept in a
//! `TokenCache` with the site's id, signed in again once on a 401), JSON requests with
//! `X-Tableau-Auth`, and every page of a paged list. Reading the answers (JSON or XML by their
//! Content-Type) and classing Tableau's error body into `ConnectorError`s is `answer`'s. It
//! knows nothing of grants.

mod answer;

pub(super) use answer::{Answer, Item, Reply};

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
        let mut root = http::base_url(base_url.trim_end_matches('/'), "Tableau URL", base_url)?;
        let version = version.trim();
        if version.is_empty() || !version.chars().all(|c| c.is_ascii_digit() || c == '.') {
            return Err(format!(
                "the Tableau API version `{version}` is not a version like 3.24"
            ));
        }
        if token_name.trim().is_empty() || token_secret.expose().is_empty() {
            return Err("a Tableau connector needs `token_name` and `token_secret`".into());
        }
        root.set_fragment(None);
        let root = http::join(&root, ["api", version]);
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
        http::join(&self.root, segments)
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
                reply.said()
            )));
        }
        let credentials = reply
            .ok()?
            .read::<Answer>()?
            .credentials
            .unwrap_or_default();
        let site_id = credentials.site.and_then(|s| s.id);
        let (Some(token), Some(site_id)) = (credentials.token, site_id) else {
            return Err(ConnectorError::Permanent(
                "Tableau's sign-in answer has no credentials.token or credentials.site.id".into(),
            ));
        };
        // Ids and tokens hold no newline; an answer without the user keeps an empty one.
        let user = credentials.user.and_then(|u| u.id).unwrap_or_default();
        Ok((format!("{site_id}\n{user}\n{token}"), SESSION_LIFE))
    }

    /// The current session (signing in when there is none): the site id, the id of the
    /// token's user (empty when the sign-in did not name it) and the token.
    async fn session_parts(&self) -> Result<(String, String, String), ConnectorError> {
        let all = self.session.get(|| self.sign_in()).await?;
        let mut parts = all.splitn(3, '\n').map(str::to_owned);
        let mut next = || parts.next().unwrap_or_default();
        Ok((next(), next(), next()))
    }

    /// The current session: the site id and the token.
    async fn session(&self) -> Result<(String, String), ConnectorError> {
        let (site, _, token) = self.session_parts().await?;
        Ok((site, token))
    }

    /// The id of the user the personal access token signs in as, if the sign-in named it.
    pub(super) async fn token_user(&self) -> Result<Option<String>, ConnectorError> {
        let (_, user, _) = self.session_parts().await?;
        Ok(Some(user).filter(|u| !u.is_empty()))
    }

    /// The site's content URL and the token's name, for messages.
    pub(super) fn names(&self) -> (&str, &str) {
        (&self.site, &self.token_name)
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
        let (status, headers, text) = http::send_for_text("Tableau", req).await?;
        Ok(Reply {
            status,
            headers,
            text,
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
    /// `list` takes the page's items from its answer (`|a| a.users.user`).
    pub(super) async fn all_pages(
        &self,
        under_site: &[&str],
        query: &[(&str, &str)],
        list: fn(Answer) -> Vec<Item>,
        page_size: usize,
    ) -> Result<Vec<Item>, ConnectorError> {
        self.all_pages_of_found(under_site, query, list, page_size)
            .await?
            .map_err(|missing| missing.failure())
    }

    /// [`Api::all_pages`], with a 404 to the first page apart (the inner `Err`, Tableau's
    /// answer itself), for a caller that asks what was not found.
    pub(super) async fn all_pages_of_found(
        &self,
        under_site: &[&str],
        query: &[(&str, &str)],
        list: fn(Answer) -> Vec<Item>,
        page_size: usize,
    ) -> Result<Result<Vec<Item>, Reply>, ConnectorError> {
        let size = page_size.to_string();
        let mut out = Vec::new();
        for page in 1usize.. {
            let number = page.to_string();
            let mut q = query.to_vec();
            q.extend([("pageSize", size.as_str()), ("pageNumber", number.as_str())]);
            let reply = self.call(Method::GET, under_site, &q, None).await?;
            if page == 1 && reply.status == StatusCode::NOT_FOUND {
                return Ok(Err(reply));
            }
            let answer: Answer = reply.ok()?.read()?;
            let total = answer.pagination.as_ref().and_then(|p| p.total);
            let items = list(answer);
            let got = items.len();
            out.extend(items);
            match total {
                Some(total) if out.len() < total && got > 0 => continue,
                Some(_) => return Ok(Ok(out)),
                // No pagination object: a short page is the last.
                None if got == page_size => continue,
                None => return Ok(Ok(out)),
            }
        }
        Ok(Ok(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
