//! Tableau's answers: the parts of its JSON or XML the connector reads (`Answer`), a reply
//! read as one or the other by its Content-Type (`Reply`), and Tableau's error body in its own
//! words, classed into `ConnectorError`s.

use std::fmt;

use reqwest::{StatusCode, header};
use serde::Deserialize;
use serde::de::{self, DeserializeOwned, Deserializer};

use crate::connectors::ConnectorError;
use crate::connectors::http;

/// The parts of Tableau's answers the connector reads: `{…}` in JSON, `<tsResponse>…` in XML.
/// Each part is there only in the answers that carry it. XML puts the scalars in attributes,
/// which serde sees as `@name`: hence an alias on each.
#[derive(Debug, Default, Deserialize)]
pub(in crate::connectors::tableau) struct Answer {
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
pub(in crate::connectors::tableau) struct Credentials {
    #[serde(alias = "@token")]
    pub token: Option<String>,
    pub site: Option<Item>,
    /// The user the token signs in as.
    pub user: Option<Item>,
}

#[derive(Debug, Default, Deserialize)]
pub(in crate::connectors::tableau) struct Pagination {
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
pub(in crate::connectors::tableau) struct Users {
    #[serde(default)]
    pub user: Vec<Item>,
}

#[derive(Debug, Default, Deserialize)]
pub(in crate::connectors::tableau) struct Groups {
    #[serde(default)]
    pub group: Vec<Item>,
}

/// A user, group or site.
#[derive(Debug, Default, Deserialize)]
pub(in crate::connectors::tableau) struct Item {
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
pub(in crate::connectors::tableau) struct TsError {
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
pub(in crate::connectors::tableau) struct Reply {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
}
