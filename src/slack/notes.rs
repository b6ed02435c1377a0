//! The notes in a request's thread: one line for each step, the change an admin makes by
//! hand, and who chose the account. Only those who must act are mentioned (see the notifier).

use serde_json::json;

use super::ended::Ended;
use super::mrkdwn::user;
use super::views::{
    Message, asking_first, button, decider, decider_review, escape, principals, section, slack_date,
};
use crate::config::Resource;
use crate::domain::{Principal, Status};
use crate::store::requests::Request;
use crate::workflow::{Notice, Progress};

/// What a person must do by hand, from the resource's `grant` (e.g. `task = "…"`).
fn task_of(resource: &Resource) -> String {
    match &resource.grant {
        crate::domain::Unit::Task { task } => escape(task),
        other => format!("give the {}", escape(&other.to_string())),
    }
}

/// The thread message asking an admin to make a change by hand, with Done and Failed buttons.
fn by_hand(r: &Request, resource: &Resource, grant: bool, admins: &str) -> Message {
    let id = r.id.get();
    let who = r
        .identity
        .as_deref()
        .map(|i| format!("`{}`", escape(i)))
        .unwrap_or_else(|| user(r.requester.as_str()));
    let text = if grant {
        format!(
            "🛠️ *By hand, for an admin* ({admins}): {} — for {who}, then press Done.",
            task_of(resource)
        )
    } else {
        format!(
            "🛠️ *By hand, for an admin* ({admins}): undo this for {who}: {}. Then press Done.",
            task_of(resource)
        )
    };
    let kind = if grant { "grant" } else { "revoke" };
    Message {
        blocks: json!([
            section(text.clone()),
            {
                "type": "actions",
                "block_id": format!("by_hand_{kind}"),
                "elements": [
                    button("Done", "by_hand_done", format!("{kind}:{id}"), Some("primary")),
                    asking_first(
                        button("Failed", "by_hand_failed", format!("{kind}:{id}"), Some("danger")),
                        "Record this task as failed?",
                        &format!("Gatehouse records that the change for request #{id} could not be made by hand, and tells the people waiting on it."),
                        "It failed",
                    ),
                ]
            }
        ]),
        text,
    }
}

/// The thread note for an identity chosen: by whom, and what reviewers must now check. A
/// request sent back to its reviewers says that earlier approvals no longer count.
pub fn identity_chosen(r: &Request, by: Option<&crate::audit::Actor>) -> Message {
    let who = match by {
        Some(crate::audit::Actor::User(u)) => user(u.as_str()),
        _ => "Gatehouse".to_owned(),
    };
    let identity = escape(r.identity.as_deref().unwrap_or("?"));
    let requester = user(r.requester.as_str());
    let text = if r.status == Status::Pending {
        format!(
            "🔁 {who} chose `{identity}` as the account to grant to. Approvals given before it was chosen no longer count: approve (✅) only if it is {requester}'s own."
        )
    } else {
        format!("🔁 {who} chose `{identity}` as the account to grant to; granting it now.")
    };
    Message {
        blocks: json!([section(text.clone())]),
        text,
    }
}

/// Steps the card shows in full once updated (granted, with its account and end; expired and
/// removed): a note would repeat it. The thread keeps decisions and exceptions.
pub fn repeats_the_card(notice: Notice) -> bool {
    matches!(notice, Notice::Active | Notice::Expired)
}

