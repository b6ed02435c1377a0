//! App Home: the person's open requests and access, their review queue, the active access of
//! others they may revoke, and for admins the requests whose provisioning failed.

use serde_json::{Value, json};

use super::context::SlackContext;
use super::views::{cancel_button, escape, relinquish_button, status_line};
use crate::domain::{SlackUserId, Status};
use crate::store::requests::Request;
use crate::workflow::WorkflowError;

fn header(text: &str) -> Value {
    json!({ "type": "header", "text": { "type": "plain_text", "text": text } })
}

/// The resource's name, escaped for mrkdwn (its id once it has left the catalog).
fn resource_name(ctx: &SlackContext, r: &Request) -> String {
    ctx.workflow
        .catalog()
        .resource(&r.resource)
        .map(|res| escape(&res.name))
        .unwrap_or_else(|| escape(r.resource.as_str()))
}

fn line(ctx: &SlackContext, r: &Request) -> String {
    let name = resource_name(ctx, r);
    format!(
        "*#{} {name}* ({})\n{}",
        r.id.get(),
        r.duration,
        status_line(r)
    )
}

fn with_button(text: String, label: &str, action: &str, id: i64, style: Option<&str>) -> Value {
    let mut button = json!({
        "type": "button",
        "text": { "type": "plain_text", "text": label },
        "action_id": action,
        "value": id.to_string(),
    });
    if let Some(s) = style {
        button["style"] = json!(s);
    }
    json!({ "type": "section", "text": { "type": "mrkdwn", "text": text }, "accessory": button })
}

fn plain_section(text: String) -> Value {
    json!({ "type": "section", "text": { "type": "mrkdwn", "text": text } })
}

/// The Home view of `user`, as of now.
pub async fn view(ctx: &SlackContext, user: &SlackUserId) -> Result<Value, WorkflowError> {
    let wf = &ctx.workflow;
    let mine = wf.requests_of(user).await?;
    let mut blocks = vec![
        header("Your access requests"),
        json!({ "type": "actions", "block_id": "start", "elements": [
            { "type": "button", "text": { "type": "plain_text", "text": "Request access" }, "style": "primary", "action_id": "request_access", "value": "new" }
        ] }),
    ];
    let open: Vec<&Request> = mine
        .iter()
        .filter(|r| {
            matches!(
                r.status,
                Status::Pending | Status::Approved | Status::Provisioning | Status::Failed
            )
        })
        .collect();
    if open.is_empty() {
        blocks.push(plain_section("_No open requests._".into()));
    }
    for r in open.iter().take(LIST_SHOWN) {
        let text = own_line(ctx, r).await;
        // Until access is granted, the requester can call it off.
        blocks.push(if matches!(r.status, Status::Pending | Status::Approved) {
            json!({ "type": "section", "text": { "type": "mrkdwn", "text": text }, "accessory": cancel_button(r.id.get()) })
        } else {
            plain_section(text)
        });
    }
    blocks.extend(more(open.len()));
    blocks.push(header("Your access"));
    let active: Vec<&Request> = mine.iter().filter(|r| r.status == Status::Active).collect();
    if active.is_empty() {
        blocks.push(plain_section("_No active access._".into()));
    }
    for r in active.iter().take(LIST_SHOWN) {
        let id = r.id.get().to_string();
        blocks.push(plain_section(line(ctx, r)));
        blocks.push(json!({
            "type": "actions",
            "elements": [
                { "type": "button", "text": { "type": "plain_text", "text": "Extend" }, "action_id": "extend", "value": id },
                relinquish_button(r.id.get(), &resource_name(ctx, r))
            ]
        }));
    }
    blocks.extend(more(active.len()));
    let queue = wf.review_queue(user).await?;
    if !queue.is_empty() {
        blocks.push(header("Waiting for your review"));
        for r in queue.iter().take(LIST_SHOWN) {
            let text = format!(
                "{}\nRequested by <@{}>: {}",
                line(ctx, r),
                r.requester,
                r.reason.as_deref().map(escape).unwrap_or_default()
            );
            blocks.push(plain_section(text));
            blocks.push(json!({
                "type": "actions",
                "elements": [
                    { "type": "button", "text": { "type": "plain_text", "text": "Approve" }, "style": "primary", "action_id": "approve", "value": r.id.get().to_string() },
                    { "type": "button", "text": { "type": "plain_text", "text": "Deny" }, "style": "danger", "action_id": "deny", "value": r.id.get().to_string() }
                ]
            }));
        }
    }
    if !queue.is_empty() {
        blocks.extend(more(queue.len()));
    }
    blocks.extend(history(ctx, &mine));
    blocks.extend(revocable_blocks(ctx, user).await?);
    if wf.is_admin(user).await? {
        blocks.extend(admin_blocks(ctx).await?);
    }
    Ok(json!({ "type": "home", "blocks": blocks }))
}

