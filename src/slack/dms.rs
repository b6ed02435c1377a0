//! Direct messages: to the requester at each step (times in their own zone), and to reviewers
//! when provisioning fails.

use serde_json::json;

use super::ended::Ended;
use super::views::{
    Message, button, cancel_button, decider, escape, local_time, relinquish_button, section, user,
};
use crate::config::Resource;
use crate::store::requests::Request;
use crate::workflow::Notice;

/// The requester hears which account their access is to go to, so that a reviewer sending it
/// to another account does not go unseen.
pub fn identity_chosen(
    r: &Request,
    resource: &Resource,
    by: Option<&crate::audit::Actor>,
) -> Message {
    let who = match by {
        Some(crate::audit::Actor::User(u)) => format!("<@{u}>"),
        _ => "Gatehouse".to_owned(),
    };
    let text = format!(
        "🔁 {who} chose `{}` as the account your request #{} for *{}* is granted to. If it is not yours, say so in the request's thread.",
        escape(r.identity.as_deref().unwrap_or("?")),
        r.id.get(),
        escape(&resource.name)
    );
    Message {
        blocks: json!([section(text.clone())]),
        text,
    }
}

/// The DM the requester gets for a step, with times in their own zone. `ended`: who ended the
/// access early, when someone other than them did.
pub fn requester_dm(
    r: &Request,
    resource: &Resource,
    notice: Notice,
    tz: Option<&str>,
    held_before: bool,
    ended: Option<&Ended>,
) -> Message {
    if notice == Notice::ExpiringSoon {
        let until = r
            .expires_at
            .map(|at| local_time(at, tz))
            .unwrap_or_default();
        let text = format!(
            "⏰ Your access to *{}* ends {until}. Need more time? Ask the reviewers:",
            escape(&resource.name)
        );
        return Message {
            blocks: json!([
                section(text.clone()),
                { "type": "actions", "block_id": "expiring", "elements": [
                    button("Extend", "extend", r.id.get().to_string(), Some("primary")),
                    relinquish_button(r.id.get(), &escape(&resource.name)),
                ] }
            ]),
            text,
        };
    }
    let name = escape(&resource.name);
    let id = r.id.get();
    let by = decider(r);
    // Approved to start later: when, and a way to call it off until then.
    if let (Notice::Approved, Some(at)) = (notice, r.starts_at) {
        let text = format!(
            "✅ {by} approved your request #{id} for *{name}*. Your access starts {} and lasts {} from then.",
            local_time(at, tz),
            r.duration
        );
        return Message {
            blocks: json!([
                section(text.clone()),
                { "type": "actions", "block_id": "scheduled", "elements": [
                    cancel_button(id),
                ] }
            ]),
            text,
        };
    }
    // Ended early by someone else: who, and why.
    if let (Notice::Revoked, Some(e)) = (notice, ended) {
        let text = e.holder_dm(r, &name, held_before);
        return Message {
            blocks: json!([section(text.clone())]),
            text,
        };
    }
    let text = match notice {
        Notice::Submitted => format!("Your request #{id} for *{name}* is waiting for a reviewer."),
        Notice::GrantByHand => format!("An admin is granting your access to *{name}* by hand."),
        Notice::IdentityNeeded => format!(
            "Your request #{id} for *{name}* is approved; a reviewer is choosing the account to grant it to."
        ),
        Notice::RevokeByHand => format!("An admin is removing your access to *{name}* by hand."),
        Notice::ExpiringSoon
        | Notice::LapsesSoon
        | Notice::IdentityChosen
        | Notice::ApprovalCounted
        | Notice::BreakGlass
        | Notice::BreakGlassReviewed
        | Notice::BreakGlassUnreviewed
        | Notice::RevocationFailing
        | Notice::DriftMissing { .. }
        | Notice::DriftRevoked => String::new(),
        // Its own DM, with Slack's words: `not_delivered`.
        Notice::NotDelivered => not_delivered(r, resource, None).text,
        Notice::ExtensionRequested { .. } => {
            format!("You asked for more time on *{name}*; the reviewers will decide.")
        }
        Notice::ExtensionDenied => {
            format!("🚫 A reviewer did not grant more time on *{name}*; it ends as planned.")
        }
        // Sent only when the grant waits (an admin's hands): a grant at once says it all.
        Notice::Approved => format!(
            "✅ {by} approved your request #{id} for *{name}*. It is being granted; you will get a DM once you have access."
        ),
        Notice::Denied => match &r.decision_note {
            Some(n) => format!(
                "⛔ {by} denied your request #{id} for *{name}*: {}",
                escape(n)
            ),
            None => format!("⛔ {by} denied your request #{id} for *{name}*."),
        },
        Notice::Cancelled => format!("You cancelled request #{id} for *{name}*."),
        Notice::Lapsed => format!(
            "💤 Nobody reviewed your request #{id} for *{name}* in time, so it lapsed. You can ask again."
        ),
        // Also the news of the approval, which a grant at once does not send on its own.
        Notice::Active => match r.expires_at {
            Some(at) => format!(
                "🟢 You now have access to *{name}* until {}: {by} approved your request #{id}.",
                local_time(at, tz)
            ),
            None => {
                format!("🟢 You now have access to *{name}*: {by} approved your request #{id}.")
            }
        },
        Notice::Extended => match r.expires_at {
            Some(at) => format!(
                "⏩ Your access to *{name}* now lasts until {}.",
                local_time(at, tz)
            ),
            None => format!("⏩ Your access to *{name}* was extended."),
        },
        Notice::ProvisioningFailed => format!(
            "⚠️ Your request #{id} for *{name}* was approved, but granting the access failed. The reviewers have been told and an admin can retry it."
        ),
        Notice::Expired if held_before => format!(
            "⌛ Your access to *{name}* through request #{id} has ended. You already had this access before Gatehouse granted it, so it was left as it was."
        ),
        Notice::Revoked if held_before => format!(
            "🔒 Your request #{id} for *{name}* was ended. You already had this access before Gatehouse granted it, so it was left as it was."
        ),
        Notice::Expired => format!("⌛ Your access to *{name}* has expired and was removed."),
        Notice::Revoked => format!("🔒 Your access to *{name}* was removed (request #{id})."),
    };
    let text = if held_before && notice == Notice::Active {
        format!("{text} You already had this access; when it ends, it is left as it was.")
    } else {
        text
    };
    // A request that ended without the access they wanted (or with it gone): asking again is
    // the form, filled in as last time.
    let again = matches!(notice, Notice::Denied | Notice::Lapsed)
        || (notice == Notice::Expired && !held_before);
    let blocks = if again {
        let mut button = button("Request again", "request_again", id.to_string(), None);
        let label = format!("Request {} again, as in request #{id}", resource.name);
        button["accessibility_label"] = json!(super::limits::cut(&label, 75));
        json!([
            section(text.clone()),
            { "type": "actions", "block_id": "request_again", "elements": [button] }
        ])
    } else {
        json!([section(text.clone())])
    };
    Message { blocks, text }
}

