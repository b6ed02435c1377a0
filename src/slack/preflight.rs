//! The catalog checked against the Slack workspace at start: every channel it names is one
//! Gatehouse can post in, every user group exists, and every approval stage has enough people
//! to be met. A catalog that cannot work stops the start with what to fix. So does an Access
//! Requests channel Gatehouse cannot post in: otherwise every request would fail later.

use crate::config::Catalog;
use crate::domain::{GroupId, Principal};

use super::api::{SlackApi, SlackError};

/// Where the Access Requests channel was set, for saying how to fix it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelSource {
    /// `ACCESS_REQUESTS_CHANNEL`.
    Environment,
    /// An admin's `/access-admin channel`, which takes precedence over the environment.
    ChosenInSlack,
}

/// Why Gatehouse cannot post in the Access Requests channel `channel`, in words that say how to
/// fix it; None when it can. Read like the catalog's channels (a member can read its history).
pub async fn requests_channel(
    api: &SlackApi,
    channel: &str,
    source: ChannelSource,
) -> Result<Option<String>, SlackError> {
    let whence = match source {
        ChannelSource::Environment => "ACCESS_REQUESTS_CHANNEL",
        ChannelSource::ChosenInSlack => {
            "chosen with `/access-admin channel`, which takes precedence over ACCESS_REQUESTS_CHANNEL"
        }
    };
    let instead = match source {
        ChannelSource::Environment => {
            "or set ACCESS_REQUESTS_CHANNEL to the ID of a channel Gatehouse is in"
        }
        ChannelSource::ChosenInSlack => "then start Gatehouse again",
    };
    match api.can_read(channel).await {
        Ok(()) => Ok(None),
        Err(e) => match e.code() {
            Some("not_in_channel") => Ok(Some(format!(
                "Gatehouse is not a member of the Access Requests channel {channel} ({whence}), so no request could be posted; `/invite @Gatehouse` in that channel, {instead}"
            ))),
            Some("channel_not_found") => Ok(Some(format!(
                "Gatehouse cannot see the Access Requests channel {channel} ({whence}); check the ID (channel details, at the bottom), and if the channel is private `/invite @Gatehouse` there first, {instead}"
            ))),
            _ => Err(e),
        },
    }
}

/// What does not fit, one line each; or the error that kept us from looking.
pub async fn check(api: &SlackApi, catalog: &Catalog) -> Result<Vec<String>, SlackError> {
    let mut problems = Vec::new();

    let mut channels: Vec<(&str, String)> = Vec::new();
    for c in catalog.connectors.values() {
        if let Some(ch) = &c.channel {
            channels.push((ch, format!("connector `{}`", c.id)));
        }
    }
    for r in &catalog.resources {
        if let Some(ch) = &r.channel
            && !channels.iter().any(|(c, _)| c == ch)
        {
            channels.push((ch, format!("resource `{}`", r.id)));
        }
    }
    for (channel, whose) in channels {
        match api.can_read(channel).await {
            Ok(()) => {}
            Err(e) => match e.code() {
                Some("not_in_channel") => problems.push(format!(
                    "{whose} posts in channel {channel}, where Gatehouse is not a member; `/invite @Gatehouse` there"
                )),
                Some("channel_not_found") => problems.push(format!(
                    "{whose} names channel {channel}, which Gatehouse cannot see; check the ID, and invite Gatehouse first if it is private"
                )),
                _ => return Err(e),
            },
        }
    }

    // Each group once; the sizes feed the stage check below.
    let mut groups: Vec<(GroupId, Option<Vec<String>>)> = Vec::new();
    for p in &catalog.named_principals() {
        if let Principal::Group(g) = p
            && !groups.iter().any(|(known, _)| known == g)
        {
            let members = match api.usergroup_members(g.as_str()).await {
                Ok(m) => Some(m),
                Err(e) if e.code() == Some("no_such_subteam") => {
                    problems.push(format!(
                        "user group {g} does not exist in this workspace; copy the group's ID again (it looks like S0614TZR7)"
                    ));
                    None
                }
                Err(e) => return Err(e),
            };
            groups.push((g.clone(), members));
        }
    }

    for r in &catalog.resources {
        for (n, stage) in r.approval.iter().enumerate() {
            if stage
                .reviewers
                .iter()
                .all(|p| matches!(p, Principal::User(_)))
            {
                continue; // counted when the catalog was read
            }
            let mut people: Vec<String> = Vec::new();
            for p in &stage.reviewers {
                let found = match p {
                    Principal::User(u) => vec![u.to_string()],
                    Principal::Group(g) => groups
                        .iter()
                        .find(|(known, _)| known == g)
                        .and_then(|(_, m)| m.clone())
                        .unwrap_or_default(),
                };
                for u in found {
                    if !people.contains(&u) {
                        people.push(u);
                    }
                }
            }
            if let Err(why) = stage.need.check_reachable(people.len()) {
                problems.push(format!(
                    "resource `{}`: approval stage {} {why} (user groups as they are now in Slack)",
                    r.id,
                    n + 1
                ));
            }
        }
    }
    Ok(problems)
}
