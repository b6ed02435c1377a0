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

/// The users `text` mentions (`<@U…>`, with or without a `|label`), each once, in order.
pub(crate) fn mentioned(text: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    for part in text.split("<@").skip(1) {
        let Some(end) = part.find('>') else { continue };
        let id = part[..end].split('|').next().unwrap_or_default();
        if !id.is_empty() && !found.iter().any(|f| f == id) {
            found.push(id.to_owned());
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_are_found_once_each_in_order() {
        assert_eq!(
            mentioned(
                "<@UBOB> approved; <@URITA|rita> and <@UBOB> too; <!subteam^S1>, a <@ broken"
            ),
            ["UBOB", "URITA"]
        );
    }
}
