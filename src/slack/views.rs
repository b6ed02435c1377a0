//! Block Kit, as plain JSON: the request's channel message, its pieces (buttons, sections,
//! dates, mentions) and short notes. Pure functions of the request; what people typed is escaped.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::{Value, json};

pub use super::api::Message;
use super::ended::Ended;
use super::limits;
pub use super::mrkdwn::escape;
pub(super) use super::mrkdwn::user;
use crate::config::Resource;
use crate::domain::{Principal, Status};
use crate::store::requests::Request;
use crate::workflow::Progress;

/// The action of the Revoke button (the card, App Home), whose value is the request id.
pub const REVOKE: &str = "revoke";

/// Who decided a request, for people: a reviewer's mention, or Gatehouse and the rule that
/// approved it automatically.
pub(super) fn decider(r: &Request) -> String {
    match (&r.decided_by, &r.decision_note) {
        (Some(u), _) => user(u),
        // Gatehouse's own words, from the catalog's validated IDs: shown as written.
        (None, Some(note)) if note.starts_with(crate::workflow::AUTO_APPROVED) => {
            format!("Gatehouse ({note})")
        }
        (None, Some(note)) if note.starts_with(crate::workflow::BREAK_GLASS) => {
            "Gatehouse (break-glass, granted at once)".into()
        }
        _ => "a reviewer".into(),
    }
}

/// Who reviewed break-glass access, from the note the review left.
pub(super) fn decider_review(r: &Request) -> String {
    r.decision_note
        .as_deref()
        .and_then(|n| n.rsplit_once("reviewed by "))
        .map(|(_, u)| user(u))
        .unwrap_or_else(|| "a reviewer".into())
}

/// A person or a user group as Slack shows it: `<@U…>` or `<!subteam^S…>`.
pub fn mention(p: &Principal) -> String {
    match p {
        Principal::User(u) => user(u.as_str()),
        Principal::Group(g) => format!("<!subteam^{g}>"),
    }
}

/// A reviewer set as Slack mentions: people and user groups.
pub(super) fn principals(set: &[Principal]) -> String {
    let names: Vec<String> = set.iter().map(mention).collect();
    names.join(", ")
}

fn people(set: &[crate::domain::SlackUserId]) -> String {
    let names: Vec<String> = set.iter().map(|u| user(u.as_str())).collect();
    names.join(", ")
}

/// A pending request's place in its approval stages: who can approve it now (mentioned, so
/// they hear of it when the card is first posted), who approved, and when it lapses.
fn progress_line(p: &Progress) -> String {
    let who = principals(&p.can_approve);
    let mut line = if p.steps <= 1 {
        format!("⏳ *Waiting for a reviewer* — {who} can approve with ✅ or deny with ❌")
    } else {
        format!(
            "⏳ *Waiting for approval* — step {} of {}: {} more from {who}",
            p.step, p.steps, p.more,
        )
    };
    if !p.approved.is_empty() {
        line.push_str(&format!(" · approved by {}", people(&p.approved)));
    }
    if let Some(at) = p.lapses_at {
        line.push_str(&format!(" · lapses {} if nobody decides", slack_date(at)));
    }
    line
}

/// A time every reader sees in their own time zone, with a UTC fallback.
pub(super) fn slack_date(at: DateTime<Utc>) -> String {
    format!(
        "<!date^{}^{{date_short_pretty}} at {{time}}|{}>",
        at.timestamp(),
        at.format("%Y-%m-%d %H:%M UTC")
    )
}

/// A time in one person's zone (for DMs, where Slack's `<!date>` may not render in previews).
pub fn local_time(at: DateTime<Utc>, tz: Option<&str>) -> String {
    match tz.and_then(|t| t.parse::<Tz>().ok()) {
        Some(zone) => {
            let local = at.with_timezone(&zone);
            format!("{} ({})", local.format("%a %-d %b, %H:%M %Z"), zone.name())
        }
        None => at.format("%a %-d %b, %H:%M UTC").to_string(),
    }
}

pub(super) fn section(text: String) -> Value {
    json!({ "type": "section", "text": { "type": "mrkdwn", "text": text } })
}

fn context(text: String) -> Value {
    json!({ "type": "context", "elements": [{ "type": "mrkdwn", "text": text }] })
}

pub(super) fn button(text: &str, action_id: &str, value: String, style: Option<&str>) -> Value {
    let mut b = json!({
        "type": "button",
        "text": { "type": "plain_text", "text": text, "emoji": true },
        "action_id": action_id,
        "value": value,
    });
    if let Some(s) = style {
        b["style"] = json!(s);
    }
    b
}

