//! Delivers notices in Slack: the request's channel message (posted once, then updated) with
//! a thread note per step, DMs to the requester (times in their zone) and to reviewers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use super::api::{SlackApi, SlackError};
use super::{dms, views};
use crate::config::Resource;
use crate::domain::Principal;
use crate::store::requests::Request;
use crate::workflow::{Audience, ExternalError, MessageRef, Notice, NoticeContext, Notifier};

impl From<SlackError> for ExternalError {
    fn from(e: SlackError) -> Self {
        if e.is_retryable() {
            ExternalError::Retryable {
                message: e.to_string(),
                retry_after: e.retry_after(),
            }
        } else {
            ExternalError::Permanent(e.to_string())
        }
    }
}

/// The Access Requests channel, changeable at run time by admins.
#[derive(Clone)]
pub struct Channel(Arc<RwLock<String>>);

impl Channel {
    pub fn new(id: String) -> Self {
        Channel(Arc::new(RwLock::new(id)))
    }
    pub fn get(&self) -> String {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
    pub fn set(&self, id: String) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = id;
    }
}

pub struct SlackNotifier {
    api: SlackApi,
    channel: Channel,
    /// Time zones by user, so that each DM does not cost a users.info call.
    zones: Mutex<HashMap<String, Option<String>>>,
}

/// Codes that say the person cannot receive a DM any more (they left, or were deactivated).
fn gone(e: &SlackError) -> bool {
    matches!(
        e.code(),
        Some("user_not_found" | "user_disabled" | "account_inactive" | "cannot_dm_bot")
    )
}

impl SlackNotifier {
    pub fn new(api: SlackApi, channel: Channel) -> Self {
        SlackNotifier {
            api,
            channel,
            zones: Mutex::new(HashMap::new()),
        }
    }

    async fn zone_of(&self, user: &str) -> Option<String> {
        if let Some(z) = self
            .zones
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(user)
        {
            return z.clone();
        }
        let zone = match self.api.user_info(user).await {
            Ok(info) => info.tz,
            Err(e) => {
                tracing::warn!(user, error = %e, "no time zone for user; using UTC");
                None
            }
        };
        self.zones
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(user.to_owned(), zone.clone());
        zone
    }

    async fn dm(&self, user: &str, msg: &views::Message) -> Result<(), SlackError> {
        let result = async {
            let channel = self.api.open_dm(user).await?;
            self.api.post_message(&channel, msg, None).await.map(drop)
        }
        .await;
        match result {
            Err(e) if gone(&e) => {
                tracing::info!(user, error = %e, "not sending a DM: the person is no longer reachable");
                Ok(())
            }
            other => other,
        }
    }

    async fn to_channel(
        &self,
        r: &Request,
        resource: &Resource,
        notice: Notice,
        chosen: Option<&str>,
    ) -> Result<Option<MessageRef>, SlackError> {
        let card = views::request_message(r, resource);
        let (posted, at) = match (&r.slack_channel, &r.slack_ts) {
            (Some(channel), Some(ts)) => {
                self.api.update_message(channel, ts, &card).await?;
                (
                    None,
                    MessageRef {
                        channel: channel.clone(),
                        ts: ts.clone(),
                    },
                )
            }
            _ => {
                // An admin's choice is shared through the database; the environment's is the default.
                let channel = chosen
                    .map(str::to_owned)
                    .unwrap_or_else(|| self.channel.get());
                let ts = self.api.post_message(&channel, &card, None).await?;
                let at = MessageRef { channel, ts };
                (Some(at.clone()), at)
            }
        };
        if notice != Notice::Submitted {
            self.api
                .post_message(
                    &at.channel,
                    &views::thread_note(r, resource, notice),
                    Some(&at.ts),
                )
                .await?;
        }
        Ok(posted)
    }

    async fn reviewer_users(&self, reviewers: &[Principal]) -> Vec<String> {
        let mut users = Vec::new();
        for p in reviewers {
            match p {
                Principal::User(u) => users.push(u.to_string()),
                Principal::Group(g) => match self.api.usergroup_members(g.as_str()).await {
                    Ok(members) => users.extend(members),
                    Err(e) => {
                        tracing::warn!(group = %g, error = %e, "cannot list a reviewer group")
                    }
                },
            }
        }
        users.sort();
        users.dedup();
        users
    }
}

#[async_trait::async_trait]
impl Notifier for SlackNotifier {
    async fn notify(
        &self,
        request: &Request,
        resource: &Resource,
        notice: Notice,
        audience: Audience,
        context: &NoticeContext,
    ) -> Result<Option<MessageRef>, ExternalError> {
        match audience {
            Audience::Channel => Ok(self
                .to_channel(request, resource, notice, context.channel.as_deref())
                .await?),
            Audience::Requester => {
                let user = request.requester.as_str();
                let zone = self.zone_of(user).await;
                let msg = dms::requester_dm(request, resource, notice, zone.as_deref());
                self.dm(user, &msg).await?;
                Ok(None)
            }
            Audience::Reviewers => {
                let msg = dms::reviewer_dm(request, resource, notice, context.error.as_deref());
                for user in self.reviewer_users(&context.reviewers).await {
                    if user != request.requester.as_str() {
                        self.dm(&user, &msg).await?;
                    }
                }
                Ok(None)
            }
        }
    }
}
