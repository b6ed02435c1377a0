//! The seeded workspace: team, app, tokens, people, channels and user groups, loadable from TOML or JSON.

use serde::{Deserialize, Serialize};
use std::path::Path;

/// Everything the simulator starts with. Unknown fields are rejected so a typo in a seed file is loud.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimConfig {
    pub team_id: String,
    #[serde(default = "default_team_domain")]
    pub team_domain: String,
    pub app_id: String,
    pub bot_user_id: String,
    #[serde(default = "default_bot_id")]
    pub bot_id: String,
    pub bot_token: String,
    pub app_token: String,
    #[serde(default)]
    pub bot_scopes: Vec<String>,
    /// How long Socket Mode waits for an ack before redelivering (events) or failing (interactive).
    #[serde(default = "default_ack_timeout_ms")]
    pub ack_timeout_ms: u64,
    /// How long a trigger_id stays usable for views.open/views.push.
    #[serde(default = "default_trigger_ttl_ms")]
    pub trigger_ttl_ms: u64,
    /// Fixed port to bind on 127.0.0.1; `None` or 0 picks a free one.
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default)]
    pub users: Vec<UserSeed>,
    #[serde(default)]
    pub channels: Vec<ChannelSeed>,
    #[serde(default)]
    pub usergroups: Vec<UsergroupSeed>,
    /// The app manifest's `features.app_home.messages_tab_read_only_enabled`: people cannot
    /// write to the app in its Messages tab, so `message_bot` is refused.
    #[serde(default)]
    pub messages_tab_read_only: bool,
}

/// A person (or bot) in the workspace. The account-kind flags are those of Slack's user object
/// (https://api.slack.com/types/user), served as they are by users.info.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSeed {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub real_name: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default = "default_tz")]
    pub tz: String,
    #[serde(default)]
    pub tz_offset: i64,
    #[serde(default)]
    pub is_bot: bool,
    /// Deactivated.
    #[serde(default)]
    pub deleted: bool,
    /// A guest (multi-channel; with `is_ultra_restricted` too, single-channel).
    #[serde(default)]
    pub is_restricted: bool,
    #[serde(default)]
    pub is_ultra_restricted: bool,
    #[serde(default)]
    pub is_app_user: bool,
    /// From another workspace, met through a Slack Connect channel.
    #[serde(default)]
    pub is_stranger: bool,
    /// The person's own workspace; None: the simulated one. A Slack Connect user has another.
    #[serde(default)]
    pub team_id: Option<String>,
}

