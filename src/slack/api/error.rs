//! What a Slack call can fail with (`SlackError`), and the redaction that keeps tokens out of
//! every message that may reach a log or a person.

use std::time::Duration;

/// What a Slack call can fail with. Messages are safe to log and show: tokens are redacted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlackError {
    /// Slack answered `ok: false` with this code (e.g. `channel_not_found`, `user_not_found`).
    #[error("Slack answered `{code}` to {method}")]
    Api { method: &'static str, code: String },
    #[error("Slack is rate limiting {method}")]
    RateLimited {
        method: &'static str,
        retry_after: Option<Duration>,
    },
    #[error("cannot reach Slack for {method}: {detail}")]
    Transport {
        method: &'static str,
        detail: String,
    },
    #[error("Slack's answer to {method} lacks {what}")]
    Unexpected {
        method: &'static str,
        what: &'static str,
    },
}

impl SlackError {
    pub fn code(&self) -> Option<&str> {
        match self {
            SlackError::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Worth another try later: rate limits, network trouble, Slack's own hiccups.
    pub fn is_retryable(&self) -> bool {
        match self {
            SlackError::RateLimited { .. } | SlackError::Transport { .. } => true,
            SlackError::Api { code, .. } => {
                matches!(
                    code.as_str(),
                    "internal_error" | "fatal_error" | "service_unavailable" | "request_timeout"
                )
            }
            SlackError::Unexpected { .. } => false,
        }
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            SlackError::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// Removes anything shaped like a Slack token from text that may reach a log or a person.
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = ["xoxb-", "xoxp-", "xoxa-", "xoxe-", "xapp-"]
        .iter()
        .filter_map(|p| rest.find(p))
        .min()
    {
        out.push_str(&rest[..i]);
        out.push_str("xox…[redacted]");
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .unwrap_or(tail.len());
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_redacted_wherever_they_appear() {
        assert_eq!(
            redact("bad token xoxb-123-456-abcDEF in header; app xapp-1-A0-99."),
            "bad token xox…[redacted] in header; app xox…[redacted]."
        );
        assert_eq!(redact("nothing here"), "nothing here");
    }

    #[test]
    fn retryable_errors_are_told_apart() {
        let rl = SlackError::RateLimited {
            method: "chat.postMessage",
            retry_after: Some(Duration::from_secs(3)),
        };
        assert!(rl.is_retryable());
        assert_eq!(rl.retry_after(), Some(Duration::from_secs(3)));
        let gone = SlackError::Api {
            method: "chat.postMessage",
            code: "channel_not_found".into(),
        };
        assert!(!gone.is_retryable());
    }
}
