//! Answers to access questions, in words: for Slack (mentions, Slack's own date format) and for
//! the command line (plain text, UTC times). The facts come from `workflow::Answer`.

use chrono::{DateTime, Utc};

use crate::workflow::{AccessFact, Answer, Live};

/// Where the text goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Slack,
    Plain,
}

impl Style {
    fn person(self, id: &str) -> String {
        match self {
            Style::Slack => super::views::user(id),
            Style::Plain => id.to_owned(),
        }
    }

    fn time(self, at: DateTime<Utc>) -> String {
        match self {
            Style::Slack => super::views::slack_date(at),
            Style::Plain => at.format("%Y-%m-%d %H:%M UTC").to_string(),
        }
    }

    fn text(self, s: &str) -> String {
        match self {
            Style::Slack => super::views::escape(s),
            Style::Plain => s.to_owned(),
        }
    }

    fn bold(self, s: &str) -> String {
        match self {
            Style::Slack => format!("*{}*", self.text(s)),
            Style::Plain => s.to_owned(),
        }
    }
}

pub fn render(answer: &Answer, style: Style) -> String {
    match answer {
        Answer::Check(f) => {
            let who = style.person(&f.user);
            let what = style.bold(&f.resource.name);
            let head = if f.has_access {
                format!("✅ Yes: {who} has access to {what} (`{}`).", f.resource.id)
            } else {
                format!(
                    "❌ No: {who} does not have access to {what} (`{}`).",
                    f.resource.id
                )
            };
            format!("{head}\n{}", reasons(f, style))
        }
        Answer::Expiry(f) => {
            let who = style.person(&f.user);
            let what = style.bold(&f.resource.name);
            let head = match &f.grant {
                Some(g) => match g.expires_at {
                    Some(at) => format!(
                        "⏳ {who}'s access to {what} ends {} (request #{}).",
                        style.time(at),
                        g.request
                    ),
                    None => format!(
                        "⏳ {who}'s access to {what} is still being granted (request #{}); it ends a set time after that.",
                        g.request
                    ),
                },
                None if f.has_access => format!(
                    "{who} has access to {what}, but not through Gatehouse, so Gatehouse sets no end to it."
                ),
                None => format!("{who} has no access to {what}, so nothing ends."),
            };
            format!("{head}\n{}", reasons(f, style))
        }
        Answer::AccessOf {
            user,
            items,
            hidden,
        } => {
            let who = style.person(user);
            let mut out = if items.is_empty() {
                format!("{who} has no access that Gatehouse knows of.")
            } else {
                format!("{who} has access to {}:", count(items.len(), "resource"))
            };
            for f in items {
                out += &format!("\n• {}", line(f, style));
            }
            if *hidden > 0 {
                out += &format!(
                    "\n_{} left out: you may only ask about resources you review._",
                    count(*hidden, "resource")
                );
            }
            out
        }
        Answer::WhoHas { resource, holders } => {
            let what = style.bold(&resource.name);
            let mut out = if holders.is_empty() {
                format!(
                    "Nobody has access to {what} (`{}`) that Gatehouse knows of.",
                    resource.id
                )
            } else {
                format!(
                    "{} access to {what} (`{}`):",
                    count(holders.len(), "person has"),
                    resource.id
                )
            };
            for f in holders {
                out += &format!("\n• {} — {}", style.person(&f.user), line(f, style));
            }
            out
        }
    }
}

/// A language model's answer, shown like any other text: `&`, `<` and `>` escaped, so a
/// `<!channel>` it writes pings nobody and a `<https://…|click>` links nowhere. Only a mention
/// of one Slack user (`<@U123>`, which the prompt asks for and which notifies no one in an
/// ephemeral or the bot's DM) is kept, without any label the model put in it.
pub fn model_words(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("<@") {
        out += &super::views::escape(&rest[..at]);
        let after = &rest[at + 2..];
        let mention = after.find('>').and_then(|end| {
            let id = after[..end].split('|').next().unwrap_or("");
            crate::domain::SlackUserId::parse(id).ok().map(|u| (u, end))
        });
        match mention {
            Some((user, end)) => {
                out += &super::views::user(user.as_str());
                rest = &after[end + 1..];
            }
            None => {
                out += "&lt;@";
                rest = after;
            }
        }
    }
    out += &super::views::escape(rest);
    out
}

fn count(n: usize, what: &str) -> String {
    match (n, what) {
        (1, _) => format!("1 {what}"),
        (_, "person has") => format!("{n} people have"),
        _ => format!("{n} {what}s"),
    }
}

