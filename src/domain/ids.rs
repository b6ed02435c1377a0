//! Identifier newtypes. Each is parsed once at the edge; its only constructor validates.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a piece of text is not a valid identifier, worded for the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidId(String);

/// The number of an access request, shown to people as `#42`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RequestId(i64);

impl RequestId {
    pub fn new(n: i64) -> Self {
        RequestId(n)
    }
    pub fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

impl FromStr for RequestId {
    type Err = InvalidId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let digits = s.trim().trim_start_matches('#');
        match digits.parse::<i64>() {
            Ok(n) if n > 0 => Ok(RequestId(n)),
            _ => Err(InvalidId(format!(
                "`{s}` is not a request number; write it like 42 or #42"
            ))),
        }
    }
}

macro_rules! text_id {
    ($(#[$doc:meta])* $name:ident, $check:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            pub fn parse(s: &str) -> Result<Self, InvalidId> {
                let check: fn(&str) -> Result<(), String> = $check;
                check(s).map_err(InvalidId)?;
                Ok($name(s.to_owned()))
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

/// Slack's IDs are upper-case letters and digits after a one-letter kind prefix.
fn slack_id(s: &str, prefixes: &[char], what: &str, example: &str) -> Result<(), String> {
    let mut chars = s.chars();
    let ok = matches!(chars.next(), Some(c) if prefixes.contains(&c))
        && s.len() >= 3
        && s.len() <= 32
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{s}` is not a Slack {what} ID; copy it from the profile's ⋮ menu (it looks like {example})"
        ))
    }
}

/// Catalog names: short, lower-case, safe in URLs, logs and Slack without escaping.
fn catalog_name(s: &str, what: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.chars().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_' || c == '.'
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{s}` is not a valid {what} id; use 1 to 64 lower-case letters, digits, `-`, `_` or `.`, starting with a letter or digit"
        ))
    }
}

text_id!(
    /// A Slack user, e.g. `U024BE7LH` (or `W…` on Enterprise Grid).
    SlackUserId,
    |s| slack_id(s, &['U', 'W'], "user", "U024BE7LH")
);
text_id!(
    /// A Slack user group, e.g. `S0614TZR7`.
    GroupId,
    |s| slack_id(s, &['S'], "user group", "S0614TZR7")
);
text_id!(
    /// A resource of the catalog, e.g. `analytics-ro`.
    ResourceId,
    |s| catalog_name(s, "resource")
);
text_id!(
    /// A connector of the catalog, e.g. `warehouse-pg`.
    ConnectorId,
    |s| catalog_name(s, "connector")
);

/// Someone who can hold an app role: one Slack user, or everyone in a Slack user group.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Principal {
    User(SlackUserId),
    Group(GroupId),
}

impl Principal {
    pub fn as_str(&self) -> &str {
        match self {
            Principal::User(u) => u.as_str(),
            Principal::Group(g) => g.as_str(),
        }
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Principal {
    type Err = InvalidId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.starts_with('S') {
            GroupId::parse(s).map(Principal::Group)
        } else if let Ok(u) = SlackUserId::parse(s) {
            Ok(Principal::User(u))
        } else {
            Err(InvalidId(format!(
                "`{s}` is neither a Slack user ID (U024BE7LH) nor a user group ID (S0614TZR7)"
            )))
        }
    }
}

impl<'de> Deserialize<'de> for Principal {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_ids_are_checked() {
        assert!(SlackUserId::parse("U024BE7LH").is_ok());
        assert!(SlackUserId::parse("W0123ABC").is_ok());
        let err = SlackUserId::parse("u024be7lh").unwrap_err().to_string();
        assert!(err.contains("not a Slack user ID"), "{err}");
        assert!(SlackUserId::parse("U; DROP").is_err());
        assert!(GroupId::parse("S0614TZR7").is_ok());
        assert!(GroupId::parse("U0614TZR7").is_err());
    }

    #[test]
    fn catalog_ids_are_lower_case_and_url_safe() {
        assert!(ResourceId::parse("analytics-ro").is_ok());
        assert!(ResourceId::parse("finance.warehouse_2").is_ok());
        for bad in ["", "Analytics", "a b", "a/b", "-x", "x\"y", &"a".repeat(65)] {
            assert!(ResourceId::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn principals_tell_users_from_groups() {
        assert_eq!(
            "S0614TZR7".parse::<Principal>().unwrap(),
            Principal::Group(GroupId::parse("S0614TZR7").unwrap())
        );
        assert!(matches!(
            "U024BE7LH".parse::<Principal>().unwrap(),
            Principal::User(_)
        ));
        assert!("C024BE7LH".parse::<Principal>().is_err());
    }

    #[test]
    fn request_numbers_accept_a_hash() {
        assert_eq!("#42".parse::<RequestId>().unwrap(), RequestId::new(42));
        assert_eq!(" 7 ".parse::<RequestId>().unwrap().to_string(), "#7");
        assert!("0".parse::<RequestId>().is_err());
        assert!("abc".parse::<RequestId>().is_err());
    }
}
