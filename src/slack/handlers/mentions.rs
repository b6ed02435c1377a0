//! Reading the people, groups and channels a command names: Slack's escaped mentions
//! (`<@U123|name>`, `<!subteam^S123|@group>`, `<#C123|name>`) or bare IDs.

use crate::domain::Principal;

/// Reads `<@U123|name>`, `<!subteam^S123|@group>` or a bare ID.
pub fn parse_principal(word: &str) -> Option<Principal> {
    let inner = word.trim_start_matches('<').trim_end_matches('>');
    let id = inner
        .strip_prefix('@')
        .or_else(|| inner.strip_prefix("!subteam^"))
        .unwrap_or(inner);
    let id = id.split('|').next().unwrap_or(id);
    id.parse().ok()
}

/// Reads `<#C123|name>` or a bare channel ID.
pub fn parse_channel(word: &str) -> Option<String> {
    let inner = word.trim_start_matches('<').trim_end_matches('>');
    let id = inner.strip_prefix('#').unwrap_or(inner);
    let id = id.split('|').next().unwrap_or(id);
    let ok = id.len() >= 3
        && (id.starts_with('C') || id.starts_with('G'))
        && id
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    ok.then(|| id.to_owned())
}