/// A new request, to each who can approve it, for a resource with `notify_reviewers = "dm"`:
/// what is asked and why, with Approve and Deny here (the card in `channel` has them too).
pub fn review_request(r: &Request, resource: &Resource, channel: Option<&str>) -> Message {
    let (id, name) = (r.id.get(), escape(&resource.name));
    let reason = r
        .reason
        .as_deref()
        .map(|why| format!(" “{}”", escape(&super::limits::cut(why, 500))))
        .unwrap_or_default();
    let card = channel
        .map(|c| format!(" (its card is in <#{c}>)"))
        .unwrap_or_default();
    let text = format!(
        "📝 {} asks for *{name}* for {}{reason}. Request #{id} waits for you{card}.",
        user(r.requester.as_str()),
        r.duration
    );
    let label =
        |what: &str| super::limits::cut(&format!("{what} request #{id} for {}", resource.name), 75);
    let mut approve = button("Approve", "approve", id.to_string(), Some("primary"));
    approve["accessibility_label"] = json!(label("Approve"));
    let mut deny = button("Deny", "deny", id.to_string(), Some("danger"));
    deny["accessibility_label"] = json!(label("Deny"));
    Message {
        blocks: json!([
            section(text.clone()),
            { "type": "actions", "block_id": "review", "elements": [approve, deny] }
        ]),
        text,
    }
}

/// The DM reviewers (and, for what only they can fix, admins) get when something needs a person:
/// provisioning failed, a revocation keeps failing, or the platform drifted from the grant.
/// To the requester: Slack refused a notice of their request for good, in Slack's words.
pub fn not_delivered(r: &Request, resource: &Resource, error: Option<&str>) -> Message {
    let why = error
        .map(|e| format!(" (Slack said: {})", escape(e)))
        .unwrap_or_default();
    let text = format!(
        "⚠️ Gatehouse could not post an update of your request #{} for *{}* in Slack{why}. Your request is not lost: it is {}, and the admins have been told.",
        r.id.get(),
        escape(&resource.name),
        r.status
    );
    Message {
        blocks: json!([section(text.clone())]),
        text,
    }
}

pub fn reviewer_dm(
    r: &Request,
    resource: &Resource,
    notice: Notice,
    error: Option<&str>,
) -> Message {
    let who = user(r.requester.as_str());
    let name = escape(&resource.name);
    let id = r.id.get();
    let why = error
        .map(|e| format!(": {}", escape(e)))
        .unwrap_or_default();
    let identity = escape(r.identity.as_deref().unwrap_or("?"));
    let text = match notice {
        Notice::RevocationFailing => format!(
            "⚠️ Removing {who}'s access to *{name}* keeps failing (request #{id}){why}. The access may still be there; Gatehouse keeps retrying. Please check the platform."
        ),
        Notice::DriftMissing { regranted: true } => format!(
            "🔎 {who}'s access to *{name}* (request #{id}, `{identity}`) was missing on the platform; Gatehouse granted it again."
        ),
        Notice::DriftMissing { regranted: false } => format!(
            "🔎 {who}'s access to *{name}* (request #{id}, `{identity}`) is missing on the platform, though it should last until it expires. Someone changed it outside Gatehouse."
        ),
        Notice::BreakGlass => format!(
            "🚨 {who} used *break-glass* access to *{name}* (request #{id}); it is granted now. Review it in the Access Requests channel (✅ on the request) before it is taken away."
        ),
        Notice::BreakGlassUnreviewed => format!(
            "🚨 Nobody reviewed {who}'s break-glass access to *{name}* (request #{id}) in time: Gatehouse took it away and flagged it in the audit log."
        ),
        Notice::NotDelivered => format!(
            "⚠️ Slack refused for good to post an update of {who}'s request #{id} for *{name}*{why}. The request is {}; nothing about it is lost. Retry the failed job from Gatehouse's App Home once the cause is fixed.",
            r.status
        ),
        _ => format!(
            "⚠️ Granting {who} access to *{name}* failed (request #{id}){why}. An admin can retry it from Gatehouse's App Home."
        ),
    };
    Message {
        blocks: json!([section(text.clone())]),
        text,
    }
}