/// How many of each of one's own lists App Home shows: the rest is counted (Slack allows 100
/// blocks in a view, and the admin section needs its share).
const LIST_SHOWN: usize = 8;

/// How many ended requests "Recently ended" shows.
const HISTORY_SHOWN: usize = 5;

/// "…and N more" under a list of `len` of which `LIST_SHOWN` are shown.
fn more(len: usize) -> Option<Value> {
    (len > LIST_SHOWN).then(|| {
        plain_section(format!(
            "_…and {} more. `/access-check` answers about any of them._",
            len - LIST_SHOWN
        ))
    })
}

/// A line of one's own request. A pending one says who it waits for: the reviewers, not the
/// ✅ and ❌ meant for them.
async fn own_line(ctx: &SlackContext, r: &Request) -> String {
    let resource = ctx.workflow.catalog().resource(&r.resource);
    let (Status::Pending, Some(resource)) = (r.status, resource) else {
        return line(ctx, r);
    };
    let who = ctx.reviewer_mentions(resource).await;
    let who = if who.is_empty() {
        "a reviewer (none is named yet; an admin can add one)".to_owned()
    } else {
        who.join(" or ")
    };
    format!(
        "*#{} {}* ({})\n⏳ Waiting for {who}",
        r.id.get(),
        resource_name(ctx, r),
        r.duration
    )
}

/// One's latest requests that ended, newest first, as the channel shows them.
fn history(ctx: &SlackContext, mine: &[Request]) -> Vec<Value> {
    let ended: Vec<&Request> = mine
        .iter()
        .rev()
        .filter(|r| r.status.is_final())
        .take(HISTORY_SHOWN)
        .collect();
    if ended.is_empty() {
        return Vec::new();
    }
    let mut blocks = vec![header("Recently ended")];
    blocks.extend(ended.into_iter().map(|r| plain_section(line(ctx, r))));
    blocks
}

/// How many others' grants App Home lists with Revoke (Slack allows 100 blocks in all).
const REVOCABLE_SHOWN: usize = 20;

/// For reviewers and admins: others' active access they may end now, each with Revoke.
async fn revocable_blocks(
    ctx: &SlackContext,
    user: &SlackUserId,
) -> Result<Vec<Value>, WorkflowError> {
    let active = ctx.workflow.revocable_by(user).await?;
    if active.is_empty() {
        return Ok(Vec::new());
    }
    let mut blocks = vec![header("Access you can revoke")];
    for r in active.iter().take(REVOCABLE_SHOWN) {
        let text = format!(
            "{}\nHeld by <@{}> as `{}`",
            line(ctx, r),
            r.requester,
            escape(r.identity.as_deref().unwrap_or("?"))
        );
        blocks.push(with_button(
            text,
            "Revoke",
            super::views::REVOKE,
            r.id.get(),
            Some("danger"),
        ));
    }
    if active.len() > REVOCABLE_SHOWN {
        blocks.push(plain_section(format!(
            "_…and {} more; revoke any with `/access-admin revoke #ID REASON` or the Revoke button on its request._",
            active.len() - REVOCABLE_SHOWN
        )));
    }
    Ok(blocks)
}

