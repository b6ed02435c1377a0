//! `/request-access` and `/access-admin`.

use super::mentions::{parse_channel, parse_principal};
use super::{identity_admin, say};
use crate::domain::start::When;
use crate::domain::{GrantDuration, Principal, RequestId, ResourceId, SlackUserId};
use crate::slack::context::SlackContext;
use crate::slack::modals::Prefill;
use crate::workflow::{Scope, Start, Submission, Submitted};

/// How the command is answered: a note only the person sees, or nothing (a modal opened).
#[derive(Debug, PartialEq, Eq)]
pub enum Reply {
    Ephemeral(String),
    Nothing,
}

/// `RESOURCE [DURATION] [from WHEN] [REASON…]`, each part optional from the right (the
/// duration may also follow the start).
#[derive(Debug, PartialEq, Eq)]
pub struct OneLine<'a> {
    pub resource: Option<&'a str>,
    pub duration: Option<GrantDuration>,
    /// `from tomorrow 9:00`: read in the writer's time zone by the workflow.
    pub start: Option<When>,
    pub reason: Option<String>,
}

const USAGE: &str = "Usage: `/request-access RESOURCE [DURATION] [from WHEN] [REASON…]`, like `/request-access analytics-ro 8h from tomorrow 9:00 quarterly report`";

pub fn parse_one_line(text: &str) -> Result<OneLine<'_>, String> {
    let mut words = text.split_whitespace();
    let resource = words.next();
    let rest: Vec<&str> = words.collect();
    let mut at = 0;
    let mut duration = None;
    let take_duration = |at: &mut usize, duration: &mut Option<GrantDuration>| match rest.get(*at) {
        Some(w) if duration.is_none() && w.starts_with(|c: char| c.is_ascii_digit()) => {
            *duration = Some(GrantDuration::parse(w).map_err(|e| e.to_string())?);
            *at += 1;
            Ok::<(), String>(())
        }
        _ => Ok(()),
    };
    take_duration(&mut at, &mut duration)?;
    let mut start = None;
    if rest.get(at).is_some_and(|w| w.eq_ignore_ascii_case("from")) {
        // `from` that is not followed by a day or a time begins the reason.
        if let Some((when, used)) =
            crate::domain::start::read(&rest[at + 1..]).map_err(|e| e.to_string())?
        {
            start = Some(when);
            at += 1 + used;
            take_duration(&mut at, &mut duration)?;
        }
    }
    let reason_words = &rest[at..];
    let reason = (!reason_words.is_empty()).then(|| reason_words.join(" "));
    Ok(OneLine {
        resource,
        duration,
        start,
        reason,
    })
}

pub async fn request_access(
    ctx: &SlackContext,
    user: &SlackUserId,
    text: &str,
    trigger_id: &str,
) -> Reply {
    if let Some(rest) = text.trim().strip_prefix("break-glass") {
        return Reply::Ephemeral(break_glass(ctx, user, rest).await);
    }
    let line = match parse_one_line(text) {
        Ok(l) => l,
        Err(e) => {
            return Reply::Ephemeral(format!("{e}. {USAGE}"));
        }
    };
    let catalog = ctx.workflow.catalog();
    let resource = line
        .resource
        .and_then(|r| ResourceId::parse(&r.to_lowercase()).ok())
        .and_then(|id| catalog.resource(&id));
    let complete = matches!(resource, Some(r) if !r.reason_required || line.reason.is_some());
    if let (true, Some(resource)) = (complete, resource) {
        let submitted = ctx
            .workflow
            .request_access(Submission {
                requester: user,
                resource: resource.id.as_str(),
                duration: line.duration,
                reason: line.reason.as_deref(),
                identity: None,
                start: line.start.map(Start::Words),
            })
            .await;
        return Reply::Ephemeral(match submitted {
            Ok(Submitted::New(r)) => super::submitted::confirmation(ctx, &r, resource).await,
            Ok(Submitted::Extension { request, more }) => extension_asked(&request, resource, more),
            Err(e) => say(&e),
        });
    }
    // The form shows the start typed, so nothing typed is lost.
    let starts_at = match ctx
        .workflow
        .starts_at(user, line.start.map(Start::Words))
        .await
    {
        Ok(at) => at,
        Err(e) => return Reply::Ephemeral(format!("{}. {USAGE}", say(&e))),
    };
    let prefill = Prefill {
        resource,
        duration: line.duration,
        other_duration: false,
        starts_at,
        reason: line.reason.as_deref(),
    };
    match ctx
        .api
        .open_view(trigger_id, &super::request_form::form(ctx, &prefill).await)
        .await
    {
        Ok(_) => Reply::Nothing,
        Err(e) => {
            tracing::warn!(error = %e, "cannot open the request form");
            Reply::Ephemeral(
                "Slack would not open the request form; please run the command again.".into(),
            )
        }
    }
}

