//! What a requester is told the moment their request is submitted, by the one-line command and
//! by the form alike: its number, who reviews it and where, when it lapses if nobody decides,
//! and that a DM follows. Said in the ack, so it names no one in a way that notifies them.

use crate::config::Resource;
use crate::slack::context::SlackContext;
use crate::slack::views::{escape, slack_date};
use crate::store::requests::Request;

/// The confirmation of request `r`, just submitted for `resource`.
pub async fn confirmation(ctx: &SlackContext, r: &Request, resource: &Resource) -> String {
    // Two reads the reply (and so the ack) waits for: made together.
    let channel = async {
        match resource.channel.clone() {
            Some(c) => c,
            None => match ctx.workflow.requests_channel().await {
                Ok(Some(c)) => c,
                _ => ctx.channel.get(),
            },
        }
    };
    let (channel, reviewers) = tokio::join!(channel, ctx.reviewer_mentions(resource));
    let from = r
        .starts_at
        .map(|at| format!(", from {}", slack_date(at)))
        .unwrap_or_default();
    let who = if reviewers.is_empty() {
        "No reviewer is named for it yet (a Gatehouse admin can add one); it waits".to_owned()
    } else {
        format!("{} review{} it", reviewers.join(", "), plural(&reviewers))
    };
    let first = if resource.auto_approve.is_empty() {
        String::new()
    } else {
        "Gatehouse checks its auto-approval rules first; if none applies, ".to_owned()
    };
    let lapse = slack_date(crate::workflow::lapse_at(r, resource.lapse_after));
    format!(
        "✅ Request #{} for *{}* ({}{from}) is submitted. {first}{who} in <#{channel}>; if nobody decides by {lapse}, it lapses. You will get a DM when it is decided.",
        r.id.get(),
        escape(&resource.name),
        r.duration,
    )
}

/// "review" for several, "reviews" for one person or group.
fn plural(names: &[String]) -> &'static str {
    if names.len() == 1 { "s" } else { "" }
}
