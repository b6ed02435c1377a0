//! Slack's mrkdwn, the pieces every message builds on: escaping what people typed, and
//! mentioning a user.

/// Slack's mrkdwn escaping: `&`, `<` and `>` are the only control characters. Without it a
/// reason like `<!channel>` would ping everyone.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A mention of the user with this ID.
pub(crate) fn user(id: &str) -> String {
    format!("<@{id}>")
}