const ADMIN_COMMANDS: &str = "Usage:\n• `/access-admin grant @person RESOURCE [DURATION] [from WHEN] REASON…`\n• `/access-admin reviewers add @person-or-@group [RESOURCE]`\n• `/access-admin reviewers remove @person-or-@group [RESOURCE]`\n• `/access-admin reviewers list [RESOURCE]`\n• `/access-admin channel #channel`\n• `/access-admin revoke #ID REASON…` — end someone's access now\n• `/access-admin close #ID REASON…` — close a request stuck in revoking (its access is gone already)\n";

fn admin_usage() -> String {
    format!(
        "{ADMIN_COMMANDS}{}\nWithout RESOURCE, reviewers review every resource.",
        super::identity_admin::USAGE
    )
}

pub async fn access_admin(ctx: &SlackContext, user: &SlackUserId, text: &str) -> Reply {
    let words: Vec<&str> = text.split_whitespace().collect();
    let reply = match words.as_slice() {
        ["reviewers", verb @ ("add" | "remove"), who, rest @ ..] if rest.len() <= 1 => {
            let Some(principal) = parse_principal(who) else {
                return Reply::Ephemeral(format!(
                    "`{who}` is not a person or a user group; mention them, like @maria or @data-reviewers.\n{}",
                    admin_usage()
                ));
            };
            let scope = match rest.first() {
                None => Scope::All,
                Some(r) => match ResourceId::parse(r) {
                    Ok(id) => Scope::Resource(id),
                    Err(e) => return Reply::Ephemeral(e.to_string()),
                },
            };
            let scope_text = match &scope {
                Scope::All => "every resource".to_owned(),
                Scope::Resource(r) => format!("`{r}`"),
            };
            let shown = crate::slack::views::mention(&principal);
            let result = if *verb == "add" {
                ctx.workflow
                    .add_reviewer(user, &principal, &scope)
                    .await
                    .map(|added| {
                        if added {
                            format!("{shown} now reviews {scope_text}.")
                        } else {
                            format!("{shown} already reviews {scope_text}.")
                        }
                    })
            } else {
                ctx.workflow.remove_reviewer(user, &principal, &scope).await.map(|removed| {
                    if removed {
                        format!("{shown} no longer reviews {scope_text}.")
                    } else {
                        format!("{shown} was not added as a reviewer of {scope_text} (reviewers named in the catalog are changed there).")
                    }
                })
            };
            result.unwrap_or_else(|e| say(&e))
        }
        ["reviewers", "list", rest @ ..] if rest.len() <= 1 => {
            list_reviewers(ctx, user, rest.first().copied()).await
        }
        ["channel", channel] => change_channel(ctx, user, channel).await,
        ["grant", who, rest @ ..] if !rest.is_empty() => {
            admin_grant(ctx, user, who, &rest.join(" ")).await
        }
        [verb @ ("revoke" | "close"), rest @ ..] => end_access(ctx, user, verb, rest).await,
        ["identities", who] => identity_admin::show(ctx, user, who).await,
        ["link", ..] => identity_admin::link(ctx, user, text).await,
        ["unlink", who, connector] => identity_admin::unlink(ctx, user, who, connector).await,
        _ => admin_usage(),
    };
    Reply::Ephemeral(reply)
}

