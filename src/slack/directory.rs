//! Slack user groups as reviewer and admin groups: members from usergroups.users.list,
//! cached for a few minutes so that every decision does not cost a call, and forgotten as soon
//! as Slack says a group or a person changed (`subteam_members_changed`, `user_change`). And
//! what kind of account each person has (member, guest, external, deactivated, bot), from
//! users.info.

use std::time::{Duration, Instant};

use super::api::{SlackApi, UserInfo};
use super::remembered::Remembered;
use crate::domain::{GroupId, SlackUserId};
use crate::workflow::{Directory, Membership};

const FRESH_FOR: Duration = Duration::from_secs(300);

pub struct SlackDirectory {
    api: SlackApi,
    home: Home,
    cache: Remembered<GroupId, (Instant, Vec<SlackUserId>)>,
    accounts: Remembered<SlackUserId, (Instant, Account)>,
}

/// The workspace Gatehouse is installed in (auth.test), to tell people from other ones.
#[derive(Debug, Clone, Default)]
pub struct Home {
    pub team_id: String,
    pub enterprise_id: Option<String>,
}

/// What users.info says of a person that decisions need.
#[derive(Clone)]
struct Account {
    membership: Membership,
    tz: Option<String>,
}

/// Slackbot's id: Slack's user object for it says `is_bot: false`.
const SLACKBOT: &str = "USLACKBOT";

/// The kind of account users.info describes, by the user object's fields
/// (https://api.slack.com/types/user: `deleted`, `is_bot`, `is_app_user`, `is_restricted`,
/// `is_ultra_restricted`, `is_stranger`, `team_id`, `enterprise_user`). Someone whose `team_id`
/// is not ours is from another organisation (Slack Connect,
/// https://api.slack.com/apis/channels-between-orgs: "users originating from other teams"),
/// unless they are in our Enterprise Grid organisation, whose members may belong to another of
/// its workspaces. A bot stays a bot when deactivated; otherwise deactivation comes first.
fn kind_of(info: &UserInfo, home: &Home) -> Membership {
    let same_org = home.enterprise_id.is_some() && info.enterprise_id == home.enterprise_id;
    let other_team = info
        .team_id
        .as_deref()
        .is_some_and(|t| !t.is_empty() && t != home.team_id);
    if info.is_bot || info.is_app_user || info.id == SLACKBOT {
        Membership::Bot
    } else if info.deleted {
        Membership::Deactivated
    } else if info.is_stranger || (other_team && !same_org) {
        Membership::External
    } else if info.restricted {
        Membership::Guest
    } else {
        Membership::Member
    }
}

impl SlackDirectory {
    pub fn new(api: SlackApi, home: Home) -> Self {
        SlackDirectory {
            api,
            home,
            cache: Remembered::default(),
            accounts: Remembered::default(),
        }
    }
}

impl SlackDirectory {
    async fn account(&self, user: &SlackUserId) -> Result<Account, String> {
        if let Some((at, a)) = self.accounts.get(user)
            && at.elapsed() < FRESH_FOR
        {
            return Ok(a);
        }
        let info = self
            .api
            .user_info(user.as_str())
            .await
            .map_err(|e| e.to_string())?;
        let account = Account {
            membership: kind_of(&info, &self.home),
            tz: info.tz,
        };
        self.accounts
            .keep(user.clone(), (Instant::now(), account.clone()));
        Ok(account)
    }

    /// Whether the person is a bot or app. An account never turns into a bot or out of one, so a
    /// cached answer of any age stands: expanding a group costs users.info calls only for people
    /// not seen before.
    async fn is_bot(&self, user: &SlackUserId) -> Result<bool, String> {
        let known = self
            .accounts
            .get(user)
            .map(|(_, a)| a.membership == Membership::Bot);
        match known {
            Some(bot) => Ok(bot),
            None => Ok(self.account(user).await?.membership == Membership::Bot),
        }
    }
}

#[async_trait::async_trait]
impl Directory for SlackDirectory {
    async fn members_of(&self, group: &GroupId) -> Result<Vec<SlackUserId>, String> {
        if let Some((at, members)) = self.cache.get(group)
            && at.elapsed() < FRESH_FOR
        {
            return Ok(members);
        }
        let listed: Vec<SlackUserId> = self
            .api
            .usergroup_members(group.as_str())
            .await
            .map_err(|e| e.to_string())?
            .iter()
            .filter_map(|u| SlackUserId::parse(u).ok())
            .collect();
        // Bots in a group are not people: they never count as reviewers, admins or requesters.
        let mut members = Vec::with_capacity(listed.len());
        for u in listed {
            if !self.is_bot(&u).await? {
                members.push(u);
            }
        }
        self.cache
            .keep(group.clone(), (Instant::now(), members.clone()));
        Ok(members)
    }

    async fn membership_of(&self, user: &SlackUserId) -> Result<Membership, String> {
        Ok(self.account(user).await?.membership)
    }

    async fn time_zone_of(&self, user: &SlackUserId) -> Result<Option<String>, String> {
        Ok(self.account(user).await?.tz)
    }

    fn forget_group(&self, group: &GroupId) {
        self.cache.forget(group);
    }

    fn forget_user(&self, user: &SlackUserId) {
        self.accounts.forget(user);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn info(id: &str) -> UserInfo {
        UserInfo {
            id: id.into(),
            name: id.into(),
            email: None,
            tz: None,
            deleted: false,
            restricted: false,
            is_bot: false,
            is_app_user: false,
            is_stranger: false,
            team_id: Some("T0HOME".into()),
            enterprise_id: None,
        }
    }

    #[test]
    fn the_user_objects_fields_tell_every_kind_of_account_apart() {
        let home = Home {
            team_id: "T0HOME".into(),
            enterprise_id: None,
        };
        let kind = |u: UserInfo| kind_of(&u, &home);
        assert_eq!(kind(info("U1")), Membership::Member);
        assert_eq!(
            kind(UserInfo {
                restricted: true,
                ..info("U1")
            }),
            Membership::Guest
        );
        assert_eq!(
            kind(UserInfo {
                deleted: true,
                restricted: true,
                ..info("U1")
            }),
            Membership::Deactivated
        );
        assert_eq!(
            kind(UserInfo {
                is_stranger: true,
                ..info("U1")
            }),
            Membership::External
        );
        assert_eq!(
            kind(UserInfo {
                team_id: Some("T0OTHER".into()),
                ..info("U1")
            }),
            Membership::External
        );
        for bot in [
            UserInfo {
                is_bot: true,
                ..info("U1")
            },
            UserInfo {
                is_app_user: true,
                ..info("U1")
            },
            UserInfo {
                is_bot: true,
                deleted: true,
                ..info("U1")
            },
            info(SLACKBOT),
        ] {
            assert_eq!(kind(bot), Membership::Bot);
        }
    }

    #[test]
    fn another_workspace_of_our_enterprise_grid_org_is_not_external() {
        let home = Home {
            team_id: "T0HOME".into(),
            enterprise_id: Some("E0ORG".into()),
        };
        let colleague = UserInfo {
            team_id: Some("T0SISTER".into()),
            enterprise_id: Some("E0ORG".into()),
            ..info("W1")
        };
        assert_eq!(kind_of(&colleague, &home), Membership::Member);
        let outsider = UserInfo {
            team_id: Some("T0ELSE".into()),
            enterprise_id: Some("E0ELSE".into()),
            ..info("W2")
        };
        assert_eq!(kind_of(&outsider, &home), Membership::External);
    }
}
