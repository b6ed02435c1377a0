//! How a connector links Slack users to platform users without an admin (`link`): the rule
//! that turns an email into a platform name, and the email domains it may link at all.
//!
//! `link = "local-part"` as before, or `link = { rule = "local-part", domains = ["example.com"] }`.
//! A domain matches exactly, ignoring case: `example.com` does not admit `eu.example.com`
//! (a subdomain may belong to someone else — a contractor's mail, a customer tenant), so each
//! one is listed. Without `domains` every email is admitted, as catalogs written before
//! `domains` expect; local-part rules then get a start-up warning.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, IntoDeserializer, MapAccess, Visitor};

/// How a Slack user's platform identity is found when no admin has set it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LinkRule {
    /// The platform user whose email is the Slack user's email.
    #[default]
    Email,
    /// The email's local part as it is (`maria.lopez@example.com` → `maria.lopez`).
    LocalPart,
    /// The email's local part upper-cased, as Snowflake stores unquoted names.
    LocalPartUpper,
    /// The email's local part lower-cased, as PostgreSQL and Redshift fold unquoted names.
    LocalPartLower,
}

impl LinkRule {
    /// The platform user name this rule derives from an email, if it derives one.
    pub fn derive(self, email: &str) -> Option<String> {
        let local = email
            .split_once('@')
            .map(|(l, _)| l)
            .filter(|l| !l.is_empty())?;
        match self {
            LinkRule::Email => None,
            LinkRule::LocalPart => Some(local.to_owned()),
            LinkRule::LocalPartUpper => Some(local.to_uppercase()),
            LinkRule::LocalPartLower => Some(local.to_lowercase()),
        }
    }

    /// The rule as written in the catalog.
    pub fn as_str(self) -> &'static str {
        match self {
            LinkRule::Email => "email",
            LinkRule::LocalPart => "local-part",
            LinkRule::LocalPartUpper => "local-part-upper",
            LinkRule::LocalPartLower => "local-part-lower",
        }
    }

    /// Whether the rule trusts the local part alone, which any domain can reuse.
    pub fn by_local_part(self) -> bool {
        !matches!(self, LinkRule::Email)
    }
}

/// A connector's link rule and the email domains it may link.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Link {
    pub rule: LinkRule,
    /// Lower-cased; empty: any domain.
    pub domains: Vec<String>,
}

impl Link {
    /// Whether an email may be linked automatically at all (by email or by the rule).
    pub fn admits(&self, email: &str) -> bool {
        if self.domains.is_empty() {
            return true;
        }
        let Some((_, domain)) = email.trim().rsplit_once('@') else {
            return false;
        };
        let domain = domain.trim_end_matches('.').to_lowercase();
        self.domains.contains(&domain)
    }

    /// The platform name the rule derives from an email it admits.
    pub fn derive(&self, email: &str) -> Option<String> {
        self.admits(email)
            .then(|| self.rule.derive(email))
            .flatten()
    }
}

