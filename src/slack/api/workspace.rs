//! Everything else Gatehouse asks of the workspace: who the bot is, people and user groups,
//! DMs, modals and App Home, and whether the bot can read a channel.

use serde_json::{Value, json};

use super::{SlackApi, SlackError, str_field};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotInfo {
    pub user_id: String,
    pub team_id: String,
    /// The Enterprise Grid organisation, on an org's workspace.
    pub enterprise_id: Option<String>,
}

/// What Gatehouse needs to know of a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    pub id: String,
    pub name: String,
    pub email: Option<String>,
    pub tz: Option<String>,
    pub deleted: bool,
    pub restricted: bool,
    pub is_bot: bool,
    /// An app's account (Slack lists `is_app_user` apart from `is_bot`).
    pub is_app_user: bool,
    /// Slack says the person belongs to another workspace (Slack Connect).
    pub is_stranger: bool,
    /// The workspace the person belongs to.
    pub team_id: Option<String>,
    /// Their Enterprise Grid organisation (`enterprise_user.enterprise_id`), if any.
    pub enterprise_id: Option<String>,
}

/// The string Slack's answer to `method` holds at `path`, a dotted path such as `view.id`
/// (`{"view": {"id": …}}`); its absence is an error naming the path.
fn str_at(answer: &Value, path: &'static str, method: &'static str) -> Result<String, SlackError> {
    path.split('.')
        .fold(answer, |v, key| &v[key])
        .as_str()
        .map(str::to_owned)
        .ok_or(SlackError::Unexpected { method, what: path })
}

impl SlackApi {
    pub async fn auth_test(&self) -> Result<BotInfo, SlackError> {
        let v = self.post("auth.test", json!({})).await?;
        Ok(BotInfo {
            user_id: str_field(&v, "user_id", "auth.test")?,
            team_id: str_field(&v, "team_id", "auth.test")?,
            enterprise_id: v["enterprise_id"]
                .as_str()
                .filter(|e| !e.is_empty())
                .map(str::to_owned),
        })
    }

    /// Opens a modal; returns its view id.
    pub async fn open_view(&self, trigger_id: &str, view: &Value) -> Result<String, SlackError> {
        let v = self
            .post(
                "views.open",
                json!({ "trigger_id": trigger_id, "view": view }),
            )
            .await?;
        str_at(&v, "view.id", "views.open")
    }

    /// Replaces an open modal; `hash` is the view's as last seen, so a view that changed since
    /// is not overwritten (Slack answers `hash_conflict`).
    pub async fn update_view(
        &self,
        view_id: &str,
        hash: &str,
        view: &Value,
    ) -> Result<(), SlackError> {
        self.post(
            "views.update",
            json!({ "view_id": view_id, "hash": hash, "view": view }),
        )
        .await
        .map(drop)
    }

    pub async fn publish_home(&self, user: &str, view: &Value) -> Result<(), SlackError> {
        self.post("views.publish", json!({ "user_id": user, "view": view }))
            .await
            .map(drop)
    }

    /// The DM channel with `user`.
    pub async fn open_dm(&self, user: &str) -> Result<String, SlackError> {
        let v = self
            .post("conversations.open", json!({ "users": [user] }))
            .await?;
        str_at(&v, "channel.id", "conversations.open")
    }

    pub async fn user_info(&self, user: &str) -> Result<UserInfo, SlackError> {
        let v = self.get("users.info", &[("user", user)]).await?;
        let u = &v["user"];
        let name = [&u["real_name"], &u["profile"]["real_name"], &u["name"]]
            .into_iter()
            .filter_map(Value::as_str)
            .find(|n| !n.trim().is_empty())
            .unwrap_or(user)
            .to_owned();
        Ok(UserInfo {
            id: str_field(u, "id", "users.info")?,
            name,
            email: u["profile"]["email"].as_str().map(str::to_owned),
            tz: u["tz"].as_str().map(str::to_owned),
            deleted: u["deleted"].as_bool().unwrap_or(false),
            restricted: u["is_restricted"].as_bool().unwrap_or(false)
                || u["is_ultra_restricted"].as_bool().unwrap_or(false),
            is_bot: u["is_bot"].as_bool().unwrap_or(false),
            is_app_user: u["is_app_user"].as_bool().unwrap_or(false),
            is_stranger: u["is_stranger"].as_bool().unwrap_or(false),
            team_id: u["team_id"].as_str().map(str::to_owned),
            enterprise_id: u["enterprise_user"]["enterprise_id"]
                .as_str()
                .map(str::to_owned),
        })
    }

    pub async fn usergroup_members(&self, group: &str) -> Result<Vec<String>, SlackError> {
        let v = self
            .get("usergroups.users.list", &[("usergroup", group)])
            .await?;
        Ok(v["users"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|u| u.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Reads one message of the channel: Slack answers `not_in_channel` or `channel_not_found`
    /// when the bot could not post there either (history needs membership, as posting does).
    pub async fn can_read(&self, channel: &str) -> Result<(), SlackError> {
        self.get(
            "conversations.history",
            &[("channel", channel), ("limit", "1")],
        )
        .await
        .map(drop)
    }
}