/// One line per fact in a list: the resource, until when, and the platform's word.
fn line(f: &AccessFact, style: Style) -> String {
    let until = match f
        .grant
        .as_ref()
        .and_then(|g| g.expires_at.map(|at| (g, at)))
    {
        Some((g, at)) => format!("until {} (request #{})", style.time(at), g.request),
        None if f.grant.is_some() => "being granted".into(),
        None => "not through Gatehouse".into(),
    };
    let mut s = format!(
        "{} — {until}; {}",
        style.bold(&f.resource.name),
        platform_words(f, style)
    );
    if let Some(d) = &f.drift {
        s += &format!(" ⚠️ {}", style.text(d));
    }
    s
}

fn platform_words(f: &AccessFact, style: Style) -> String {
    match &f.platform {
        Live::Held { direct, through } => {
            let mut ways = Vec::new();
            if *direct {
                ways.push("directly".to_owned());
            }
            ways.extend(through.iter().map(|t| format!("through {}", style.text(t))));
            format!("the platform confirms it ({})", ways.join(", "))
        }
        Live::NotHeld => "the platform says they do not have it".into(),
        Live::NoAnswer { error } => format!("the platform did not answer: {}", style.text(error)),
        Live::CannotCheck { why } => format!("not checked on the platform: {}", style.text(why)),
    }
}

/// Why: the grant behind it, the platform's word right now, and any drift.
fn reasons(f: &AccessFact, style: Style) -> String {
    let mut lines = Vec::new();
    match &f.grant {
        Some(g) => {
            let mut s = format!("• Gatehouse: request #{} ({})", g.request, g.status);
            if let Some(by) = &g.approved_by {
                s += &format!(", approved by {}", style.person(by));
            }
            if let Some(at) = g.active_since {
                s += &format!(", granted {}", style.time(at));
            }
            if let Some(at) = g.expires_at {
                s += &format!(", expires {}", style.time(at));
            }
            lines.push(s);
        }
        None => lines.push("• Gatehouse: no grant of this access is live".into()),
    }
    let as_who = f
        .identity
        .as_deref()
        .map(|i| format!(" as `{}`", style.text(i)))
        .unwrap_or_default();
    lines.push(format!(
        "• Platform (`{}`{as_who}): {}",
        f.resource.connector,
        platform_words(f, style)
    ));
    if let Some(d) = &f.drift {
        lines.push(format!("• ⚠️ Drift: {}", style.text(d)));
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::{GrantFact, ResourceRef};
    use chrono::TimeZone;

    fn fact(platform: Live, grant: bool) -> AccessFact {
        AccessFact {
            user: "UMARIA".into(),
            resource: ResourceRef {
                id: "finance".into(),
                name: "Finance <warehouse>".into(),
                connector: "warehouse".into(),
            },
            identity: Some("maria".into()),
            grant: grant.then(|| GrantFact {
                request: 7,
                status: "active".into(),
                approved_by: Some("UBOB".into()),
                active_since: Some(Utc.with_ymd_and_hms(2026, 11, 28, 9, 0, 0).unwrap()),
                expires_at: Some(Utc.with_ymd_and_hms(2026, 11, 28, 17, 0, 0).unwrap()),
            }),
            has_access: matches!(platform, Live::Held { .. }),
            platform,
            drift: None,
        }
    }

    #[test]
    fn a_yes_says_which_grant_and_what_the_platform_said() {
        let f = fact(
            Live::Held {
                direct: true,
                through: vec!["role `analysts`".into()],
            },
            true,
        );
        let text = render(&Answer::Check(f), Style::Plain);
        assert_eq!(
            text,
            "✅ Yes: UMARIA has access to Finance <warehouse> (`finance`).\n\
             • Gatehouse: request #7 (active), approved by UBOB, granted 2026-11-28 09:00 UTC, expires 2026-11-28 17:00 UTC\n\
             • Platform (`warehouse` as `maria`): the platform confirms it (directly, through role `analysts`)"
        );
    }

    #[test]
    fn model_words_keep_user_mentions_and_escape_everything_else() {
        assert_eq!(
            model_words("<!channel> see <https://evil.example|click> & ask <@U0MARIA|boss>"),
            "&lt;!channel&gt; see &lt;https://evil.example|click&gt; &amp; ask <@U0MARIA>"
        );
        assert_eq!(
            model_words("<@<!here>> <@lower> <@U1"),
            "&lt;@&lt;!here&gt;&gt; &lt;@lower&gt; &lt;@U1"
        );
        assert_eq!(model_words("<@U0A|<!everyone>>"), "<@U0A>&gt;");
    }

    #[test]
    fn slack_text_escapes_names_and_mentions_people() {
        let f = fact(
            Live::NoAnswer {
                error: "the platform did not answer within 3 s".into(),
            },
            false,
        );
        let text = render(&Answer::Check(f), Style::Slack);
        assert!(
            text.starts_with(
                "❌ No: <@UMARIA> does not have access to *Finance &lt;warehouse&gt;*"
            ),
            "{text}"
        );
        assert!(
            text.contains("the platform did not answer within 3 s"),
            "{text}"
        );
    }
}