const REVOKE_USAGE: &str = "Usage: `/access-admin revoke #ID REASON…`, like `/access-admin revoke #12 incident 4411` (the holder reads the reason; it is kept in the audit log).";
const CLOSE_USAGE: &str = "Usage: `/access-admin close #ID REASON…` for a request stuck in revoking, like `/access-admin close #12 platform user deleted by IT` (say how you know the access is gone; it is kept in the audit log).";

/// `revoke #ID REASON…` ends access now; `close #ID REASON…` closes a request whose revocation
/// cannot complete. Admins only.
async fn end_access(ctx: &SlackContext, admin: &SlackUserId, verb: &str, words: &[&str]) -> String {
    let (closing, usage) = match verb {
        "close" => (true, CLOSE_USAGE),
        _ => (false, REVOKE_USAGE),
    };
    let Some((id, reason)) = words.split_first() else {
        return usage.into();
    };
    let id: RequestId = match id.parse() {
        Ok(id) => id,
        Err(e) => return format!("{e}. {usage}"),
    };
    if reason.is_empty() {
        return format!("Say why. {usage}");
    }
    let reason = reason.join(" ");
    match ctx.workflow.is_admin(admin).await {
        Ok(true) => {}
        Ok(false) => return "only a Gatehouse admin can do that".into(),
        Err(e) => return say(&e),
    }
    let n = id.get();
    let done = if closing {
        ctx.workflow.close(id, admin, &reason).await
    } else {
        ctx.workflow.revoke(id, admin, Some(&reason)).await
    };
    match (done, closing) {
        (Ok(r), false) => format!(
            "🔒 Removing <@{}>'s access to `{}` (request #{n}) now; they are told you ended it and why.",
            r.requester, r.resource
        ),
        (Ok(r), true) => format!(
            "🔒 Closed request #{n} (<@{}>'s `{}`) as revoked, without checking the platform; they are told you closed it and why.",
            r.requester, r.resource
        ),
        (Err(e), false) => format!("Request #{n} was not revoked: {}", say(&e)),
        (Err(e), true) => format!("Request #{n} was not closed: {}", say(&e)),
    }
}

async fn list_reviewers(ctx: &SlackContext, user: &SlackUserId, resource: Option<&str>) -> String {
    match ctx.workflow.is_admin(user).await {
        Ok(true) => {}
        Ok(false) => return "only a Gatehouse admin can do that".into(),
        Err(e) => return say(&e),
    }
    let catalog = ctx.workflow.catalog();
    let resources: Vec<_> = match resource {
        None => catalog.resources.iter().collect(),
        Some(r) => match ResourceId::parse(r)
            .ok()
            .and_then(|id| catalog.resource(&id))
        {
            Some(found) => vec![found],
            None => return format!("there is no resource `{r}`"),
        },
    };
    let show = crate::slack::views::mention;
    let mut lines = Vec::new();
    for r in resources {
        let added = match ctx
            .workflow
            .reviewers_added(&Scope::Resource(r.id.clone()))
            .await
        {
            Ok(a) => a,
            Err(e) => return say(&e),
        };
        let mut names: Vec<String> = r.all_reviewers().iter().map(show).collect();
        names.extend(
            added
                .iter()
                .map(|g| format!("{} (added by <@{}>)", show(&g.principal), g.created_by)),
        );
        let names = if names.is_empty() {
            "_nobody yet_".to_owned()
        } else {
            names.join(", ")
        };
        lines.push(format!("• `{}`: {names}", r.id));
    }
    format!("*Reviewers*\n{}", lines.join("\n"))
}

