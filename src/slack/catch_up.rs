//! ✅ and ❌ that Gatehouse never heard. Slack delivers Socket Mode events only to a connected
//! app, so a reaction given while no Gatehouse process was connected (a deploy, an outage) is
//! never sent; and one acked by a process that died before deciding is not sent again. At start
//! and every 30 seconds, the reactions on the posts of pending requests are read back
//! (`reactions.get`) and each ✅ or ❌ of a person who never decided on the request is taken
//! as if it had just been given: a ❌ asks its reviewer (once per process) to confirm the denial
//! and say why, as a live ❌ does; a ✅ approves. Someone who decided before is passed over, even if their approval was since cleared
//! (a new account chosen): a ✅ left on the card must not bring it back.
//! Deciding is idempotent (the approval rows, one decider per request), so several processes
//! catching up at once, or a live event and a catch-up, count each person once.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use super::context::SlackContext;
use super::handlers::events::{ask_before_denying, is_approval, is_denial};
use crate::domain::{RequestId, SlackUserId, Status};
use crate::store::requests::Request;
use crate::workflow::{Via, WorkflowError};

/// How often the reactions of pending requests are read back.
pub const CATCH_UP_EVERY: Duration = Duration::from_secs(30);

/// Reactions already tried and refused (a person who may not decide), so that each is tried
/// once per process rather than every round.
#[derive(Default)]
pub struct Tried(Mutex<HashSet<(RequestId, String, bool)>>);

impl Tried {
    fn before(&self, id: RequestId, user: &SlackUserId, approve: bool) -> bool {
        let key = (id, user.to_string(), approve);
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&key)
    }

    /// Remembers a refusal; a failure that may pass (the database, Slack's directory) is tried
    /// again next round.
    fn refused(&self, id: RequestId, user: &SlackUserId, approve: bool, e: &WorkflowError) {
        if matches!(
            e,
            WorkflowError::Store(_) | WorkflowError::Directory(_) | WorkflowError::External(_)
        ) {
            return;
        }
        let key = (id, user.to_string(), approve);
        self.0.lock().unwrap_or_else(|e| e.into_inner()).insert(key);
    }
}

/// Reads back the reactions of every pending request's post and applies those not applied;
/// returns how many decisions it made.
pub async fn catch_up(ctx: &SlackContext, tried: &Tried) -> usize {
    let pending = match ctx.workflow.requests_in(Status::Pending).await {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "cannot list pending requests to catch up on reactions");
            return 0;
        }
    };
    let mut applied = 0;
    for request in pending {
        applied += catch_up_request(ctx, tried, &request).await;
    }
    if applied > 0 {
        tracing::info!(
            applied,
            "applied reactions given while Gatehouse was not listening"
        );
    }
    applied
}

async fn catch_up_request(ctx: &SlackContext, tried: &Tried, request: &Request) -> usize {
    let (Some(channel), Some(ts)) = (&request.slack_channel, &request.slack_ts) else {
        return 0;
    };
    let reactions = match ctx.api.reactions_of(channel, ts).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(request = request.id.get(), error = %e, "cannot read a request's reactions");
            return 0;
        }
    };
    // Most cards carry no ✅ or ❌ yet: nothing more to read for them this round.
    if !reactions
        .iter()
        .any(|(name, _)| is_approval(name) || is_denial(name))
    {
        return 0;
    }
    // Someone who decided already is never decided for again from a reaction left on the card:
    // their approval may have stopped counting on purpose (a new account was chosen).
    let decided = match ctx.workflow.deciders_of(request.id).await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(request = request.id.get(), error = %e, "cannot read who decided; catching up later");
            return 0;
        }
    };
    let people = |want: fn(&str) -> bool| -> Vec<SlackUserId> {
        reactions
            .iter()
            .filter(|(name, _)| want(name))
            .flat_map(|(_, users)| users.iter())
            .filter(|u| **u != ctx.bot_user)
            .filter_map(|u| SlackUserId::parse(u).ok())
            .filter(|u| !decided.contains(u))
            .collect()
    };
    // A ❌ asks its reviewer before it denies, as a live one does: once per process.
    for user in people(is_denial) {
        if tried.before(request.id, &user, false)
            || !ctx.denials_asked.first_time(request.id, &user)
        {
            continue;
        }
        if let Err(e) = ask_before_denying(ctx, channel, &user, request).await {
            tried.refused(request.id, &user, false, &e);
        }
    }
    let mut applied = 0;
    for user in people(is_approval) {
        if tried.before(request.id, &user, true) {
            continue;
        }
        match ctx.workflow.approve(request.id, &user, Via::Reaction).await {
            Ok(_) => applied += 1,
            Err(e) => {
                tracing::debug!(request = request.id.get(), user = %user, error = %e, "a reaction read back decided nothing");
                tried.refused(request.id, &user, true, &e);
            }
        }
    }
    applied
}