impl Default for UserSeed {
    /// A full member with no name yet; fill in `id` and `name`.
    fn default() -> Self {
        UserSeed {
            id: String::new(),
            name: String::new(),
            real_name: String::new(),
            email: None,
            tz: default_tz(),
            tz_offset: 0,
            is_bot: false,
            deleted: false,
            is_restricted: false,
            is_ultra_restricted: false,
            is_app_user: false,
            is_stranger: false,
            team_id: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelSeed {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub is_private: bool,
    /// Member user ids; include the bot user id to make the bot a member.
    #[serde(default)]
    pub members: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsergroupSeed {
    pub id: String,
    pub handle: String,
    #[serde(default)]
    pub users: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: invalid TOML: {source}")]
    Toml {
        path: String,
        source: toml::de::Error,
    },
    #[error("{path}: invalid JSON: {source}")]
    Json {
        path: String,
        source: serde_json::Error,
    },
}

fn default_team_domain() -> String {
    "sim".into()
}
fn default_bot_id() -> String {
    "B0SIMBOT".into()
}
fn default_ack_timeout_ms() -> u64 {
    3000
}
fn default_trigger_ttl_ms() -> u64 {
    3000
}
fn default_tz() -> String {
    "Europe/Paris".into()
}

impl SimConfig {
    /// Reads a seed file; `.json` is parsed as JSON, anything else as TOML.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: p.clone(),
            source,
        })?;
        if path.extension().is_some_and(|e| e == "json") {
            serde_json::from_str(&text).map_err(|source| ConfigError::Json { path: p, source })
        } else {
            toml::from_str(&text).map_err(|source| ConfigError::Toml { path: p, source })
        }
    }

    /// A small workspace for demos and tests: alice requests, bob reviews, carol administers, dave is plain.
    pub fn demo() -> Self {
        let user = |id: &str, name: &str, real: &str, tz: &str, off: i64| UserSeed {
            id: id.into(),
            name: name.into(),
            real_name: real.into(),
            email: Some(format!("{name}@example.com")),
            tz: tz.into(),
            tz_offset: off,
            ..UserSeed::default()
        };
        let bot = "U0BOT";
        SimConfig {
            team_id: "T0SIM".into(),
            team_domain: default_team_domain(),
            app_id: "A0SIM".into(),
            bot_user_id: bot.into(),
            bot_id: default_bot_id(),
            bot_token: "xoxb-sim-bot-token".into(),
            app_token: "xapp-1-sim-app-token".into(),
            bot_scopes: [
                "commands",
                "chat:write",
                "im:write",
                "users:read",
                "users:read.email",
                "usergroups:read",
                "reactions:read",
                "reactions:write",
                "channels:history",
                "groups:history",
                "im:history",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            ack_timeout_ms: default_ack_timeout_ms(),
            trigger_ttl_ms: default_trigger_ttl_ms(),
            port: None,
            users: vec![
                user("U0ALICE", "alice", "Alice Martin", "Europe/Paris", 3600),
                user("U0BOB", "bob", "Bob Reviewer", "Europe/London", 0),
                user(
                    "U0CAROL",
                    "carol",
                    "Carol Admin",
                    "America/New_York",
                    -18000,
                ),
                user("U0DAVE", "dave", "Dave Plain", "Asia/Tokyo", 32400),
                UserSeed {
                    id: bot.into(),
                    name: "gatehouse".into(),
                    real_name: "Gatehouse".into(),
                    email: None,
                    tz: "UTC".into(),
                    tz_offset: 0,
                    is_bot: true,
                    ..UserSeed::default()
                },
            ],
            channels: vec![
                ChannelSeed {
                    id: "C0ACCESS".into(),
                    name: "access-requests".into(),
                    is_private: false,
                    members: ["U0ALICE", "U0BOB", "U0CAROL", "U0DAVE", bot]
                        .into_iter()
                        .map(String::from)
                        .collect(),
                },
                ChannelSeed {
                    id: "C0GENERAL".into(),
                    name: "general".into(),
                    is_private: false,
                    members: ["U0ALICE", "U0BOB", "U0CAROL", "U0DAVE"]
                        .into_iter()
                        .map(String::from)
                        .collect(),
                },
                ChannelSeed {
                    id: "G0SECRET".into(),
                    name: "secret".into(),
                    is_private: true,
                    members: vec!["U0CAROL".into()],
                },
            ],
            usergroups: vec![UsergroupSeed {
                id: "S0REVIEW".into(),
                handle: "data-reviewers".into(),
                users: vec!["U0BOB".into(), "U0CAROL".into()],
            }],
            messages_tab_read_only: false,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_seed_file_round_trips_through_toml_and_json_and_typos_are_rejected() {
        let dir = std::env::temp_dir().join(format!("slack-sim-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let demo = SimConfig::demo();
        let t = dir.join("seed.toml");
        std::fs::write(&t, toml::to_string(&demo).unwrap()).unwrap();
        let back = SimConfig::load(&t).unwrap();
        assert_eq!(back.users.len(), demo.users.len());
        assert_eq!(back.usergroups[0].handle, "data-reviewers");
        let j = dir.join("seed.json");
        std::fs::write(
            &j,
            serde_json::to_string(&demo)
                .unwrap()
                .replace("\"team_id\"", "\"team_idd\""),
        )
        .unwrap();
        let e = SimConfig::load(&j).unwrap_err().to_string();
        assert!(e.contains("team_idd"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