/// `/request-access break-glass RESOURCE [DURATION] REASON…`: emergency access, at once.
async fn break_glass(ctx: &SlackContext, user: &SlackUserId, rest: &str) -> String {
    const USAGE: &str = "Usage: `/request-access break-glass RESOURCE [DURATION] REASON…`";
    let line = match parse_one_line(rest) {
        Ok(l) => l,
        Err(e) => return format!("{e}. {USAGE}"),
    };
    let (Some(resource), Some(reason)) = (line.resource, line.reason.as_deref()) else {
        return format!("Say what for and why: {USAGE} (the reason is shown to the reviewers).");
    };
    if line.start.is_some() {
        return format!(
            "Break-glass access starts at once; for access later, ask the usual way with `from`. {USAGE}"
        );
    }
    match ctx
        .workflow
        .break_glass(user, resource, line.duration, reason)
        .await
    {
        Ok(r) => format!(
            "🚨 Break-glass access to `{}` for {} is being granted now (request #{}). The reviewers have been told; if none reviews it in time, it is taken away.",
            r.resource,
            r.duration,
            r.id.get()
        ),
        Err(e) => say(&e),
    }
}

/// The answer to a request for access one already holds.
pub fn extension_asked(
    held: &crate::store::requests::Request,
    resource: &crate::config::Resource,
    more: GrantDuration,
) -> String {
    let until = held
        .expires_at
        .map(|at| format!(" until {}", crate::slack::views::slack_date(at)))
        .unwrap_or_default();
    format!(
        "⏩ You already have *{}*{until} (request #{}), so this asks its reviewers for {more} more instead of a second grant; you will get a DM when they decide.",
        crate::slack::views::escape(&resource.name),
        held.id.get()
    )
}

/// `grant @person RESOURCE [DURATION] REASON…`: access without a request of theirs.
async fn admin_grant(ctx: &SlackContext, admin: &SlackUserId, who: &str, rest: &str) -> String {
    let Some(Principal::User(person)) = parse_principal(who) else {
        return format!(
            "`{who}` is not a person; mention them, like `/access-admin grant @maria analytics-ro 4h incident 4411`."
        );
    };
    let line = match parse_one_line(rest) {
        Ok(l) => l,
        Err(e) => {
            return format!(
                "{e}. Usage: `/access-admin grant @person RESOURCE [DURATION] [from WHEN] REASON…`"
            );
        }
    };
    let (Some(resource), Some(reason)) = (line.resource, line.reason.as_deref()) else {
        return "Say why: `/access-admin grant @person RESOURCE [DURATION] [from WHEN] REASON…` (the reason is kept in the audit log and shown to them).".into();
    };
    let grant = crate::workflow::AdminGrant {
        person: &person,
        resource,
        duration: line.duration,
        start: line.start.map(Start::Words),
        reason,
    };
    match ctx.workflow.admin_grant(admin, grant).await {
        Ok(crate::workflow::AdminGranted::Extended(r)) => format!(
            "<@{person}> already had `{}` (request #{}); it now lasts until {}.",
            r.resource,
            r.id.get(),
            r.expires_at
                .map(crate::slack::views::slack_date)
                .unwrap_or_else(|| "its new end".into())
        ),
        Ok(crate::workflow::AdminGranted::New(r)) => format!(
            "Granting <@{person}> `{}` for {}{} (request #{}); they get a DM when it is in place, and it ends on its own.",
            r.resource,
            r.duration,
            r.starts_at
                .map(|at| format!(" from {}", crate::slack::views::slack_date(at)))
                .unwrap_or_default(),
            r.id.get()
        ),
        Err(e) => say(&e),
    }
}

