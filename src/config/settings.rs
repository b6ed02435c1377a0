//! Process settings, read from the environment (and `.env`, loaded by `main`). The only reader
//! of environment variables; `.env.example` documents each one.

use std::path::PathBuf;
use std::time::Duration;

use super::error::{ConfigError, ConfigErrors};
use super::secret::Secret;
use crate::domain::Principal;

pub const DEFAULT_DATABASE_URL: &str = "sqlite://gatehouse.db?mode=rwc";
pub const DEFAULT_SLACK_API_URL: &str = "https://slack.com/api";
pub const DEFAULT_HTTP_ADDR: &str = "127.0.0.1:8080";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// What Gatehouse needs to talk to Slack. Optional until `serve` needs it.
#[derive(Debug, Clone)]
pub struct SlackSettings {
    pub bot_token: Option<Secret>,
    pub app_token: Option<Secret>,
    pub api_url: String,
    pub channel: Option<String>,
    /// Pace Web API calls to Slack's published limits (true), or rely on 429s alone (false:
    /// for slack-sim, demos and load tests).
    pub pace: bool,
    /// Socket Mode connections held open (Slack spreads envelopes across them, up to 10).
    pub connections: u32,
}

/// An OpenAI-compatible chat-completions endpoint for free-form questions ("Ask Gatehouse").
/// Optional: without it only the built-in question forms are understood.
#[derive(Debug, Clone)]
pub struct LlmConfig {
    /// The API base (`…/v1`); `/chat/completions` is appended unless already there.
    pub url: String,
    pub model: String,
    pub key: Secret,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub database_url: String,
    pub catalog_path: PathBuf,
    pub admins: Vec<Principal>,
    pub slack: SlackSettings,
    pub log_format: LogFormat,
    pub log_filter: String,
    /// How many times a job runs before it is `failed`.
    pub job_max_attempts: u32,
    /// How long a claimed job is reserved for its worker; a crashed worker's job is retried after it.
    pub job_lease: Duration,
    /// The longest a worker sleeps without looking for jobs that other processes added.
    pub job_poll: Duration,
    /// How many jobs one process runs at once (jobs of one request still run one at a time).
    pub job_workers: usize,
    /// How often each platform is compared with the live grants (drift reconciliation).
    pub reconcile_every: Duration,
    /// How many questions one person may ask a minute (`/access-check`, DMs, mentions).
    pub questions_per_minute: u32,
    /// The language model for free-form questions, when all of its variables are set.
    pub llm: Option<LlmConfig>,
    /// Where `/healthz`, `/readyz` and `/metrics` are served (`GATEHOUSE_HTTP_ADDR`); None: off.
    pub http_addr: Option<std::net::SocketAddr>,
}

