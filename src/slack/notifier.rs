//! Delivers notices in Slack: the request's channel message (posted once, then updated) with
//! a thread note per step, DMs to the requester (times in their zone) and to reviewers.

use std::sync::{Arc, RwLock};

use super::api::{SlackApi, SlackError};
use super::ended::Ended;
use super::remembered::Remembered;
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
    /// Time zones and names by user, so that each DM or note does not cost a users.info call.
    people: Remembered<String, Person>,
    /// DM channels by user: a person's DM with the bot keeps its ID, so each DM does not cost
    /// a conversations.open call.
    dm_channels: Remembered<String, String>,
}

/// What notices need of a person.
#[derive(Clone)]
struct Person {
    tz: Option<String>,
    name: String,
}

/// Replaces `from` with `to` in every string of `v`.
fn replace_in(v: &mut serde_json::Value, from: &str, to: &str) {
    match v {
        serde_json::Value::String(s) if s.contains(from) => *s = s.replace(from, to),
        serde_json::Value::Array(a) => a.iter_mut().for_each(|x| replace_in(x, from, to)),
        serde_json::Value::Object(o) => o.values_mut().for_each(|x| replace_in(x, from, to)),
        _ => {}
    }
}

/// Everyone `msg` mentions, in its text or its blocks.
fn mentions_in(msg: &views::Message) -> Vec<String> {
    let mut all = crate::slack::mrkdwn::mentioned(&msg.text);
    for u in crate::slack::mrkdwn::mentioned(&msg.blocks.to_string()) {
        if !all.contains(&u) {
            all.push(u);
        }
    }
    all
}

/// The people (not groups) among `principals`.
fn users_in(principals: &[Principal]) -> Vec<String> {
    principals
        .iter()
        .filter_map(|p| match p {
            Principal::User(u) => Some(u.to_string()),
            Principal::Group(_) => None,
        })
        .collect()
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
            people: Remembered::default(),
            dm_channels: Remembered::default(),
        }
    }

    async fn dm_channel(&self, user: &str) -> Result<String, SlackError> {
        if let Some(c) = self.dm_channels.get(user) {
            return Ok(c);
        }
        let channel = self.api.open_dm(user).await?;
        self.dm_channels.keep(user.to_owned(), channel.clone());
        Ok(channel)
    }

    /// The person's time zone and name, from users.info once per process.
    async fn person(&self, user: &str) -> Option<Person> {
        if let Some(p) = self.people.get(user) {
            return Some(p);
        }
        match self.api.user_info(user).await {
            Ok(info) => {
                let p = Person {
                    tz: info.tz,
                    name: info.name,
                };
                self.people.keep(user.to_owned(), p.clone());
                Some(p)
            }
            Err(e) => {
                tracing::warn!(user, error = %e, "cannot look up a person");
                None
            }
        }
    }

    async fn zone_of(&self, user: &str) -> Option<String> {
        self.person(user).await.and_then(|p| p.tz)
    }

    /// `msg` with each person it mentions shown by name instead, except those in `to_ping`: a
    /// mention notifies, and a thread note must not ping people for what they did themselves
    /// (or what someone else did). Someone who cannot be looked up stays mentioned.
    async fn quietly(&self, mut msg: views::Message, to_ping: &[String]) -> views::Message {
        for user in mentions_in(&msg) {
            if to_ping.contains(&user) {
                continue;
            }
            if let Some(p) = self.person(&user).await {
                let (mention, name) = (crate::slack::mrkdwn::user(&user), views::escape(&p.name));
                msg.text = msg.text.replace(&mention, &name);
                replace_in(&mut msg.blocks, &mention, &name);
            }
        }
        msg
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
        // When first posted, the card pings only who can approve it; an edit pings no one, so
        // later versions keep their mentions, which Slack shows as links. It never pings its
        // requester: the request is their own doing.
        let card = views::request_message(r, resource, progress, ended.as_ref());
        // With `notify_reviewers = "dm"` they are told in their DMs instead, once.
        let by_dm = resource.notify_reviewers == crate::config::NotifyReviewers::Dm;
        let to_ping: Vec<String> = match (&r.slack_channel, &r.slack_ts) {
            (Some(_), Some(_)) => mentions_in(&card),
            _ if by_dm => Vec::new(),
            _ => progress
                .map(|p| users_in(&p.can_approve))
                .unwrap_or_default(),
        }
        .into_iter()
        .filter(|u| u != r.requester.as_str())
        .collect();
        let card = self.quietly(card, &to_ping).await;
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
        if notice != Notice::Submitted && !super::notes::repeats_the_card(notice) {
            let note = match notice {
                Notice::IdentityChosen => {
                    super::notes::identity_chosen(r, context.chosen_by.as_ref())
                }
                _ => super::notes::thread_note(
                    r,
                    resource,
                    notice,
                    progress,
                    ended.as_ref(),
                    &context.to_act,
                ),
            };
            // Only those who must act now are pinged: the note's own reviewers or admins.
            let mut to_ping = users_in(&context.to_act);
            if matches!(notice, Notice::ApprovalCounted | Notice::LapsesSoon)
                && let Some(p) = progress
            {
                to_ping.extend(users_in(&p.can_approve));
            }
            let note = self.quietly(note, &to_ping).await;
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
                let msg = match notice {
                    Notice::Submitted => {
                        dms::review_request(request, resource, request.slack_channel.as_deref())
                    }
                    _ => dms::reviewer_dm(request, resource, notice, context.error.as_deref()),
                };
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
