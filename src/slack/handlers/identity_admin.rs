//! `/access-admin link|unlink|identities`: admins see a person's platform identities and the
//! access they hold now, and fix a link that was found wrongly or not at all.

use super::mentions::parse_principal;
use super::say;
use crate::domain::{Principal, SlackUserId};
use crate::slack::context::SlackContext;
use crate::slack::views::{escape, local_time};
use crate::store::links::Method;

pub const USAGE: &str = "• `/access-admin identities @person` — their platform identities and current access\n• `/access-admin link @person CONNECTOR PLATFORM-USER` — set which platform user they are\n• `/access-admin unlink @person CONNECTOR` — forget it; the next request finds it again or asks a reviewer";

fn person(word: &str) -> Result<SlackUserId, String> {
    match parse_principal(word) {
        Some(Principal::User(u)) => Ok(u),
        _ => Err(format!(
            "`{}` is not a person; mention them, like @maria.\n{USAGE}",
            escape(word)
        )),
    }
}

/// `identities @person`.
pub async fn show(ctx: &SlackContext, admin: &SlackUserId, who: &str) -> String {
    let user = match person(who) {
        Ok(u) => u,
        Err(e) => return e,
    };
    let access = match ctx.workflow.person_access(admin, &user).await {
        Ok(a) => a,
        Err(e) => return say(&e),
    };
    let mut lines = vec![format!("*<@{user}>*")];
    if access.links.is_empty() {
        lines.push("No platform identity is linked yet: one is found by email or by the connector's rule at their next request, or set it with `/access-admin link`.".into());
    }
    for l in &access.links {
        let how = match l.method {
            Method::Admin => format!(
                "set by {}",
                l.created_by
                    .as_deref()
                    .map(|u| format!("<@{u}>"))
                    .unwrap_or_else(|| "an admin".into())
            ),
            Method::Email => "matched by email".into(),
            Method::Rule => "derived by the connector's rule".into(),
        };
        lines.push(format!(
            "• `{}`: `{}` — {how}",
            l.connector_id,
            escape(&l.platform_id)
        ));
    }
    if access.active.is_empty() {
        lines.push("No access held through Gatehouse now.".into());
    } else {
        lines.push("*Access now*".into());
        for r in &access.active {
            lines.push(format!(
                "• #{} `{}` as `{}` until {}",
                r.id,
                r.resource,
                escape(r.identity.as_deref().unwrap_or("?")),
                r.expires_at
                    .map(|t| local_time(t, None))
                    .unwrap_or_else(|| "—".into())
            ));
        }
    }
    lines.join("\n")
}

/// `link @person CONNECTOR PLATFORM-USER…` (the platform user may contain spaces).
pub async fn link(ctx: &SlackContext, admin: &SlackUserId, text: &str) -> String {
    let mut parts = text.trim().splitn(4, char::is_whitespace);
    let (_, who, connector, identity) = (parts.next(), parts.next(), parts.next(), parts.next());
    let (Some(who), Some(connector), Some(identity)) = (who, connector, identity) else {
        return format!("Say who, on which connector, and as which platform user.\n{USAGE}");
    };
    let user = match person(who) {
        Ok(u) => u,
        Err(e) => return e,
    };
    match ctx
        .workflow
        .link_identity(admin, &user, connector, identity)
        .await
    {
        Ok(l) => format!(
            "<@{user}> is `{}` on `{}` from now on; their next grants there go to that user.",
            escape(&l.platform_id),
            l.connector_id
        ),
        Err(e) => say(&e),
    }
}

/// `unlink @person CONNECTOR`.
pub async fn unlink(ctx: &SlackContext, admin: &SlackUserId, who: &str, connector: &str) -> String {
    let user = match person(who) {
        Ok(u) => u,
        Err(e) => return e,
    };
    match ctx.workflow.unlink_identity(admin, &user, connector).await {
        Ok(true) => format!("<@{user}> is no longer linked on `{}`.", escape(connector)),
        Ok(false) => format!("<@{user}> had no link on `{}`.", escape(connector)),
        Err(e) => say(&e),
    }
}
