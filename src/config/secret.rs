//! Secrets: named by reference in configuration, never written inline, never printed.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Deserializer};

/// A secret value. `Debug` and `Display` print `***`; only `expose` shows it, at the call that needs it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Where a secret lives: `{ env = "VAR" }` or `{ file = "/run/secrets/x" }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretRef {
    Env(String),
    File(PathBuf),
}

impl SecretRef {
    /// Reads the secret now; the error names the variable or file, never the value.
    pub fn resolve(&self, lookup: &dyn Fn(&str) -> Option<String>) -> Result<Secret, String> {
        match self {
            SecretRef::Env(var) => match lookup(var) {
                Some(v) if !v.is_empty() => Ok(Secret(v)),
                _ => Err(format!(
                    "the environment variable {var} is not set; set it to the secret"
                )),
            },
            SecretRef::File(path) => match std::fs::read_to_string(path) {
                Ok(v) if !v.trim().is_empty() => Ok(Secret(v.trim_end().to_owned())),
                Ok(_) => Err(format!("the secret file {} is empty", path.display())),
                Err(e) => Err(format!(
                    "cannot read the secret file {}: {e}",
                    path.display()
                )),
            },
        }
    }
}

impl<'de> Deserialize<'de> for SecretRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Table {
            env: Option<String>,
            file: Option<PathBuf>,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Table(Table),
            Inline(#[expect(dead_code, reason = "only its presence matters")] toml::Value),
        }
        const HOW: &str = r#"secrets are never written inline; write { env = "VAR_NAME" } or { file = "/path/to/secret" }"#;
        match Raw::deserialize(d)? {
            Raw::Table(Table {
                env: Some(var),
                file: None,
            }) if !var.is_empty() => Ok(SecretRef::Env(var)),
            Raw::Table(Table {
                env: None,
                file: Some(path),
            }) => Ok(SecretRef::File(path)),
            Raw::Table(_) | Raw::Inline(_) => Err(serde::de::Error::custom(HOW)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize, Debug)]
    struct Holder {
        password: SecretRef,
    }

    #[test]
    fn secrets_are_only_accepted_by_reference() {
        let h: Holder = toml::from_str(r#"password = { env = "PG_PASSWORD" }"#).unwrap();
        assert_eq!(h.password, SecretRef::Env("PG_PASSWORD".into()));
        let h: Holder = toml::from_str(r#"password = { file = "/run/pw" }"#).unwrap();
        assert_eq!(h.password, SecretRef::File("/run/pw".into()));
        let err = toml::from_str::<Holder>(r#"password = "hunter2""#).unwrap_err();
        assert!(err.message().contains("never written inline"), "{err}");
        assert!(!err.message().contains("hunter2"));
    }

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("xoxb-very-secret");
        assert_eq!(format!("{s:?} {s}"), "*** ***");
        let missing = SecretRef::Env("NOPE".into())
            .resolve(&|_| None)
            .unwrap_err();
        assert!(missing.contains("NOPE"));
    }
}
