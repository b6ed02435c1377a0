//! Who a posted message notifies, with Slack's default preference ("direct messages, mentions
//! and keywords"), so that tests can say who was pinged and how often:
//! - every message in a DM notifies the other person in it;
//! - in a channel, a person is notified when mentioned (`<@U…>`), through a user group they are
//!   in (`<!subteam^S…>`), or by `<!here>`/`<!channel>`/`<!everyone>`, and only if they are a
//!   member: a mentioned non-member is not notified
//!   (https://slack.com/help/articles/205240127-Use-mentions-in-Slack);
//! - nobody is notified by their own message, and an edit notifies no one
//!   (https://slack.com/help/articles/202395258-Edit-or-delete-messages), so only new posts count.
//!
//! Mentions are read from the text and from every string in the blocks: a bot's mentions in a
//! section's mrkdwn notify as the fallback text's would.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::state::State;

/// One notification a person received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    pub user: String,
    pub channel: String,
    pub ts: String,
    /// "dm", "mention", "group" or "channel".
    pub why: String,
}

/// The mentions (`<@U…>`, `<!subteam^S…>`, `<!here>`…) in `text`, as Slack writes them.
fn mentions(text: &str, out: &mut Vec<String>) {
    let mut rest = text;
    while let Some(start) = rest.find('<') {
        rest = &rest[start + 1..];
        let Some(end) = rest.find('>') else { break };
        let inner = &rest[..end];
        // `<@U123|name>` and `<!subteam^S1|@group>`: the label after `|` is only shown.
        let id = inner.split('|').next().unwrap_or(inner);
        if id.starts_with('@') || id.starts_with('!') {
            out.push(id.to_owned());
        }
        rest = &rest[end..];
    }
}

fn strings_in(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => mentions(s, out),
        Value::Array(a) => a.iter().for_each(|x| strings_in(x, out)),
        Value::Object(o) => o.values().for_each(|x| strings_in(x, out)),
        _ => {}
    }
}

/// Whom the new message `ts` by `author` in `channel` notifies, and why; each person once.
pub fn of_post(
    st: &State,
    author: &str,
    channel: &str,
    ts: &str,
    text: &str,
    blocks: Option<&Value>,
) -> Vec<Notification> {
    let Some(c) = st.channels.get(channel) else {
        return Vec::new();
    };
    let mut reached: Vec<(String, &'static str)> = Vec::new();
    let mut add = |user: &str, why: &'static str| {
        if user != author
            && c.members.iter().any(|m| m == user)
            && !reached.iter().any(|(u, _)| u == user)
        {
            reached.push((user.to_owned(), why));
        }
    };
    if c.is_im {
        for m in &c.members {
            add(m, "dm");
        }
    } else {
        let mut found = Vec::new();
        mentions(text, &mut found);
        if let Some(b) = blocks {
            strings_in(b, &mut found);
        }
        for m in &found {
            if let Some(user) = m.strip_prefix('@') {
                add(user, "mention");
            } else if let Some(group) = m.strip_prefix("!subteam^") {
                for user in st.usergroups.get(group).into_iter().flatten() {
                    add(user, "group");
                }
            } else if matches!(m.as_str(), "!here" | "!channel" | "!everyone") {
                for user in &c.members {
                    add(user, "channel");
                }
            }
        }
    }
    reached
        .into_iter()
        .map(|(user, why)| Notification {
            user,
            channel: channel.to_owned(),
            ts: ts.to_owned(),
            why: why.to_owned(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_are_read_with_and_without_labels() {
        let mut found = Vec::new();
        mentions(
            "Ask <@U1>, <@U2|bob> or <!subteam^S1|@leads>; see <https://x|x> and <#C1>; <!here>",
            &mut found,
        );
        assert_eq!(found, ["@U1", "@U2", "!subteam^S1", "!here"]);
    }
}