/// `button`, asking first in a dialog of Slack's own (Block Kit's `confirm` object): for what
/// takes something away. Nothing reaches Gatehouse unless the person confirms.
pub(super) fn asking_first(mut button: Value, title: &str, text: &str, yes: &str) -> Value {
    // Slack's limits: title 100, text 300, buttons 30 characters.
    button["confirm"] = json!({
        "title": { "type": "plain_text", "text": super::limits::cut(title, 100) },
        "text": { "type": "mrkdwn", "text": super::limits::cut(text, 300) },
        "confirm": { "type": "plain_text", "text": super::limits::cut(yes, 30) },
        "deny": { "type": "plain_text", "text": "Keep it" },
        "style": "danger",
    });
    button
}

/// Relinquish, asking first: the holder's access is taken away at once.
pub(super) fn relinquish_button(id: i64, resource: &str) -> Value {
    let mut b = button(
        "Relinquish now",
        "relinquish",
        id.to_string(),
        Some("danger"),
    );
    // Said by screen readers, where a list repeats the same button for each access.
    b["accessibility_label"] = json!(format!("Relinquish the access of request #{id}"));
    asking_first(
        b,
        "Give up this access now?",
        &format!(
            "Your access to *{resource}* is removed now. To have it again, you will need to ask again."
        ),
        "Relinquish",
    )
}

/// Cancel, asking first: a request withdrawn cannot be taken back.
pub(super) fn cancel_button(id: i64) -> Value {
    let mut b = button("Cancel it", "cancel", id.to_string(), None);
    b["accessibility_label"] = json!(format!("Cancel request #{id}"));
    asking_first(
        b,
        &format!("Cancel request #{id}?"),
        "Nobody will review it and no access will be granted. To have it, you will need to ask again.",
        "Cancel request",
    )
}

/// The one-line state of a request, as the channel message shows it.
pub fn status_line(r: &Request) -> String {
    let by = decider(r);
    match r.status {
        Status::Pending => {
            "⏳ *Waiting for a reviewer* — react with ✅ to approve, ❌ to deny".into()
        }
        Status::Approved => match r.starts_at {
            Some(at) => format!("✅ *Approved* by {by} — access starts {}", slack_date(at)),
            None => format!("✅ *Approved* by {by} — granting access…"),
        },
        Status::Provisioning => format!("⚙️ *Approved* by {by} — granting access…"),
        Status::Active => match r.expires_at {
            Some(at) => format!("🟢 *Active* until {} — approved by {by}", slack_date(at)),
            None => format!("🟢 *Active* — approved by {by}"),
        },
        Status::Revoking => "⏳ *Ending* — removing access…".into(),
        Status::Expired => match r.ended_at {
            Some(at) => format!("⌛ *Expired* {} — access removed", slack_date(at)),
            None => "⌛ *Expired* — access removed".into(),
        },
        Status::Revoked => "🔒 *Revoked* — access removed".into(),
        Status::Denied => match &r.decision_note {
            Some(note) => format!("⛔ *Denied* by {by}: {}", escape(note)),
            None => format!("⛔ *Denied* by {by}"),
        },
        Status::Cancelled => "🚫 *Cancelled* by the requester".into(),
        Status::Lapsed => "💤 *Lapsed* — nobody reviewed it in time".into(),
        Status::Failed => "⚠️ *Provisioning failed* — an admin can retry it from App Home".into(),
    }
}

/// The request's message in the Access Requests channel; rebuilt whole at every step. `ended`:
/// who ended the access early, when someone other than the holder did.
pub fn request_message(
    r: &Request,
    resource: &Resource,
    progress: Option<&Progress>,
    ended: Option<&Ended>,
) -> Message {
    let id = r.id.get();
    let reason = r
        .reason
        .as_deref()
        .map(escape)
        .unwrap_or_else(|| "_none given_".into());
    let mut fields = vec![
        json!({ "type": "mrkdwn", "text": format!("*Requester*\n{}", user(r.requester.as_str())) }),
        json!({ "type": "mrkdwn", "text": format!("*Resource*\n{} (`{}`)", escape(&resource.name), resource.id) }),
        json!({ "type": "mrkdwn", "text": format!("*Duration*\n{} (at most {})", r.duration, resource.durations.max) }),
        // What a reviewer is asked to give: the unit and where it lives.
        json!({ "type": "mrkdwn", "text": format!("*Grants*\n{} through `{}`", escape(&resource.grant.to_string()), resource.connector) }),
    ];
    if let Some(at) = r.starts_at {
        fields.push(json!({ "type": "mrkdwn", "text": format!("*Starts*\n{}", slack_date(at)) }));
    }
    if let Some(identity) = &r.identity {
        fields.push(
            json!({ "type": "mrkdwn", "text": format!("*Grant to*\n`{}`", escape(identity)) }),
        );
    }
    let mut blocks = vec![
        json!({ "type": "header", "text": { "type": "plain_text", "text": format!("Access request #{id}") } }),
        json!({ "type": "section", "fields": fields }),
    ];
    if let Some(d) = resource
        .description
        .as_deref()
        .filter(|d| !d.trim().is_empty())
    {
        blocks.push(json!({ "type": "context", "elements": [{ "type": "mrkdwn", "text": super::limits::cut(&escape(d), 2000) }] }));
    }
    blocks.extend([
        section(reason_section(reason)),
        section(match (progress, ended) {
            (Some(p), _) if r.status == Status::Pending => progress_line(p),
            (_, Some(e)) if r.status == Status::Revoked => e.status_line(),
            (_, Some(e)) if r.status == Status::Revoking => e.ending_line(),
            _ => status_line(r),
        }),
    ]);
    if r.status == Status::Pending {
        blocks.push(json!({
            "type": "actions",
            "block_id": "request_actions",
            "elements": [
                button("Approve", "approve", id.to_string(), Some("primary")),
                button("Deny", "deny", id.to_string(), Some("danger")),
                button("Choose role or identity", "choose_identity", id.to_string(), None),
            ]
        }));
    }
    // Reviewers and admins end access now (an incident, an abused break-glass); a modal asks why.
    if r.status == Status::Active {
        blocks.push(json!({
            "type": "actions",
            "block_id": "active_actions",
            "elements": [button("Revoke", REVOKE, id.to_string(), Some("danger"))]
        }));
    }
    Message {
        text: format!(
            "Access request #{id}: {} asks for {} for {} — {}",
            user(r.requester.as_str()),
            resource.name,
            r.duration,
            r.status
        ),
        blocks: Value::Array(blocks),
    }
}