/// `link` as written: a rule name, or a table with the rule and its domains (checked later,
/// by `domains`, so that the error can name the connector).
#[derive(Debug, Clone, Default)]
pub(super) struct RawLink {
    pub rule: LinkRule,
    pub domains: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LinkTable {
    #[serde(default)]
    rule: LinkRule,
    domains: Option<Vec<String>>,
}

impl<'de> Deserialize<'de> for RawLink {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct RuleOrTable;
        impl<'de> Visitor<'de> for RuleOrTable {
            type Value = RawLink;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    r#"a link rule ("email", "local-part", "local-part-upper" or "local-part-lower"), or a table like { rule = "local-part", domains = ["example.com"] }"#,
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawLink, E> {
                let rule = LinkRule::deserialize(v.into_deserializer())?;
                Ok(RawLink {
                    rule,
                    domains: None,
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawLink, A::Error> {
                let t = LinkTable::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(RawLink {
                    rule: t.rule,
                    domains: t.domains,
                })
            }
        }
        d.deserialize_any(RuleOrTable)
    }
}

impl RawLink {
    /// The link with its domains checked; the error says what is wrong and how to fix it.
    pub(super) fn check(self) -> Result<Link, String> {
        let domains = match self.domains {
            None => Vec::new(),
            Some(list) if list.is_empty() => {
                return Err(
                    "link domains = [] would link nobody; list the email domains to link (domains = [\"example.com\"]) or remove `domains` to link any"
                        .into(),
                );
            }
            Some(list) => {
                let mut out: Vec<String> = Vec::with_capacity(list.len());
                for d in &list {
                    let d = parse_domain(d)?;
                    if !out.contains(&d) {
                        out.push(d);
                    }
                }
                out
            }
        };
        Ok(Link {
            rule: self.rule,
            domains,
        })
    }
}

/// One `domains` entry: a bare email domain, lower-cased.
pub fn parse_domain(text: &str) -> Result<String, String> {
    let d = text.trim();
    let fix = |why: &str| {
        Err(format!(
            "link domains: `{d}` {why}; write the part of the email after the @, like \"example.com\""
        ))
    };
    if d.is_empty() {
        return Err(
            "link domains: an empty domain; write the part of the email after the @, like \"example.com\", or remove the entry"
                .into(),
        );
    }
    if d.contains('@') {
        return fix("has an @ in it");
    }
    if d.starts_with("*.") {
        return fix(
            "is a wildcard, which is not supported (a domain matches exactly: list each subdomain, such as \"eu.example.com\")",
        );
    }
    if d.starts_with('.') || d.ends_with('.') || d.contains("..") {
        return fix("has a dot at an end or two in a row");
    }
    if !d.contains('.') {
        return fix("is not a whole domain (it has no dot)");
    }
    if let Some(bad) = d
        .chars()
        .find(|c| !(c.is_alphanumeric() || *c == '-' || *c == '.'))
    {
        return fix(&format!("has `{bad}` in it, which no domain has"));
    }
    Ok(d.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_rules_derive_a_platform_name_from_an_email() {
        let email = "Maria.Lopez@Example.com";
        assert_eq!(LinkRule::Email.derive(email), None);
        assert_eq!(LinkRule::LocalPart.derive(email).unwrap(), "Maria.Lopez");
        assert_eq!(
            LinkRule::LocalPartUpper.derive(email).unwrap(),
            "MARIA.LOPEZ"
        );
        assert_eq!(
            LinkRule::LocalPartLower.derive(email).unwrap(),
            "maria.lopez"
        );
        assert_eq!(LinkRule::LocalPart.derive("@example.com"), None);
        assert_eq!(LinkRule::LocalPart.derive("no-at-sign"), None);
    }

    #[test]
    fn domains_are_matched_exactly_ignoring_case_and_subdomains_are_not_included() {
        let link = RawLink {
            rule: LinkRule::LocalPart,
            domains: Some(vec!["Example.com".into(), " example.org ".into()]),
        }
        .check()
        .unwrap();
        assert_eq!(link.domains, ["example.com", "example.org"]);
        assert_eq!(link.derive("alice@example.com").unwrap(), "alice");
        assert_eq!(link.derive("alice@EXAMPLE.COM").unwrap(), "alice");
        assert_eq!(link.derive("bob@example.org").unwrap(), "bob");
        assert_eq!(link.derive("alice@contractor.io"), None);
        assert_eq!(link.derive("alice@eu.example.com"), None);
        assert_eq!(link.derive("alice@example.com.evil.io"), None);
        assert_eq!(link.derive("alice@notexample.com"), None);
        assert!(!link.admits("no-at-sign"));
        // Without domains, any email is admitted, as before.
        let any = Link {
            rule: LinkRule::LocalPart,
            domains: Vec::new(),
        };
        assert_eq!(any.derive("alice@contractor.io").unwrap(), "alice");
    }

    #[test]
    fn a_bad_domain_says_what_is_wrong_and_how_to_fix_it() {
        let bad = |d: &str| parse_domain(d).unwrap_err();
        assert!(bad("").contains("an empty domain"), "{}", bad(""));
        assert!(bad("  ").contains("an empty domain"));
        assert!(bad("@example.com").contains("has an @ in it"));
        assert!(bad("alice@example.com").contains("after the @"));
        assert!(bad("*.example.com").contains("wildcard"));
        assert!(bad(".example.com").contains("dot at an end"));
        assert!(bad("example..com").contains("two in a row"));
        assert!(bad("localhost").contains("no dot"));
        assert!(bad("exa mple.com").contains("has ` ` in it"));
        assert!(bad("example.com/x").contains("has `/` in it"));
        assert_eq!(parse_domain("Sub.Example.COM").unwrap(), "sub.example.com");
        let empty = RawLink {
            rule: LinkRule::LocalPart,
            domains: Some(Vec::new()),
        }
        .check()
        .unwrap_err();
        assert!(empty.contains("would link nobody"), "{empty}");
    }
}
