//! The Tableau REST API client: a personal-access-token session (one per connector, kept in a
//! `TokenCache` with the site's id, signed in again once on a 401), JSON requests with
//! `X-Tableau-Auth`, every page of a paged list, answers read as JSON or XML by their
//! Content-Type, and Tableau's error body classed into `ConnectorError`s. It knows nothing of
//! grants.

use std::fmt;
use std::time::Duration;

use reqwest::{Method, StatusCode, Url, header};
use serde::Deserialize;
use serde::de::{self, DeserializeOwned, Deserializer};
use serde_json::{Value, json};

use super::super::ConnectorError;
use super::super::http::{self, TokenCache};
use crate::config::Secret;

/// How long one HTTP exchange may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Tableau's sign-in answer does not say how long the session lives: Cloud ends idle sessions
/// after 2 h by default (Server after 4 h). The cache renews at 80 % of this.
const SESSION_LIFE: Duration = Duration::from_secs(2 * 3600);

/// The parts of Tableau's answers the connector reads: `{…}` in JSON, `<tsResponse>…` in XML.
/// Each part is there only in the answers that carry it. XML puts the scalars in attributes,
/// which serde sees as `@name`: hence an alias on each.
#[derive(Debug, Default, Deserialize)]
pub(super) struct Answer {
    pub credentials: Option<Credentials>,
    pub pagination: Option<Pagination>,
    #[serde(default)]
    pub users: Users,
    #[serde(default)]
    pub groups: Groups,
    /// Query User on Site's answer.
    pub user: Option<Item>,
    pub error: Option<TsError>,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct Credentials {
    #[serde(alias = "@token")]
    pub token: Option<String>,
    pub site: Option<Item>,
    /// The user the token signs in as.
    pub user: Option<Item>,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct Pagination {
    #[serde(
        rename = "totalAvailable",
        alias = "@totalAvailable",
        default,
        deserialize_with = "count"
    )]
    pub total: Option<usize>,
}

/// `users.user`: an empty list is `{}` in JSON and `<users/>` in XML.
#[derive(Debug, Default, Deserialize)]
pub(super) struct Users {
    #[serde(default)]
    pub user: Vec<Item>,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct Groups {
    #[serde(default)]
    pub group: Vec<Item>,
}

/// A user, group or site.
#[derive(Debug, Default, Deserialize)]
pub(super) struct Item {
    #[serde(alias = "@id")]
    pub id: Option<String>,
    #[serde(alias = "@name")]
    pub name: Option<String>,
    #[serde(alias = "@email")]
    pub email: Option<String>,
    #[serde(rename = "siteRole", alias = "@siteRole")]
    pub site_role: Option<String>,
}

/// `{"error":{"summary","detail","code"}}`, or `<error code><summary/><detail/></error>`.
#[derive(Debug, Default, Deserialize)]
pub(super) struct TsError {
    #[serde(alias = "@code")]
    pub code: Option<String>,
    pub summary: Option<String>,
    pub detail: Option<String>,
}

/// Tableau writes its numbers as strings in JSON (`"totalAvailable": "158"`) and XML
/// attributes are strings; a JSON number is read too.
fn count<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    struct Count;
    impl de::Visitor<'_> for Count {
        type Value = Option<usize>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a count, as a number or a string")
        }
        fn visit_u64<E: de::Error>(self, n: u64) -> Result<Self::Value, E> {
            Ok(usize::try_from(n).ok())
        }
        fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
            Ok(s.trim().parse().ok())
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }
    d.deserialize_any(Count)
}

/// The forms Tableau answers in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Json,
    Xml,
}

/// An answer: its status, headers and body as sent.
pub(super) struct Reply {
    pub status: StatusCode,
    pub headers: header::HeaderMap,
    pub text: String,
}

impl Reply {
    /// The body's form, by its Content-Type (Tableau answers XML unless JSON is asked for,
    /// and some servers and proxies answer XML whatever is asked).
    fn format(&self) -> Result<Format, ConnectorError> {
        let given = self
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let essence = given.split(';').next().unwrap_or("").trim();
        match essence.to_ascii_lowercase().as_str() {
            "application/json" => Ok(Format::Json),
            "application/xml" | "text/xml" => Ok(Format::Xml),
            other => {
                let named = if other.is_empty() {
                    "no content type".to_owned()
                } else {
                    format!(
                        "content type `{}`",
                        other.chars().take(80).collect::<String>()
                    )
                };
                Err(ConnectorError::Permanent(format!(
                    "Tableau answered HTTP {} with {named}; Gatehouse reads only JSON \
                     (application/json) or XML (application/xml, text/xml): check that \
                     base_url is the Tableau server itself, not a proxy or sign-on page",
                    self.status.as_u16()
                )))
            }
        }
    }

