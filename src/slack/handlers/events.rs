//! Events: ✅ and ❌ reactions on request messages, App Home being opened, and user groups and
//! people changing (which makes the directory forget what it remembered of them).

use serde_json::Value;

use super::{Malformed, say, str_at, user_at};
use crate::domain::{GroupId, SlackUserId};
use crate::slack::context::SlackContext;
use crate::slack::{home, views};
use crate::workflow::{Via, WorkflowError};

/// ✅ in any of its spellings and skin tones.
pub fn is_approval(reaction: &str) -> bool {
    let base = reaction.split("::").next().unwrap_or(reaction);
    matches!(base, "white_check_mark" | "heavy_check_mark")
}

pub fn is_denial(reaction: &str) -> bool {
    let base = reaction.split("::").next().unwrap_or(reaction);
    matches!(base, "x" | "no_entry")
}

/// `reaction_added`: a reviewer's ✅ approves; a ❌ asks them, alone, to confirm the denial and
/// say why (a stray ❌ denies nothing, and the requester hears a reason). Anything else, or on
/// any other message, is ignored. A refused ✅ or ❌ is explained to its author alone.
pub async fn reaction_added(ctx: &SlackContext, event: &Value) -> Result<(), Malformed> {
    let reaction = str_at(event, "/reaction")?;
    let approve = is_approval(reaction);
    if !approve && !is_denial(reaction) {
        return Ok(());
    }
    if event.pointer("/item/type").and_then(Value::as_str) != Some("message") {
        return Ok(());
    }
    let channel = str_at(event, "/item/channel")?;
    let ts = str_at(event, "/item/ts")?;
    if str_at(event, "/user")? == ctx.bot_user {
        return Ok(());
    }
    let user = user_at(event, "/user")?;
    let ours = event.pointer("/item_user").and_then(Value::as_str) == Some(ctx.bot_user.as_str());
    let Some(request) = request_of_message(ctx, channel, ts, ours).await else {
        return Ok(());
    };
    let result = if approve {
        ctx.workflow
            .approve(request.id, &user, Via::Reaction)
            .await
            .map(drop)
    } else {
        ctx.denials_asked.first_time(request.id, &user);
        ask_before_denying(ctx, channel, &user, &request).await
    };
    let Err(e) = result else { return Ok(()) };
    // The same person reacting again, or Slack redelivering: the decision stands, say nothing.
    if matches!(e, WorkflowError::Illegal(_) | WorkflowError::Conflict(_))
        && request.decided_by.as_deref() == Some(user.as_str())
    {
        return Ok(());
    }
    if let WorkflowError::Illegal(_) | WorkflowError::Conflict(_) = e
        && let Ok(now) = ctx.workflow.request(request.id).await
        && now.decided_by.as_deref() == Some(user.as_str())
    {
        return Ok(());
    }
    let text = format!(
        "Your reaction on request #{} did nothing: {}.",
        request.id.get(),
        say(&e)
    );
    tell_after_the_ack(ctx, channel, &user, views::note(&text), || ());
    Ok(())
}

/// Shows `msg` to `user` alone in `channel`, after the ack: what is said changes nothing, so the
/// reaction's ack need not wait for Slack to take it. `missed` runs if Slack does not take it.
fn tell_after_the_ack(
    ctx: &SlackContext,
    channel: &str,
    user: &SlackUserId,
    msg: views::Message,
    missed: impl FnOnce() + Send + 'static,
) {
    let (api, channel, user) = (ctx.api.clone(), channel.to_owned(), user.to_string());
    tokio::spawn(async move {
        if let Err(e) = api.post_ephemeral(&channel, &user, &msg).await {
            tracing::warn!(error = %e, "cannot tell a reviewer about their reaction");
            missed();
        }
    });
}

/// After a ❌: asks `user`, in `channel` and to them alone, whether to deny `request` and why
/// (the card's own Deny, which opens the reason form). Refused as a denial would be, when they
/// may not deny it now.
pub async fn ask_before_denying(
    ctx: &SlackContext,
    channel: &str,
    user: &SlackUserId,
    request: &crate::store::requests::Request,
) -> Result<(), WorkflowError> {
    let current = ctx.workflow.may_deny(request.id, user).await?;
    // Not asked after all if Slack did not take it: the catch-up asks again.
    let (asked, who, id) = (ctx.denials_asked.clone(), user.clone(), request.id);
    let missed = move || asked.forget(id, &who);
    tell_after_the_ack(ctx, channel, user, views::deny_ask(&current), missed);
    Ok(())
}

/// The request whose channel message this is. The message is posted before its place is stored,
/// so a ✅ on a message of ours that arrives in that instant is looked up again, briefly.
async fn request_of_message(
    ctx: &SlackContext,
    channel: &str,
    ts: &str,
    ours: bool,
) -> Option<crate::store::requests::Request> {
    let tries = if ours { 25 } else { 1 };
    for attempt in 0..tries {
        match ctx.workflow.request_by_message(channel, ts).await {
            Ok(Some(r)) => return Some(r),
            Ok(None) if attempt + 1 < tries => {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            Ok(None) => return None,
            Err(e) => {
                tracing::error!(error = %e, "cannot look up the request of a reacted message");
                return None;
            }
        }
    }
    None
}

/// `app_home_opened` on the Home tab: publish the person's Home.
pub async fn app_home_opened(ctx: &SlackContext, event: &Value) -> Result<(), Malformed> {
    if event.pointer("/tab").and_then(Value::as_str) == Some("messages") {
        return Ok(());
    }
    let user = user_at(event, "/user")?;
    home::publish(ctx, &user).await;
    Ok(())
}

/// A user group or a person changed in Slack: the directory forgets what it remembered, so the
/// next decision (a ✅, a question) sees reviewers added or removed at once, not minutes later.
/// Payloads as Slack documents them:
/// - `subteam_members_changed` names the group in `subteam_id`, with only the members added and
///   removed (https://docs.slack.dev/reference/events/subteam_members_changed/);
/// - `subteam_updated` carries the whole group in `subteam`, its `users` cut at 500, so it is
///   a reason to ask again, never the list itself (https://docs.slack.dev/reference/events/subteam_updated/);
/// - `user_change` carries the person in `user` (https://docs.slack.dev/reference/events/user_change/).
pub fn directory_changed(ctx: &SlackContext, event: &Value) -> Result<(), Malformed> {
    match event.get("type").and_then(Value::as_str) {
        Some("subteam_members_changed") => {
            ctx.directory.forget_group(&group_at(event, "/subteam_id")?)
        }
        Some("subteam_updated") => ctx.directory.forget_group(&group_at(event, "/subteam/id")?),
        Some("user_change") => {
            let user: SlackUserId = user_at(event, "/user/id")?;
            ctx.directory.forget_user(&user);
        }
        _ => {}
    }
    Ok(())
}

fn group_at(v: &Value, pointer: &'static str) -> Result<GroupId, Malformed> {
    GroupId::parse(str_at(v, pointer)?).map_err(|e| Malformed::Invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_check_mark_counts_and_nothing_else() {
        for r in [
            "white_check_mark",
            "heavy_check_mark",
            "white_check_mark::skin-tone-4",
        ] {
            assert!(is_approval(r), "{r}");
        }
        for r in ["heart", "ballot_box_with_check", "check", "+1"] {
            assert!(!is_approval(r), "{r}");
        }
        assert!(is_denial("x"));
    }
}
