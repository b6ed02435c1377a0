//! Slack user groups as reviewer and admin groups: members from usergroups.users.list,
//! cached for a few minutes so that every decision does not cost a call, and forgotten as soon
//! as Slack says a group or a person changed (`subteam_members_changed`, `user_change`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::api::SlackApi;
use crate::domain::{GroupId, SlackUserId};
use crate::workflow::{Directory, Membership};

const FRESH_FOR: Duration = Duration::from_secs(300);

pub struct SlackDirectory {
    api: SlackApi,
    cache: Mutex<HashMap<GroupId, (Instant, Vec<SlackUserId>)>>,
    accounts: Mutex<HashMap<SlackUserId, (Instant, Account)>>,
}

/// What users.info says of a person that decisions need.
#[derive(Clone)]
struct Account {
    membership: Membership,
    tz: Option<String>,
}

impl SlackDirectory {
    pub fn new(api: SlackApi) -> Self {
        SlackDirectory {
            api,
            cache: Mutex::new(HashMap::new()),
            accounts: Mutex::new(HashMap::new()),
        }
    }
}

impl SlackDirectory {
    async fn account(&self, user: &SlackUserId) -> Result<Account, String> {
        if let Some((at, a)) = self
            .accounts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(user)
            && at.elapsed() < FRESH_FOR
        {
            return Ok(a.clone());
        }
        let info = self
            .api
            .user_info(user.as_str())
            .await
            .map_err(|e| e.to_string())?;
        let membership = if info.deleted {
            Membership::Deactivated
        } else if info.restricted {
            Membership::Guest
        } else {
            Membership::Member
        };
        let account = Account {
            membership,
            tz: info.tz,
        };
        self.accounts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(user.clone(), (Instant::now(), account.clone()));
        Ok(account)
    }
}

#[async_trait::async_trait]
impl Directory for SlackDirectory {
    async fn members_of(&self, group: &GroupId) -> Result<Vec<SlackUserId>, String> {
        if let Some((at, members)) = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(group)
            && at.elapsed() < FRESH_FOR
        {
            return Ok(members.clone());
        }
        let members: Vec<SlackUserId> = self
            .api
            .usergroup_members(group.as_str())
            .await
            .map_err(|e| e.to_string())?
            .iter()
            .filter_map(|u| SlackUserId::parse(u).ok())
            .collect();
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(group.clone(), (Instant::now(), members.clone()));
        Ok(members)
    }

    async fn membership_of(&self, user: &SlackUserId) -> Result<Membership, String> {
        Ok(self.account(user).await?.membership)
    }

    async fn time_zone_of(&self, user: &SlackUserId) -> Result<Option<String>, String> {
        Ok(self.account(user).await?.tz)
    }

    fn forget_group(&self, group: &GroupId) {
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(group);
    }

    fn forget_user(&self, user: &SlackUserId) {
        self.accounts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(user);
    }

    async fn email_of(&self, user: &SlackUserId) -> Result<Option<String>, String> {
        // Needs users:read.email; without it Slack leaves the email out and nothing links by it.
        let info = self
            .api
            .user_info(user.as_str())
            .await
            .map_err(|e| e.to_string())?;
        Ok(info.email.filter(|e| e.contains('@')))
    }
}