    /// The body as `T`, read as JSON or XML as its Content-Type says.
    pub fn read<T: DeserializeOwned>(&self) -> Result<T, ConnectorError> {
        let format = self.format()?;
        let read = match format {
            Format::Json => serde_json::from_str(&self.text).map_err(drop),
            Format::Xml => quick_xml::de::from_str(&self.text).map_err(drop),
        };
        // The parser's own message may quote the body, which can hold a session token.
        read.map_err(|()| {
            ConnectorError::Permanent(format!(
                "Tableau's answer (HTTP {}, {} bytes of {format:?}) is not in the shape of \
                 Tableau's REST API",
                self.status.as_u16(),
                self.text.len()
            ))
        })
    }

    /// Tableau's error object, when the body is one (in either form).
    fn error(&self) -> Option<TsError> {
        self.read::<Answer>().ok().and_then(|a| a.error)
    }

    /// Tableau's error code (`"409011"`), when the body is its error object.
    pub fn code(&self) -> String {
        self.error().and_then(|e| e.code).unwrap_or_default()
    }

    /// A success, or the answer classed as an error.
    pub fn ok(self) -> Result<Self, ConnectorError> {
        if self.status.is_success() {
            Ok(self)
        } else {
            Err(self.failure())
        }
    }

    pub fn failure(&self) -> ConnectorError {
        http::failure("Tableau", self.status, &self.headers, &self.said())
    }

    /// Tableau's words from its error object, or the start of another body.
    pub fn said(&self) -> String {
        said(self.error().as_ref(), &self.text)
    }
}

