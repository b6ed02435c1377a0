//! Modals: the request form, the deny and revoke forms and the role-or-identity picker. Block
//! and action ids are constants here because handlers read the submitted state by them.

use serde_json::{Value, json};

use super::limits;
use crate::config::Resource;
use crate::domain::GrantDuration;
use crate::store::identities::Identity;

pub const REQUEST_FORM: &str = "request_access";
pub const DENY_FORM: &str = "deny_request";
pub const PICKER_FORM: &str = "choose_identity";
pub const EXTEND_FORM: &str = "extend_request";
pub const REVOKE_FORM: &str = "revoke_access";
pub const IDENTITY_SEARCH: &str = "identity_search";
pub const B_QUERY: &str = "query";

pub const B_RESOURCE: &str = "resource";
pub const B_DURATION: &str = "duration";
pub const B_DURATION_CUSTOM: &str = "duration_custom";
pub const B_REASON: &str = "reason";
pub const B_STARTS: &str = "starts";
pub const B_IDENTITY: &str = "identity";

/// The preset durations offered; a custom one can be typed beside them.
pub const PRESETS: [&str; 6] = ["1h", "4h", "8h", "1d", "3d", "7d"];

fn plain(text: &str) -> Value {
    json!({ "type": "plain_text", "text": text, "emoji": true })
}

pub fn resource_option(r: &Resource) -> Value {
    let mut label = format!("{} ({})", r.name, r.id);
    // Slack caps option text at 75 characters.
    if label.chars().count() > 75 {
        label = label.chars().take(74).collect::<String>() + "…";
    }
    let mut option = json!({ "text": plain(&label), "value": r.id.as_str() });
    // Shown under the name in the picker (at most 75 characters): what the access is for.
    if let Some(d) = r.description.as_deref().filter(|d| !d.trim().is_empty()) {
        option["description"] = plain(&super::limits::cut(d, 75));
    }
    option
}

/// The duration select's last option: the person types the duration instead.
pub const OTHER_DURATION: &str = "other";

/// What the form shows already filled in.
#[derive(Debug, Default, Clone)]
pub struct Prefill<'a> {
    pub resource: Option<&'a Resource>,
    pub duration: Option<GrantDuration>,
    /// "Other…" is chosen in the duration select: the typed duration is asked for beside it.
    pub other_duration: bool,
    pub starts_at: Option<chrono::DateTime<chrono::Utc>>,
    pub reason: Option<&'a str>,
}