/// For admins: failed provisioning and failed jobs (with Retry), reviewers, connectors.
async fn admin_blocks(ctx: &SlackContext) -> Result<Vec<Value>, WorkflowError> {
    let wf = &ctx.workflow;
    let mut blocks = vec![
        header("Admin"),
        json!({ "type": "actions", "elements": [
            { "type": "button", "text": { "type": "plain_text", "text": "Search identities" }, "action_id": "identity_search", "value": "search" }
        ] }),
    ];
    let failed = wf.requests_in(Status::Failed).await?;
    if failed.is_empty() {
        blocks.push(plain_section("_No failed provisioning._".into()));
    }
    for r in &failed {
        blocks.push(with_button(
            line(ctx, r),
            "Retry",
            "retry",
            r.id.get(),
            Some("primary"),
        ));
    }
    // Provisioning failures are retried per request, above; here the other jobs that gave up.
    for job in wf
        .failed_jobs()
        .await?
        .iter()
        .filter(|j| j.kind != "provision")
    {
        let still = if job.status == crate::store::jobs::JobStatus::Queued {
            "Failing job (Gatehouse keeps retrying)"
        } else {
            "Failed job"
        };
        let text = format!(
            "*{still}:* {}{} after {} attempts\n{}",
            job.kind,
            job.request_id
                .map(|r| format!(" for request #{r}"))
                .unwrap_or_default(),
            job.attempts,
            escape(job.last_error.as_deref().unwrap_or("no error recorded"))
        );
        blocks.push(with_button(
            text,
            "Retry job",
            "retry_job",
            job.id,
            Some("primary"),
        ));
    }
    let mut lines = Vec::new();
    for r in &wf.catalog().resources {
        let added = wf
            .reviewers_added(&crate::workflow::Scope::Resource(r.id.clone()))
            .await?;
        let mut names: Vec<String> = r.all_reviewers().iter().map(principal).collect();
        names.extend(added.iter().map(|g| principal(&g.principal)));
        names.dedup();
        let names = if names.is_empty() {
            "_nobody_".into()
        } else {
            names.join(", ")
        };
        lines.push(format!("• `{}` via `{}`: {names}", r.id, r.connector));
    }
    blocks.push(plain_section(format!("*Reviewers*\n{}", lines.join("\n"))));
    let mut connectors = Vec::new();
    for c in wf.catalog().connectors.values() {
        let what = c.kind.describe();
        let health = match wf.connector_health(&c.id).await {
            None => String::new(),
            Some(Ok(())) => " — ✅ reachable".into(),
            Some(Err(e)) => format!(" — ⚠️ unreachable: {}", escape(&e)),
        };
        connectors.push(format!("• `{}` ({}): {what}{health}", c.id, c.kind.name()));
    }
    blocks.push(plain_section(format!(
        "*Connectors*\n{}",
        connectors.join("\n")
    )));
    blocks.push(plain_section(platforms(wf.last_platform_report())));
    Ok(blocks)
}

/// How many resources App Home lists under "Platforms" (those that cannot be granted first).
const PLATFORM_LINES: usize = 15;

/// Slack's limit on a section's text (Block Kit reference, section block).
const SECTION_MAX: usize = 3000;

/// What the platforms said of each resource when `serve` last asked them.
fn platforms(report: Option<crate::workflow::PlatformReport>) -> String {
    let Some(report) = report else {
        return "*Platforms*\n_Not asked yet: Gatehouse asks each platform when it starts, then hourly; `gatehouse check-config --platforms` asks now._".into();
    };
    let mut lines: Vec<_> = report.problems().collect();
    lines.extend(report.resources.iter().filter(|r| r.ok()));
    let mut text = format!(
        "*Platforms* — {}, as asked {}",
        report.summary(),
        super::views::slack_date(report.checked_at)
    );
    let mut shown = 0;
    for r in lines.iter().take(PLATFORM_LINES) {
        let line = format!("\n{}", escape(&r.to_string()));
        // A section's text holds 3,000 characters at most; the rest are counted below.
        if text.len() + line.len() > SECTION_MAX - 120 {
            break;
        }
        text.push_str(&line);
        shown += 1;
    }
    if lines.len() > shown {
        text.push_str(&format!(
            "\n_…and {} more: `gatehouse check-config --platforms` lists them all._",
            lines.len() - shown
        ));
    }
    text
}

fn principal(p: &crate::domain::Principal) -> String {
    super::views::mention(p)
}

/// Publishes `user`'s Home; failures are logged, never shown as errors to anyone.
pub async fn publish(ctx: &SlackContext, user: &SlackUserId) {
    match view(ctx, user).await {
        Ok(v) => {
            if let Err(e) = ctx.api.publish_home(user.as_str(), &v).await {
                tracing::warn!(user = %user, error = %e, "cannot publish App Home");
            }
        }
        Err(e) => tracing::error!(user = %user, error = %e, "cannot build App Home"),
    }
}