/// The summary, detail and code of `error`, or else the start of `text`.
fn said(error: Option<&TsError>, text: &str) -> String {
    let words = |s: &Option<String>| s.as_deref().unwrap_or("").trim().to_owned();
    let (summary, detail, code) = match error {
        Some(e) => (words(&e.summary), words(&e.detail), words(&e.code)),
        None => Default::default(),
    };
    let mut out = match (summary.is_empty(), detail.is_empty()) {
        (false, false) => format!("{summary}: {detail}"),
        (false, true) => summary,
        (true, false) => detail,
        (true, true) if error.is_none() && !text.trim().is_empty() => {
            text.trim().chars().take(200).collect()
        }
        (true, true) => "no message".to_owned(),
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
        let resp = req
            .send()
            .await
            .map_err(|e| http::unreachable("Tableau", &e))?;
        let (status, headers) = (resp.status(), resp.headers().clone());
        let text = resp
            .text()
            .await
            .map_err(|e| http::unreachable("Tableau", &e))?;
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

    fn reply(status: u16, content_type: &str, text: &str) -> Reply {
        let mut headers = header::HeaderMap::new();
        if let Ok(v) = content_type.parse() {
            headers.insert(header::CONTENT_TYPE, v);
        }
        Reply {
            status: StatusCode::from_u16(status).unwrap(),
            headers,
            text: text.to_owned(),
        }
    }

    const XML: &str = "application/xml;charset=utf-8";
    /// The opening Tableau writes (as in tableau/server-client-python's test assets).
    const TS: &str = r#"<?xml version='1.0' encoding='UTF-8'?><tsResponse xmlns="http://tableau.com/api" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="http://tableau.com/api http://tableau.com/api/ts-api-3.24.xsd">"#;

    #[test]
    fn tableau_errors_read_as_its_own_words_in_json_and_xml() {
        let json_body = json!({"error": {"summary": "Resource Conflict",
            "detail": "The user is already a member of the group", "code": "409011"}});
        let words =
            "Resource Conflict: The user is already a member of the group (Tableau error 409011)";
        let r = reply(409, "application/json", &json_body.to_string());
        assert_eq!(
            (r.said(), r.code()),
            (words.to_owned(), "409011".to_owned())
        );
        let xml_body = format!(
            "{TS}<error code=\"409011\"><summary>Resource Conflict</summary>\
             <detail>The user is already a member of the group</detail></error></tsResponse>"
        );
        for kind in [XML, "text/xml"] {
            let r = reply(409, kind, &xml_body);
            assert_eq!(
                (r.said(), r.code()),
                (words.to_owned(), "409011".to_owned())
            );
        }
        assert_eq!(
            reply(503, "text/plain", "Bad Gateway").said(),
            "Bad Gateway"
        );
        assert_eq!(reply(503, "text/plain", "").said(), "no message");
        assert_eq!(reply(500, XML, "<oops").said(), "<oops");
    }

    #[test]
    fn xml_answers_read_like_json_ones() {
        let signed_in = format!(
            r#"{TS}<credentials token="tok-123"><site id="site-1" contentUrl="Samples"/><user id="u-1"/></credentials></tsResponse>"#
        );
        let c = reply(200, XML, &signed_in)
            .read::<Answer>()
            .unwrap()
            .credentials
            .unwrap();
        assert_eq!(c.token.as_deref(), Some("tok-123"));
        assert_eq!(c.site.and_then(|s| s.id).as_deref(), Some("site-1"));

        let users = format!(
            r#"{TS}<pagination pageNumber="1" pageSize="100" totalAvailable="158"/><users><user id="a" name="alice" siteRole="Viewer" email="alice@example.com" externalAuthUserId=""/><user id="b" name="Bob" siteRole="Viewer"/></users></tsResponse>"#
        );
        let a: Answer = reply(200, XML, &users).read().unwrap();
        assert_eq!(a.pagination.and_then(|p| p.total), Some(158));
        let names: Vec<_> = a.users.user.iter().map(|u| u.name.as_deref()).collect();
        assert_eq!(names, [Some("alice"), Some("Bob")]);
        assert_eq!(a.users.user[0].email.as_deref(), Some("alice@example.com"));
        assert_eq!(a.users.user[1].email, None);

        let one_group = format!(
            r#"{TS}<pagination pageNumber="2" pageSize="1" totalAvailable="3"/><groups><group id="g" name="All Users"><domain name="local"/></group></groups></tsResponse>"#
        );
        let a: Answer = reply(200, XML, &one_group).read().unwrap();
        assert_eq!(a.groups.group.len(), 1);
        assert_eq!(a.groups.group[0].id.as_deref(), Some("g"));
        let empty = format!(
            r#"{TS}<pagination pageNumber="1" pageSize="100" totalAvailable="0"/><groups/></tsResponse>"#
        );
        assert!(
            reply(200, XML, &empty)
                .read::<Answer>()
                .unwrap()
                .groups
                .group
                .is_empty()
        );

        let json_page = json!({"pagination": {"totalAvailable": "3"}, "groups": {}});
        let a: Answer = reply(
            200,
            "application/json; charset=utf-8",
            &json_page.to_string(),
        )
        .read()
        .unwrap();
        assert_eq!(a.pagination.and_then(|p| p.total), Some(3));
        let json_page = json!({"pagination": {"totalAvailable": 7}});
        let a: Answer = reply(200, "application/json", &json_page.to_string())
            .read()
            .unwrap();
        assert_eq!(a.pagination.and_then(|p| p.total), Some(7));
    }

    #[test]
    fn an_unknown_content_type_is_a_clear_permanent_error() {
        let page = reply(200, "text/html; charset=utf-8", "<html>token=abc</html>");
        match page.read::<Answer>() {
            Err(ConnectorError::Permanent(m)) => {
                assert!(
                    m.contains("content type `text/html`") && m.contains("HTTP 200"),
                    "{m}"
                );
                assert!(!m.contains("token=abc"), "{m}");
            }
            other => panic!("{other:?}"),
        }
        let bare = reply(200, "", "{}");
        assert!(
            matches!(bare.read::<Answer>(), Err(ConnectorError::Permanent(m)) if m.contains("no content type"))
        );
        // A body that is not what it says is refused without quoting it (it may hold a token).
        let broken = reply(200, XML, r#"<tsResponse><credentials token="s3cr3t""#);
        match broken.read::<Answer>() {
            Err(ConnectorError::Permanent(m)) => assert!(!m.contains("s3cr3t"), "{m}"),
            other => panic!("{other:?}"),
        }
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