/// A line in the request's thread for each step.
pub fn thread_note(
    r: &Request,
    resource: &Resource,
    notice: Notice,
    progress: Option<&Progress>,
    ended: Option<&Ended>,
    to_act: &[Principal],
) -> Message {
    // Those who must act are mentioned, so that Slack tells them; else "a reviewer".
    let named = |fallback: &str| {
        if to_act.is_empty() {
            fallback.to_owned()
        } else {
            principals(to_act)
        }
    };
    match notice {
        Notice::IdentityNeeded => {
            let text = format!(
                "❓ Approved — which platform user or role should get this access? {}: please choose it here (request #{}).",
                named("A reviewer"),
                r.id.get()
            );
            return Message {
                blocks: json!([
                    section(text.clone()),
                    { "type": "actions", "block_id": "identity_needed", "elements": [
                        button("Choose role or identity", "choose_identity", r.id.get().to_string(), Some("primary"))
                    ] }
                ]),
                text,
            };
        }
        Notice::ExtensionRequested { minutes, ask } => {
            let more = crate::domain::GrantDuration::from_minutes(minutes)
                .map(|d| d.to_string())
                .unwrap_or_else(|| format!("{minutes}m"));
            let text = format!(
                "⏩ {} asks for {more} more (request #{}). {}, please decide:",
                user(r.requester.as_str()),
                r.id.get(),
                named("A reviewer")
            );
            // The buttons decide this ask, once; the request is found from it.
            let value = format!("ask:{ask}");
            return Message {
                blocks: json!([
                    section(text.clone()),
                    { "type": "actions", "block_id": "extension", "elements": [
                        button("Approve extension", "extend_approve", value.clone(), Some("primary")),
                        asking_first(
                            button("Deny extension", "extend_deny", value, Some("danger")),
                            "Deny more time?",
                            &format!("The access of request #{} ends as planned; the holder is told.", r.id.get()),
                            "Deny extension",
                        ),
                    ] }
                ]),
                text,
            };
        }
        Notice::GrantByHand => return by_hand(r, resource, true, &named("an admin")),
        Notice::RevokeByHand => return by_hand(r, resource, false, &named("an admin")),
        _ => {}
    }
    let by = decider(r);
    let text = match notice {
        Notice::GrantByHand
        | Notice::RevokeByHand
        | Notice::IdentityNeeded
        | Notice::IdentityChosen
        | Notice::ExtensionRequested { .. }
        // Not posted: the card says it (`repeats_the_card`).
        | Notice::Active
        | Notice::Expired => String::new(),
        Notice::ExpiringSoon => "⏰ Ends soon; the holder was reminded".into(),
        // Its reviewers are mentioned: this note is the reminder, once, before it lapses.
        Notice::LapsesSoon => format!(
            "⏳ Nobody has decided yet: request #{} lapses {} unless someone does. {}, please approve with ✅ or deny with ❌.",
            r.id.get(),
            progress
                .and_then(|p| p.lapses_at)
                .map(slack_date)
                .unwrap_or_else(|| "soon".into()),
            progress
                .map(|p| principals(&p.can_approve))
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "A reviewer".into())
        ),
        Notice::ExtensionDenied => "🚫 A reviewer did not grant more time".into(),
        Notice::Submitted => format!("{} asked for access", user(r.requester.as_str())),
        Notice::BreakGlass => format!(
            "<!here> 🚨 *Break-glass*: {} has this access now, without a review. A reviewer must review it (✅ on the request) or it is taken away.",
            user(r.requester.as_str())
        ),
        Notice::BreakGlassReviewed => format!("☑️ Break-glass access reviewed by {}", decider_review(r)),
        Notice::BreakGlassUnreviewed => {
            "🚨 Nobody reviewed this break-glass access in time: it was taken away and flagged".into()
        }
        // Only the reviewers of the stage now waiting are mentioned.
        Notice::ApprovalCounted => match progress {
            Some(p) => format!(
                "☑️ {} approved; step {} of {} needs {} more from {}",
                p.approved.last().map(|u| user(u.as_str())).unwrap_or_default(),
                p.step,
                p.steps,
                p.more,
                principals(&p.can_approve)
            ),
            None => "☑️ One more approval counted".into(),
        },
        Notice::Approved => format!("✅ Approved by {by}"),
        Notice::Denied => match &r.decision_note {
            Some(n) => format!("⛔ Denied by {by}: {}", escape(n)),
            None => format!("⛔ Denied by {by}"),
        },
        Notice::Cancelled => "🚫 Cancelled by the requester".into(),
        Notice::Lapsed => "💤 Lapsed: nobody reviewed it in time".into(),
        Notice::Extended => match r.expires_at {
            Some(at) => format!("⏩ Extended until {}", slack_date(at)),
            None => "⏩ Extended".into(),
        },
        Notice::ProvisioningFailed => "⚠️ Provisioning failed; the reviewers have been told".into(),
        Notice::RevocationFailing => {
            "⚠️ Removing this access keeps failing; Gatehouse keeps retrying and the reviewers and admins have been told".into()
        }
        Notice::DriftMissing { regranted: true } => {
            "🔎 The platform no longer held this access; Gatehouse granted it again".into()
        }
        Notice::DriftMissing { regranted: false } => {
            "🔎 The platform no longer holds this access; the reviewers and admins have been told".into()
        }
        Notice::DriftRevoked => {
            "🔎 The access was still on the platform after it ended; Gatehouse removed it".into()
        }
        Notice::NotDelivered => {
            "⚠️ Slack refused an update of this request; the requester and admins were told".into()
        }
        Notice::Revoked => match ended {
            Some(e) => e.thread_note(),
            None => "🔒 Revoked; access removed".into(),
        },
    };
    Message {
        blocks: json!([section(text.clone())]),
        text,
    }
}