impl Settings {
    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Settings, ConfigErrors> {
        let mut errors = Vec::new();
        let get = |k: &str| {
            lookup(k)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };

        let admins = get("GATEHOUSE_ADMINS")
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .filter_map(|s| match s.parse::<Principal>() {
                        Ok(p) => Some(p),
                        Err(e) => {
                            errors.push(ConfigError::env(
                                "GATEHOUSE_ADMINS",
                                format!("{e}; list Slack user or group IDs separated by commas"),
                            ));
                            None
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();

        let log_format = match get("GATEHOUSE_LOG_FORMAT").as_deref() {
            None | Some("pretty") => LogFormat::Pretty,
            Some("json") => LogFormat::Json,
            Some(other) => {
                errors.push(ConfigError::env(
                    "GATEHOUSE_LOG_FORMAT",
                    format!("`{other}` is not a log format; use pretty or json"),
                ));
                LogFormat::Pretty
            }
        };

        let log_filter = get("GATEHOUSE_LOG").unwrap_or_else(|| "info".to_owned());
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&log_filter) {
            errors.push(ConfigError::env(
                "GATEHOUSE_LOG",
                format!(
                    "`{log_filter}` is not a log filter ({e}); write a level like info or debug, \
                     or per module like gatehouse=debug,sqlx=warn"
                ),
            ));
        }

        let mut number = |key: &str, default: u64, min: u64, max: u64| -> u64 {
            match get(key) {
                None => default,
                Some(v) => match v.parse::<u64>() {
                    Ok(n) if (min..=max).contains(&n) => n,
                    _ => {
                        errors.push(ConfigError::env(
                            key,
                            format!("`{v}` is not a whole number from {min} to {max}"),
                        ));
                        default
                    }
                },
            }
        };
        let job_max_attempts = number("GATEHOUSE_JOB_MAX_ATTEMPTS", 10, 1, 100) as u32;
        let job_lease = Duration::from_secs(number("GATEHOUSE_JOB_LEASE_SECS", 300, 5, 86_400));
        let job_poll = Duration::from_secs(number("GATEHOUSE_JOB_POLL_SECS", 30, 1, 3_600));
        let job_workers = number("GATEHOUSE_JOB_WORKERS", 4, 1, 64) as usize;
        // Each connection handles its envelopes one after another: two keep acks quick under
        // load, and one survives while Slack refreshes the other.
        let connections = number("GATEHOUSE_SLACK_CONNECTIONS", 2, 1, 10) as u32;
        let reconcile_every = Duration::from_secs(
            60 * number("GATEHOUSE_RECONCILE_EVERY_MINUTES", 60, 1, 7 * 24 * 60),
        );
        // Ten is more than anyone types in a minute, and few enough that one person cannot
        // keep every platform (and the language model) busy.
        let questions_per_minute = number("GATEHOUSE_QUESTIONS_PER_MINUTE", 10, 1, 1_000) as u32;

        let database_url = get("DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            errors.push(ConfigError::env(
                "DATABASE_URL",
                "use sqlite://FILE?mode=rwc or postgres://USER@HOST/DB",
            ));
        }

        let api_url = get("SLACK_API_URL")
            .map(|u| u.trim_end_matches('/').to_owned())
            .unwrap_or_else(|| DEFAULT_SLACK_API_URL.to_owned());
        if !(api_url.starts_with("https://") || api_url.starts_with("http://")) {
            errors.push(ConfigError::env(
                "SLACK_API_URL",
                "must start with https:// (or http:// for a local slack-sim)",
            ));
        }
        let slack = SlackSettings {
            bot_token: get("SLACK_BOT_TOKEN").map(Secret::new),
            app_token: get("SLACK_APP_TOKEN").map(Secret::new),
            api_url,
            channel: get("ACCESS_REQUESTS_CHANNEL"),
            pace: match get("GATEHOUSE_SLACK_PACE").as_deref() {
                None | Some("slack") => true,
                Some("none") => false,
                Some(_) => {
                    errors.push(ConfigError::env(
                        "GATEHOUSE_SLACK_PACE",
                        "write slack (pace calls to Slack's limits; the default) or none (only for slack-sim and load tests)",
                    ));
                    true
                }
            },
            connections,
        };
        if let Some(t) = &slack.bot_token
            && !t.expose().starts_with("xoxb-")
        {
            errors.push(ConfigError::env(
                "SLACK_BOT_TOKEN",
                "is not a bot token; copy the one starting with xoxb- from OAuth & Permissions",
            ));
        }
        if let Some(t) = &slack.app_token
            && !t.expose().starts_with("xapp-")
        {
            errors.push(ConfigError::env(
                "SLACK_APP_TOKEN",
                "is not an app-level token; create one starting with xapp- (scope connections:write) under Basic Information",
            ));
        }

        // All three or none: a half-configured model would fail only when someone asks.
        let llm_url = get("GATEHOUSE_LLM_URL").map(|u| u.trim_end_matches('/').to_owned());
        let llm_model = get("GATEHOUSE_LLM_MODEL");
        let llm_key = get("GATEHOUSE_LLM_KEY").map(Secret::new);
        let llm = match (llm_url, llm_model, llm_key) {
            (None, None, None) => None,
            (Some(url), Some(model), Some(key)) => {
                if url.starts_with("https://") || url.starts_with("http://") {
                    Some(LlmConfig { url, model, key })
                } else {
                    errors.push(ConfigError::env(
                        "GATEHOUSE_LLM_URL",
                        "must start with https:// (or http:// for a local model server)",
                    ));
                    None
                }
            }
            (url, model, key) => {
                let missing: Vec<&str> = [
                    ("GATEHOUSE_LLM_URL", url.is_none()),
                    ("GATEHOUSE_LLM_MODEL", model.is_none()),
                    ("GATEHOUSE_LLM_KEY", key.is_none()),
                ]
                .into_iter()
                .filter(|(_, absent)| *absent)
                .map(|(var, _)| var)
                .collect();
                errors.push(ConfigError::env(
                    &missing.join(", "),
                    "not set, but the other GATEHOUSE_LLM_* variables are; set all three \
                     (URL, model, key) for free-form questions, or none",
                ));
                None
            }
        };

        let http_addr = match get("GATEHOUSE_HTTP_ADDR").as_deref() {
            Some("off") => None,
            value => {
                let v = value.unwrap_or(DEFAULT_HTTP_ADDR);
                match v.parse::<std::net::SocketAddr>() {
                    Ok(addr) => Some(addr),
                    Err(_) => {
                        errors.push(ConfigError::env(
                            "GATEHOUSE_HTTP_ADDR",
                            format!(
                                "`{v}` is not an address to listen on; write IP:PORT like 127.0.0.1:8080 or 0.0.0.0:9090, or off"
                            ),
                        ));
                        None
                    }
                }
            }
        };

        if !errors.is_empty() {
            return Err(ConfigErrors(errors));
        }
        Ok(Settings {
            database_url,
            catalog_path: get("GATEHOUSE_CONFIG")
                .unwrap_or_else(|| "gatehouse.toml".to_owned())
                .into(),
            admins,
            slack,
            log_format,
            log_filter,
            job_max_attempts,
            job_lease,
            job_poll,
            job_workers,
            reconcile_every,
            questions_per_minute,
            llm,
            http_addr,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(vars: &[(&str, &str)]) -> Result<Settings, ConfigErrors> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(&|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_need_no_environment() {
        let s = load(&[]).unwrap();
        assert_eq!(s.database_url, DEFAULT_DATABASE_URL);
        assert_eq!(s.catalog_path, PathBuf::from("gatehouse.toml"));
        assert_eq!(s.slack.api_url, "https://slack.com/api");
        assert!(s.slack.bot_token.is_none());
        assert_eq!(s.job_max_attempts, 10);
    }

    #[test]
    fn every_bad_variable_is_named_and_no_token_is_shown() {
        let err = load(&[
            ("GATEHOUSE_ADMINS", "U0ADMIN, carol"),
            ("GATEHOUSE_LOG_FORMAT", "xml"),
            ("GATEHOUSE_LOG", "gatehouse=loud"),
            ("SLACK_BOT_TOKEN", "xapp-1-oops-secret"),
            ("GATEHOUSE_JOB_MAX_ATTEMPTS", "0"),
            ("DATABASE_URL", "mysql://x"),
        ])
        .unwrap_err()
        .to_string();
        for var in [
            "GATEHOUSE_ADMINS",
            "GATEHOUSE_LOG_FORMAT",
            "GATEHOUSE_LOG:",
            "SLACK_BOT_TOKEN",
            "GATEHOUSE_JOB_MAX_ATTEMPTS",
            "DATABASE_URL",
        ] {
            assert!(err.contains(var), "{var} missing from:\n{err}");
        }
        assert!(err.contains("6 problems"), "{err}");
        assert!(!err.contains("oops-secret"), "{err}");
    }

    #[test]
    fn the_example_env_file_documents_exactly_the_variables_read() {
        let text = include_str!("../../.env.example");
        let documented: std::collections::BTreeSet<String> = text
            .lines()
            .map(|l| l.trim_start_matches("# ").trim())
            .filter_map(|l| l.split_once('=').map(|(k, _)| k))
            .filter(|k| !k.is_empty() && k.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
            .map(str::to_owned)
            .collect();
        let read = std::cell::RefCell::new(std::collections::BTreeSet::new());
        let values: HashMap<&str, &str> = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_once('='))
            .collect();
        let settings = Settings::from_lookup(&|k| {
            read.borrow_mut().insert(k.to_owned());
            values.get(k).map(|v| v.to_string())
        });
        assert!(settings.is_ok(), "{:?}", settings.err());
        assert_eq!(read.into_inner(), documented);
    }

    #[test]
    fn the_http_address_defaults_to_loopback_and_can_be_turned_off() {
        let default = load(&[]).unwrap().http_addr;
        assert_eq!(default, Some("127.0.0.1:8080".parse().unwrap()));
        assert_eq!(
            load(&[("GATEHOUSE_HTTP_ADDR", "off")]).unwrap().http_addr,
            None
        );
        let any_port = load(&[("GATEHOUSE_HTTP_ADDR", "127.0.0.1:0")]).unwrap();
        assert_eq!(any_port.http_addr.map(|a| a.port()), Some(0));
        let err = load(&[("GATEHOUSE_HTTP_ADDR", "localhost")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("GATEHOUSE_HTTP_ADDR") && err.contains("127.0.0.1:8080"),
            "{err}"
        );
    }

    #[test]
    fn admins_are_a_comma_list() {
        let s = load(&[("GATEHOUSE_ADMINS", "U0ADMIN, S0ADMINS ,")]).unwrap();
        assert_eq!(s.admins.len(), 2);
    }
}