/// The request form, fitted to its resource once one is chosen: only the presets within its
/// bounds, the reason marked required where it is, and who reviews it (`reviewers`, as Slack
/// mentions; a modal notifies no one). Choosing a resource or a duration sends an action
/// (`dispatch_action`) so that the form is fitted again; block and action ids stay the same, so
/// Slack keeps what was entered.
pub fn request_form(p: &Prefill<'_>, reviewers: &[String]) -> Value {
    let mut resource = json!({
        "type": "external_select",
        "action_id": B_RESOURCE,
        "placeholder": plain("Type to search the catalog"),
        "min_query_length": 0
    });
    if let Some(r) = p.resource {
        resource["initial_option"] = resource_option(r);
    }
    // With its resource known, only the presets it allows: no 3d for one capped at 1d.
    let allowed = |d: &str| {
        p.resource.is_none_or(|r| {
            GrantDuration::parse(d).is_ok_and(|d| r.durations.min <= d && d <= r.durations.max)
        })
    };
    let presets: Vec<&str> = PRESETS.into_iter().filter(|d| allowed(d)).collect();
    let other = json!({ "text": plain("Other…"), "value": OTHER_DURATION });
    let mut options: Vec<Value> = presets
        .iter()
        .map(|d| json!({ "text": plain(d), "value": d }))
        .collect();
    options.push(other.clone());
    let default = p.resource.map_or("The resource's default".to_owned(), |r| {
        format!("Its default, {}", r.durations.default)
    });
    let mut preset = json!({
        "type": "static_select",
        "action_id": B_DURATION,
        "placeholder": plain(&default),
        "options": options
    });
    let typed = p.duration.map(|d| d.to_string());
    // A duration that is not a preset here is shown typed, under "Other…".
    let typing = p.other_duration || typed.as_deref().is_some_and(|d| !presets.contains(&d));
    if typing {
        preset["initial_option"] = other;
    } else if let Some(text) = typed.as_deref() {
        // An initial option must be one of the options (Slack refuses the view otherwise).
        preset["initial_option"] = json!({ "text": plain(text), "value": text });
    }
    let mut starts = json!({ "type": "datetimepicker", "action_id": B_STARTS });
    if let Some(at) = p.starts_at {
        starts["initial_date_time"] = json!(at.timestamp());
    }
    let mut reason = json!({
        "type": "plain_text_input",
        "action_id": B_REASON,
        "multiline": true,
        "max_length": 3000,
        "placeholder": plain("What do you need it for? Reviewers read this.")
    });
    if let Some(r) = p.reason {
        reason["initial_value"] = json!(r);
    }
    // Whether the reason is required, once the resource says.
    let (reason_optional, reason_hint) = match p.resource {
        Some(r) if r.reason_required => (false, "Required for this resource: reviewers read it."),
        Some(_) => (true, "Optional for this resource."),
        None => (
            true,
            "Choose a resource first: the form then says whether it needs one.",
        ),
    };
    let mut blocks = vec![
        json!({ "type": "input", "block_id": B_RESOURCE, "dispatch_action": true,
        "label": plain("Resource"), "element": resource }),
    ];
    if let Some(r) = p.resource {
        blocks.push(json!({ "type": "context", "elements": [
            { "type": "mrkdwn", "text": about(r, reviewers) } ] }));
    }
    blocks.push(
        json!({ "type": "input", "block_id": B_DURATION, "dispatch_action": true,
        "label": plain("For how long"), "optional": true, "element": preset }),
    );
    if typing {
        let bound = p
            .resource
            .map(|r| format!(" At most {} for this resource.", r.durations.max))
            .unwrap_or_default();
        let mut custom = json!({
            "type": "plain_text_input",
            "action_id": B_DURATION_CUSTOM,
            "placeholder": plain("30m, 2h, 5d, 1h30m"),
            "max_length": 20
        });
        if let Some(text) = typed.filter(|t| !presets.contains(&t.as_str())) {
            custom["initial_value"] = json!(text);
        }
        blocks.push(json!({ "type": "input", "block_id": B_DURATION_CUSTOM, "label": plain("Other duration"),
            "element": custom, "hint": plain(&format!("Minutes, hours or days, e.g. 90m or 1h30m.{bound}")) }));
    }
    // Slack shows the picker in the person's own time zone and sends a Unix time.
    blocks.push(json!({ "type": "input", "block_id": B_STARTS, "label": plain("Starting at"), "optional": true,
        "element": starts,
        "hint": plain("Leave empty to start as soon as it is approved. The duration counts from the start.") }));
    blocks.push(json!({ "type": "input", "block_id": B_REASON, "label": plain("Reason"), "optional": reason_optional,
        "element": reason, "hint": plain(reason_hint) }));
    json!({
        "type": "modal",
        "callback_id": REQUEST_FORM,
        "title": plain("Request access"),
        "submit": plain("Request"),
        "close": plain("Cancel"),
        "blocks": blocks
    })
}

/// Under the chosen resource: what it is for, who reviews it, and its bounds.
fn about(r: &Resource, reviewers: &[String]) -> String {
    let mut parts = Vec::new();
    if let Some(d) = r.description.as_deref().filter(|d| !d.trim().is_empty()) {
        parts.push(crate::slack::views::escape(&super::limits::cut(d, 300)));
    }
    parts.push(if reviewers.is_empty() {
        "No reviewer is named yet; a Gatehouse admin can add one".to_owned()
    } else {
        format!("Reviewed by {}", reviewers.join(", "))
    });
    parts.push(format!(
        "granted for {} to {}; lapses if nobody decides within {}",
        r.durations.min, r.durations.max, r.lapse_after
    ));
    parts.join(" · ")
}

pub fn deny_form(request: i64) -> Value {
    json!({
        "type": "modal",
        "callback_id": DENY_FORM,
        "private_metadata": request.to_string(),
        "title": plain("Deny request"),
        "submit": plain("Deny"),
        "close": plain("Cancel"),
        "blocks": [
            { "type": "section", "text": { "type": "mrkdwn", "text": format!("Deny access request #{request}? The requester will see your reason.") } },
            { "type": "input", "block_id": B_REASON, "label": plain("Reason"), "optional": true,
              "element": { "type": "plain_text_input", "action_id": B_REASON, "multiline": true, "max_length": 3000 } }
        ]
    })
}

