//! Delivers notices in Slack: the request's channel message (posted once, then updated) with
//! a thread note per step, DMs to the requester (times in their zone) and to reviewers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use super::api::{SlackApi, SlackError};
use super::ended::Ended;
use super::{dms, views};
use crate::config::Resource;
use crate::domain::Principal;
use crate::store::requests::Request;
use crate::workflow::{
    Audience, Delivery, ExternalError, MessageRef, Notice, NoticeContext, Notifier,
};

/// How far before the job's creation a retry reads back: our clock and Slack's may differ a little.
const CLOCK_MARGIN_SECS: i64 = 300;

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
    /// DM channels by user: a person's DM with the bot keeps its ID, so each DM does not cost
    /// a conversations.open call.
    dm_channels: Mutex<HashMap<String, String>>,
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
            dm_channels: Mutex::new(HashMap::new()),
        }
    }

    async fn dm_channel(&self, user: &str) -> Result<String, SlackError> {
        if let Some(c) = self
            .dm_channels
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(user)
        {
            return Ok(c.clone());
        }
        let channel = self.api.open_dm(user).await?;
        self.dm_channels
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(user.to_owned(), channel.clone());
        Ok(channel)
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

    /// Posts `msg` once per delivery: a retry first looks for the message an earlier attempt
    /// posted (by its key `prefix:part`) and returns that one's `ts` instead of posting again.
    async fn post_once(
        &self,
        channel: &str,
        msg: &views::Message,
        thread_ts: Option<&str>,
        part: &str,
        delivery: Option<&Delivery>,
    ) -> Result<String, SlackError> {
        let Some(d) = delivery else {
            return self.api.post_message(channel, msg, thread_ts).await;
        };
        let key = format!("{}:{part}", d.key_prefix);
        if d.retry {
            let since = d.since - chrono::Duration::seconds(CLOCK_MARGIN_SECS);
            let oldest = format!(
                "{}.{:06}",
                since.timestamp().max(0),
                since.timestamp_subsec_micros()
            );
            match self
                .api
                .find_delivered(channel, thread_ts, &oldest, &key)
                .await
            {
                Ok(Some(ts)) => {
                    tracing::info!(
                        key,
                        "an earlier attempt delivered this message; not posting it again"
                    );
                    return Ok(ts);
                }
                Ok(None) => {}
                // An install that predates the history scopes still delivers, at least once.
                Err(e) if e.code() == Some("missing_scope") => {
                    tracing::warn!(key, error = %e, "cannot check for an earlier delivery; posting");
                }
                Err(e) => return Err(e),
            }
        }
        self.api.post_delivery(channel, msg, thread_ts, &key).await
    }

    async fn dm(
        &self,
        user: &str,
        msg: &views::Message,
        delivery: Option<&Delivery>,
    ) -> Result<(), SlackError> {
        let result = async {
            let channel = self.dm_channel(user).await?;
            self.post_once(&channel, msg, None, &format!("dm:{user}"), delivery)
                .await
                .map(drop)
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
        context: &NoticeContext,
    ) -> Result<Option<MessageRef>, SlackError> {
        let (chosen, delivery) = (context.channel.as_deref(), context.delivery.as_ref());
        let progress = context.progress.as_ref();
        let ended = Ended::of(r, context.ended_by.as_ref(), context.closed);
        let card = views::request_message(r, resource, progress, ended.as_ref());
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
                // A card an earlier attempt posted is found and recorded, not posted again.
                let ts = self
                    .post_once(&channel, &card, None, "card", delivery)
                    .await?;
                let at = MessageRef { channel, ts };
                // A reason too long for the card is kept whole in its thread.
                if let Some(full) = views::reason_in_full(r) {
                    self.post_once(&at.channel, &full, Some(&at.ts), "reason", delivery)
                        .await?;
                }
                (Some(at.clone()), at)
            }
        };
        if notice != Notice::Submitted {
            let note = match notice {
                Notice::IdentityChosen => views::identity_chosen(r, context.chosen_by.as_ref()),
                _ => views::thread_note(
                    r,
                    resource,
                    notice,
                    progress,
                    ended.as_ref(),
                    &context.to_act,
                ),
            };
            self.post_once(&at.channel, &note, Some(&at.ts), "note", delivery)
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
            Audience::Channel => Ok(self.to_channel(request, resource, notice, context).await?),
            Audience::Requester => {
                let user = request.requester.as_str();
                let zone = self.zone_of(user).await;
                let msg = match notice {
                    Notice::IdentityChosen => {
                        dms::identity_chosen(request, resource, context.chosen_by.as_ref())
                    }
                    Notice::NotDelivered => {
                        dms::not_delivered(request, resource, context.error.as_deref())
                    }
                    _ => dms::requester_dm(
                        request,
                        resource,
                        notice,
                        zone.as_deref(),
                        context.held_before,
                        Ended::of(request, context.ended_by.as_ref(), context.closed).as_ref(),
                    ),
                };
                self.dm(user, &msg, context.delivery.as_ref()).await?;
                Ok(None)
            }
            Audience::Reviewers => {
                let msg = dms::reviewer_dm(request, resource, notice, context.error.as_deref());
                for user in self.reviewer_users(&context.reviewers).await {
                    if user != request.requester.as_str() {
                        // Each reviewer has their own key: a retry after a failure
                        // halfway skips those already told.
                        self.dm(&user, &msg, context.delivery.as_ref()).await?;
                    }
                }
                Ok(None)
            }
        }
    }
}