async fn change_channel(ctx: &SlackContext, user: &SlackUserId, word: &str) -> String {
    let Some(channel) = parse_channel(word) else {
        return format!("`{word}` is not a channel; mention it, like #access-requests.");
    };
    match ctx.workflow.is_admin(user).await {
        Ok(true) => {}
        Ok(false) => return "only a Gatehouse admin can do that".into(),
        Err(e) => return say(&e),
    }
    // Posting is the only sure test that the bot may post there.
    let hello = crate::slack::views::note(
        "Gatehouse will post access requests in this channel from now on.",
    );
    if let Err(e) = ctx.api.post_message(&channel, &hello, None).await {
        return match e.code() {
            Some("not_in_channel") => format!(
                "I am not in <#{channel}>; invite me with `/invite @Gatehouse` there, then try again."
            ),
            Some("channel_not_found") => {
                format!("I cannot see <#{channel}>; if it is private, invite me first.")
            }
            _ => format!("I cannot post in <#{channel}> ({e}); the channel was not changed."),
        };
    }
    match ctx.workflow.set_requests_channel(user, &channel).await {
        Ok(()) => {
            ctx.channel.set(channel.clone());
            format!("Access requests now go to <#{channel}>.")
        }
        Err(e) => say(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_requests_read_from_the_left() {
        let l = parse_one_line("analytics-ro 8h quarterly report").unwrap();
        assert_eq!(l.resource, Some("analytics-ro"));
        assert_eq!(l.duration.map(|d| d.to_string()), Some("8h".into()));
        assert_eq!(l.reason.as_deref(), Some("quarterly report"));
        let l = parse_one_line("analytics-ro need it for the audit").unwrap();
        assert_eq!(l.duration, None);
        assert_eq!(l.reason.as_deref(), Some("need it for the audit"));
        let l = parse_one_line("  ").unwrap();
        assert_eq!(l.resource, None);
        let err = parse_one_line("analytics-ro 8x because").unwrap_err();
        assert!(err.contains("`8x` is not a duration"), "{err}");
    }

    #[test]
    fn a_start_is_read_after_the_duration_or_before_it() {
        let l = parse_one_line("analytics-ro 8h from tomorrow 9:00 quarterly report").unwrap();
        assert_eq!(l.duration.map(|d| d.to_string()), Some("8h".into()));
        let when = l.start.unwrap();
        assert_eq!(when.day, Some(crate::domain::start::Day::Tomorrow));
        assert_eq!(when.time.map(|t| t.to_string()), Some("09:00:00".into()));
        assert_eq!(l.reason.as_deref(), Some("quarterly report"));
        let l = parse_one_line("analytics-ro from monday at 2pm 4h onboarding").unwrap();
        assert_eq!(l.duration.map(|d| d.to_string()), Some("4h".into()));
        assert!(l.start.is_some());
        assert_eq!(l.reason.as_deref(), Some("onboarding"));
        // `from` that begins the reason stays in it.
        let l = parse_one_line("analytics-ro 1d from the finance team").unwrap();
        assert_eq!(l.start, None);
        assert_eq!(l.reason.as_deref(), Some("from the finance team"));
        // A misspelt day is refused, not silently taken as the reason.
        let err = parse_one_line("analytics-ro 8h from tomorow 9:00 audit").unwrap_err();
        assert!(err.contains("`tomorow 9:00`"), "{err}");
    }

    #[test]
    fn mentions_become_principals_and_channels() {
        assert_eq!(
            parse_principal("<@U0BOB|bob>").map(|p| p.to_string()),
            Some("U0BOB".into())
        );
        assert_eq!(
            parse_principal("<!subteam^S0DATA|@data>").map(|p| p.to_string()),
            Some("S0DATA".into())
        );
        assert_eq!(
            parse_principal("U0BOB").map(|p| p.to_string()),
            Some("U0BOB".into())
        );
        assert_eq!(parse_principal("@bob"), None);
        assert_eq!(
            parse_channel("<#C0ACCESS|access-requests>").as_deref(),
            Some("C0ACCESS")
        );
        assert_eq!(parse_channel("#general"), None);
    }
}