/// A reviewer or admin ends someone's access now: the reason is required, and the holder reads
/// it. `from_home`: the click came from App Home, which is refreshed after.
pub fn revoke_form(request: i64, holder: &str, resource_name: &str, from_home: bool) -> Value {
    let metadata = if from_home {
        format!("{request}:home")
    } else {
        request.to_string()
    };
    json!({
        "type": "modal",
        "callback_id": REVOKE_FORM,
        "private_metadata": metadata,
        "title": plain("Revoke access"),
        "submit": plain("Revoke access"),
        "close": plain("Cancel"),
        "blocks": [
            { "type": "section", "text": { "type": "mrkdwn", "text": format!(
                "End <@{holder}>'s access to *{}* (request #{request}) now? It is taken away at once, and they are told who ended it and why.",
                crate::slack::views::escape(resource_name)) } },
            { "type": "input", "block_id": B_REASON, "label": plain("Reason"), "optional": false,
              "element": { "type": "plain_text_input", "action_id": B_REASON, "multiline": true, "max_length": 3000,
                           "placeholder": plain("Why now? The holder reads this; it is kept in the audit log.") } }
        ]
    })
}

/// The reviewer picks the platform identity to grant to. With users to choose from
/// (`searchable`), a search of them all as the reviewer types (`block_suggestion`); without,
/// the reviewer types it. `current` is shown chosen, whether or not it is among the options.
pub fn picker_form(request: i64, current: Option<&str>, searchable: bool) -> Value {
    let element = if searchable {
        let mut e = json!({ "type": "external_select", "action_id": B_IDENTITY, "min_query_length": 0,
                            "placeholder": plain("Type a name, email or platform id") });
        // A longer id than an option may carry is not shown: cut, it would name someone else.
        if let Some(c) = current.filter(|c| c.chars().count() <= limits::OPTION_VALUE) {
            e["initial_option"] =
                json!({ "text": plain(&limits::cut(c, limits::BUTTON_TEXT)), "value": c });
        }
        e
    } else {
        let mut e = json!({ "type": "plain_text_input", "action_id": B_IDENTITY, "max_length": 255,
                            "placeholder": plain("The platform user or role to grant to") });
        if let Some(c) = current {
            e["initial_value"] = json!(c);
        }
        e
    };
    json!({
        "type": "modal",
        "callback_id": PICKER_FORM,
        "private_metadata": request.to_string(),
        "title": plain("Role or identity"),
        "submit": plain("Save"),
        "close": plain("Cancel"),
        "blocks": [
            { "type": "input", "block_id": B_IDENTITY, "label": plain(&format!("Grant request #{request} to")), "element": element }
        ]
    })
}

/// A platform user as the picker offers it: its platform id, and who it is beneath. None for
/// an id longer than an option's value may be (Slack would refuse them all; cut, it would
/// name someone else).
pub fn identity_option(i: &Identity) -> Option<Value> {
    if i.platform_id.chars().count() > limits::OPTION_VALUE {
        return None;
    }
    let mut option = json!({ "text": plain(&limits::cut(&i.platform_id, limits::BUTTON_TEXT)),
                             "value": i.platform_id });
    let name = Some(i.name.trim()).filter(|n| !n.is_empty() && *n != i.platform_id);
    let about: Vec<&str> = name.into_iter().chain(i.email.as_deref()).collect();
    if !about.is_empty() {
        option["description"] = plain(&limits::cut(&about.join(" · "), limits::BUTTON_TEXT));
    }
    Some(option)
}

/// What the request form becomes once submitted: what happens next, and a Done button.
pub fn submitted(text: &str) -> Value {
    json!({
        "type": "modal",
        "callback_id": "request_submitted",
        "title": plain("Request submitted"),
        "close": plain("Done"),
        "blocks": [
            { "type": "section", "text": { "type": "mrkdwn", "text": text } }
        ]
    })
}

/// The holder asks for more time.
pub fn extend_form(request: i64, resource_name: &str) -> Value {
    let options: Vec<Value> = ["30m", "1h", "2h", "4h", "8h", "1d"]
        .iter()
        .map(|d| json!({ "text": plain(d), "value": d }))
        .collect();
    json!({
        "type": "modal",
        "callback_id": EXTEND_FORM,
        "private_metadata": request.to_string(),
        "title": plain("Ask for more time"),
        "submit": plain("Ask"),
        "close": plain("Cancel"),
        "blocks": [
            { "type": "section", "text": { "type": "mrkdwn", "text": format!("More time on *{}* (request #{request}). Reviewers decide.", crate::slack::views::escape(resource_name)) } },
            { "type": "input", "block_id": B_DURATION, "label": plain("How much more"),
              "element": { "type": "static_select", "action_id": B_DURATION, "options": options } }
        ]
    })
}