/// The card's Reason section: the reason whole when it fits the section, else cut, saying
/// where the whole of it is (`reason_in_full`, in the thread).
fn reason_section(reason: String) -> String {
    let whole = format!("*Reason*\n{reason}");
    if whole.chars().count() <= limits::SECTION_TEXT {
        return whole;
    }
    let room = limits::SECTION_TEXT - 60;
    format!(
        "{}\n_The whole reason is in the thread._",
        limits::cut(&whole, room)
    )
}

/// The whole reason, posted in the request's thread, when the card had to cut it.
pub fn reason_in_full(r: &Request) -> Option<Message> {
    let reason = escape(r.reason.as_deref()?);
    if format!("*Reason*\n{reason}").chars().count() <= limits::SECTION_TEXT {
        return None;
    }
    let mut blocks = vec![section("*The whole reason*".into())];
    blocks.extend(
        limits::pieces(&reason, limits::SECTION_TEXT)
            .into_iter()
            .map(section),
    );
    Some(Message {
        text: format!("The whole reason for request #{}", r.id.get()),
        blocks: Value::Array(blocks),
    })
}

/// A short note only one person sees.
/// To a reviewer who reacted ❌, alone: the denial waits for their word, and a reason.
pub fn deny_ask(r: &Request) -> Message {
    let id = r.id.get();
    let text = format!(
        "You reacted ❌ to request #{id} by {}. Deny it? You can say why; they will read it.",
        user(r.requester.as_str())
    );
    let mut deny = button("Deny…", "deny", id.to_string(), Some("danger"));
    deny["accessibility_label"] = json!(format!("Deny request #{id}, with a reason if you wish"));
    Message {
        blocks: json!([
            section(text.clone()),
            { "type": "actions", "block_id": "deny_ask", "elements": [deny] }
        ]),
        text,
    }
}

pub fn note(text: &str) -> Message {
    Message {
        text: text.to_owned(),
        blocks: json!([section(text.to_owned())]),
    }
}

/// Context line for messages that link to the request.
pub fn with_link(msg: Message, link: &str) -> Message {
    let mut blocks = msg.blocks.as_array().cloned().unwrap_or_default();
    blocks.push(context(format!("<{link}|View the request>")));
    Message {
        text: msg.text,
        blocks: Value::Array(blocks),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn people_text_cannot_ping_or_link() {
        assert_eq!(
            escape("<!channel> & <https://x|y>"),
            "&lt;!channel&gt; &amp; &lt;https://x|y&gt;"
        );
    }

    #[test]
    fn local_times_use_the_persons_zone() {
        let at = Utc.with_ymd_and_hms(2026, 11, 28, 16, 0, 0).unwrap();
        assert_eq!(
            local_time(at, Some("Europe/Paris")),
            "Sat 28 Nov, 17:00 CET (Europe/Paris)"
        );
        assert_eq!(
            local_time(at, Some("America/New_York")),
            "Sat 28 Nov, 11:00 EST (America/New_York)"
        );
        assert_eq!(
            local_time(at, Some("Mars/Olympus")),
            "Sat 28 Nov, 16:00 UTC"
        );
        assert_eq!(local_time(at, None), "Sat 28 Nov, 16:00 UTC");
    }
}
