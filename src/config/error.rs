//! Configuration errors that point at the file, line and key, and say how to fix the value.

use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: Option<PathBuf>,
    pub line: Option<usize>,
    pub key: Option<String>,
    pub message: String,
}

impl ConfigError {
    /// An error about an environment variable.
    pub fn env(var: &str, message: impl Into<String>) -> Self {
        ConfigError {
            file: None,
            line: None,
            key: Some(var.to_owned()),
            message: message.into(),
        }
    }

    /// An error about the catalog at byte offset `at` of `source`.
    pub fn at(file: &Path, source: &str, at: usize, message: impl Into<String>) -> Self {
        let (line, key) = locate(source, at);
        ConfigError {
            file: Some(file.to_owned()),
            line: Some(line),
            key,
            message: message.into(),
        }
    }

    pub fn file(file: &Path, message: impl Into<String>) -> Self {
        ConfigError {
            file: Some(file.to_owned()),
            line: None,
            key: None,
            message: message.into(),
        }
    }
}

/// The 1-based line of byte offset `at`, and the key written on that line, qualified by the
/// table header above it (`[[resources]] max_duration`), so that people find it in their file.
fn locate(source: &str, at: usize) -> (usize, Option<String>) {
    let at = at.min(source.len());
    let before = source.get(..at).unwrap_or(source);
    let line_no = before.matches('\n').count() + 1;
    let line = source.lines().nth(line_no - 1).unwrap_or("");
    let key = line
        .split_once('=')
        .map(|(k, _)| k.trim())
        .filter(|k| !k.is_empty() && !k.starts_with('['))
        .map(str::to_owned);
    let header = before
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(str::to_owned);
    let key = match (header, key) {
        (Some(h), Some(k)) => Some(format!("{h} {k}")),
        (Some(_), None) if line.trim_start().starts_with('[') => Some(line.trim().to_owned()),
        (Some(h), None) => Some(h),
        (None, k) => k,
    };
    (line_no, key)
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, self.line, &self.key) {
            (Some(file), Some(line), _) => write!(f, "{}:{line}: ", file.display())?,
            (Some(file), None, _) => write!(f, "{}: ", file.display())?,
            (None, _, _) => {}
        }
        if let Some(key) = &self.key {
            write!(f, "{key}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// All the problems found, so that one run shows them all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        writeln!(
            f,
            "the configuration has {n} problem{}:",
            if n == 1 { "" } else { "s" }
        )?;
        for e in &self.0 {
            writeln!(f, "  {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl From<ConfigError> for ConfigErrors {
    fn from(e: ConfigError) -> Self {
        ConfigErrors(vec![e])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_the_key_under_its_table() {
        let src = "admins = []\n\n[[resources]]\nid = \"x\"\nmax_duration = \"9y\"\n";
        let at = src.find("\"9y\"").unwrap();
        let e = ConfigError::at(Path::new("g.toml"), src, at, "bad");
        assert_eq!(e.to_string(), "g.toml:5: [[resources]] max_duration: bad");
        let e = ConfigError::at(Path::new("g.toml"), src, 0, "bad");
        assert_eq!(e.to_string(), "g.toml:1: admins: bad");
    }
}