/// The admin's identity search.
pub fn identity_search_form() -> Value {
    json!({
        "type": "modal",
        "callback_id": IDENTITY_SEARCH,
        "title": plain("Identities"),
        "submit": plain("Search"),
        "close": plain("Close"),
        "blocks": [
            { "type": "input", "block_id": B_QUERY, "label": plain("Name, platform id or email contains"),
              "element": { "type": "plain_text_input", "action_id": B_QUERY, "max_length": 100 } }
        ]
    })
}

/// What the search found, as the modal's next view.
pub fn identity_results(query: &str, found: &[crate::workflow::FoundIdentity]) -> Value {
    let mut blocks = vec![json!({ "type": "section", "text": { "type": "mrkdwn",
        "text": format!("*{}* identit{} matching `{}`", found.len(), if found.len() == 1 { "y" } else { "ies" },
                        crate::slack::views::escape(query)) } })];
    if found.is_empty() {
        blocks.push(json!({ "type": "context", "elements": [{ "type": "mrkdwn",
            "text": "Identities appear here once a connector has synced them." }] }));
    }
    for f in found.iter().take(40) {
        let i = &f.identity;
        let linked = if f.linked.is_empty() {
            String::new()
        } else {
            let people: Vec<String> = f.linked.iter().map(|u| format!("<@{u}>")).collect();
            format!(" · linked to {}", people.join(", "))
        };
        let missing = if i.missing_since.is_some() {
            " — _gone from the platform_"
        } else {
            ""
        };
        let email = i
            .email
            .as_deref()
            .map(|e| format!(" · {}", crate::slack::views::escape(e)))
            .unwrap_or_default();
        blocks.push(json!({ "type": "section", "text": { "type": "mrkdwn", "text": format!(
            "*{}* ({} on `{}`)\n`{}`{email}{linked}{missing}",
            crate::slack::views::escape(&i.name), i.kind, i.connector_id, crate::slack::views::escape(&i.platform_id)) } }));
    }
    json!({ "type": "modal", "callback_id": "identity_results", "title": plain("Identities"), "close": plain("Done"), "blocks": blocks })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(platform_id: &str, name: &str, email: Option<&str>) -> Identity {
        Identity {
            connector_id: "warehouse".into(),
            kind: "user".into(),
            platform_id: platform_id.into(),
            name: name.into(),
            email: email.map(str::to_owned),
            last_seen_at: chrono::DateTime::UNIX_EPOCH,
            missing_since: None,
        }
    }

    #[test]
    fn an_option_names_the_user_beneath_its_id_within_slacks_limits() {
        let o = identity_option(&user("ALICE", "Alice Martin", Some("alice@example.com")));
        assert_eq!(
            o,
            Some(json!({ "text": plain("ALICE"), "value": "ALICE",
                         "description": plain("Alice Martin · alice@example.com") }))
        );
        // A name that only repeats the id says nothing more.
        let o = identity_option(&user("bob", "bob", None)).unwrap();
        assert!(o.get("description").is_none(), "{o}");
        let long = "x".repeat(100);
        let o = identity_option(&user(&long, &"n".repeat(100), None)).unwrap();
        assert_eq!(o["value"], long.as_str(), "the value is never cut");
        assert_eq!(o["text"]["text"].as_str().unwrap().chars().count(), 75);
        assert_eq!(
            o["description"]["text"].as_str().unwrap().chars().count(),
            75
        );
        // Longer than a value may be: cut, it would name someone else.
        assert_eq!(identity_option(&user(&"y".repeat(151), "Y", None)), None);
    }

    #[test]
    fn the_picker_searches_the_users_or_asks_to_type_one() {
        let form = picker_form(7, Some("ALICE"), true);
        let e = &form["blocks"][0]["element"];
        assert_eq!(e["type"], "external_select");
        assert_eq!(e["action_id"], B_IDENTITY);
        assert_eq!(form["blocks"][0]["block_id"], B_IDENTITY);
        assert_eq!(e["min_query_length"], 0);
        assert_eq!(e["initial_option"]["value"], "ALICE");
        assert_eq!(form["private_metadata"], "7");
        let too_long = "z".repeat(151);
        let form = picker_form(7, Some(&too_long), true);
        assert!(form["blocks"][0]["element"].get("initial_option").is_none());
        let form = picker_form(7, Some("ALICE"), false);
        let e = &form["blocks"][0]["element"];
        assert_eq!(e["type"], "plain_text_input");
        assert_eq!(e["initial_value"], "ALICE");
    }
}
