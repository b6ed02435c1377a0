//! Questions people ask Gatehouse about access, in their own words: "does @maria have access to
//! finance-warehouse?", "who can read analytics.sales?", "what does @sam have access to?",
//! "when does @sam's access to looker-finance expire?". The parser needs no outside service:
//! a few patterns cover the common phrasings, and anything else is `NotUnderstood`.

use std::sync::LazyLock;

use regex::Regex;

use super::SlackUserId;

/// Whom a question is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// The person asking ("I", "me", "my").
    Me,
    /// A Slack user, from a mention (`<@U123>`).
    User(SlackUserId),
    /// Someone named in plain words ("maria", "maria@example.com"): a platform user that a
    /// Slack user is linked to, found by the workflow.
    Named(String),
}

/// A question Gatehouse can answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Question {
    /// Does the subject have access to the resource now, and why?
    Check { who: Subject, resource: String },
    /// When does the subject's access to the resource end?
    Expiry { who: Subject, resource: String },
    /// Everything the subject has access to.
    AccessOf { who: Subject },
    /// Everyone who has access to the resource.
    WhoHas { resource: String },
}

impl Question {
    pub fn subject(&self) -> Option<&Subject> {
        match self {
            Question::Check { who, .. }
            | Question::Expiry { who, .. }
            | Question::AccessOf { who } => Some(who),
            Question::WhoHas { .. } => None,
        }
    }
}

/// What the parser could not read, kept for the reply (and for a language model, if any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotUnderstood(pub String);

/// The forms people can use, for a reply to a question that was not understood.
pub const EXAMPLES: &[&str] = &[
    "does @maria have access to finance-warehouse?",
    "who can read analytics-ro?",
    "what does @sam have access to?",
    "when does @sam's access to looker-finance expire?",
];

// A subject: a Slack mention, or I/me/my. Possessives ('s, ’s) are allowed after a mention.
const WHO: &str =
    r"(?P<who><@[A-Z0-9]+(?:\|[^>]*)?>|i|me|my|[A-Za-z0-9._+-]+(?:@[A-Za-z0-9.-]+)?)(?:'s|’s)?";
const RES: &str = r"(?P<res>[^\s?!,;]+(?:\s+[^\s?!,;]+)*?)";

static PATTERNS: LazyLock<Vec<(Kind, Regex)>> = LazyLock::new(|| {
    let p = |kind: Kind, body: &str| {
        let re = format!(r"(?i)^\s*{body}\s*[?.!]*\s*$")
            .replace("WHO", WHO)
            .replace("RES", RES);
        (
            kind,
            Regex::new(&re).unwrap_or_else(|e| panic!("pattern {body}: {e}")),
        )
    };
    vec![
        p(
            Kind::Expiry,
            r"when\s+(?:does|will|do)\s+WHO\s+access\s+(?:to|on)\s+RES\s+(?:expire|end|run\s+out|stop)",
        ),
        p(
            Kind::Expiry,
            r"when\s+(?:does|will|do)\s+WHO\s+lose\s+(?:access\s+to\s+)?RES",
        ),
        p(
            Kind::Expiry,
            r"(?:how\s+long\s+(?:does|do|will)\s+WHO\s+(?:have|keep)\s+(?:access\s+to\s+)?RES)",
        ),
        p(
            Kind::Expiry,
            r"when\s+is\s+WHO\s+access\s+to\s+RES\s+(?:expiring|ending|over)",
        ),
        p(
            Kind::AccessOf,
            r"(?:what|which\s+\w+)\s+(?:does|do|can)\s+WHO\s+(?:have\s+access\s+to|access|have)",
        ),
        p(Kind::AccessOf, r"what\s+access\s+(?:does|do)\s+WHO\s+have"),
        p(Kind::AccessOf, r"(?:list|show)\s+WHO\s+access"),
        p(
            Kind::WhoHas,
            r"who\s+(?:can\s+(?:read|access|see|use|query|write\s+to)|has\s+access\s+to|has|is\s+in|holds|is\s+allowed\s+(?:in|into|to\s+access))\s+RES",
        ),
        p(
            Kind::Check,
            r"(?:does|do)\s+WHO\s+(?:still\s+)?(?:have|hold)\s+(?:access\s+to\s+)?RES",
        ),
        p(
            Kind::Check,
            r"(?:can|could)\s+WHO\s+(?:read|access|see|use|query)\s+RES",
        ),
        p(
            Kind::Check,
            r"(?:has|have)\s+WHO\s+(?:got\s+)?access\s+to\s+RES",
        ),
        p(
            Kind::Check,
            r"(?:is|am)\s+WHO\s+(?:allowed\s+(?:in|into|to\s+access)|in)\s+RES",
        ),
    ]
});

#[derive(Debug, Clone, Copy)]
enum Kind {
    Check,
    Expiry,
    AccessOf,
    WhoHas,
}

/// Reads a question. A leading mention of the bot (`<@UBOT> does …`) is ignored by passing the
/// bot's id as `bot`.
pub fn parse(text: &str, bot: Option<&str>) -> Result<Question, NotUnderstood> {
    let mut t = text.trim();
    if let Some(bot) = bot {
        let mention = format!("<@{bot}>");
        if let Some(rest) = t.strip_prefix(&mention) {
            t = rest.trim_start_matches([':', ',']).trim();
        }
    }
    for (kind, re) in PATTERNS.iter() {
        let Some(c) = re.captures(t) else { continue };
        let resource = c
            .name("res")
            .map(|m| clean_resource(m.as_str()))
            .unwrap_or_default();
        let who = match c.name("who").map(|m| subject(m.as_str())) {
            Some(Some(who)) => Some(who),
            Some(None) => return Err(NotUnderstood(text.to_owned())),
            None => None,
        };
        let q = match (kind, who) {
            (Kind::Check, Some(who)) if !resource.is_empty() => Question::Check { who, resource },
            (Kind::Expiry, Some(who)) if !resource.is_empty() => Question::Expiry { who, resource },
            (Kind::AccessOf, Some(who)) => Question::AccessOf { who },
            (Kind::WhoHas, _) if !resource.is_empty() => Question::WhoHas { resource },
            _ => continue,
        };
        return Ok(q);
    }
    Err(NotUnderstood(text.to_owned()))
}

fn subject(s: &str) -> Option<Subject> {
    let s = s.trim();
    if let Some(inner) = s.strip_prefix("<@").and_then(|r| r.strip_suffix('>')) {
        let id = inner.split('|').next().unwrap_or_default();
        return SlackUserId::parse(id).ok().map(Subject::User);
    }
    if s.starts_with('<') {
        return None;
    }
    match s.to_lowercase().as_str() {
        "i" | "me" | "my" => Some(Subject::Me),
        // Words that read as a subject in these patterns but name nobody.
        "it" | "anyone" | "someone" | "everyone" | "they" | "we" | "you" | "he" | "she" => None,
        _ => Some(Subject::Named(s.to_owned())),
    }
}

/// Drops what people wrap names in: backticks, quotes, "the", and a trailing "resource".
fn clean_resource(s: &str) -> String {
    let s = s
        .trim()
        .trim_matches(|c| matches!(c, '`' | '"' | '\'' | '“' | '”' | '*'));
    let s = s.strip_prefix("the ").unwrap_or(s);
    let s = s
        .strip_suffix(" resource")
        .or_else(|| s.strip_suffix(" now"))
        .or_else(|| s.strip_suffix(" right now"))
        .unwrap_or(s);
    let s = s.trim();
    // "does X have access to ?" names nothing: the optional "access to" was taken as the name.
    if s.eq_ignore_ascii_case("access") || s.to_lowercase().ends_with(" to") {
        return String::new();
    }
    s.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str) -> Subject {
        Subject::User(SlackUserId::parse(id).unwrap())
    }

    fn check(who: Subject, r: &str) -> Question {
        Question::Check {
            who,
            resource: r.into(),
        }
    }

    #[test]
    fn the_four_questions_and_their_common_variants() {
        let cases = [
            (
                "does <@UMARIA> have access to finance-warehouse?",
                check(user("UMARIA"), "finance-warehouse"),
            ),
            (
                "Does <@UMARIA|maria> have access to `finance-warehouse`",
                check(user("UMARIA"), "finance-warehouse"),
            ),
            (
                "can <@UMARIA> read analytics.sales?",
                check(user("UMARIA"), "analytics.sales"),
            ),
            (
                "has <@UMARIA> got access to the finance-warehouse?",
                check(user("UMARIA"), "finance-warehouse"),
            ),
            (
                "do I have access to looker-finance",
                check(Subject::Me, "looker-finance"),
            ),
            ("am I in analysts?", check(Subject::Me, "analysts")),
            (
                "who can read analytics.sales?",
                Question::WhoHas {
                    resource: "analytics.sales".into(),
                },
            ),
            (
                "who has access to finance-warehouse",
                Question::WhoHas {
                    resource: "finance-warehouse".into(),
                },
            ),
            (
                "what does <@USAM> have access to?",
                Question::AccessOf { who: user("USAM") },
            ),
            (
                "what can I access?",
                Question::AccessOf { who: Subject::Me },
            ),
            (
                "what access does <@USAM> have?",
                Question::AccessOf { who: user("USAM") },
            ),
            (
                "when does <@USAM>'s access to looker-finance expire?",
                Question::Expiry {
                    who: user("USAM"),
                    resource: "looker-finance".into(),
                },
            ),
            (
                "when does <@USAM>’s access to looker-finance end",
                Question::Expiry {
                    who: user("USAM"),
                    resource: "looker-finance".into(),
                },
            ),
            (
                "when does my access to looker-finance expire?",
                Question::Expiry {
                    who: Subject::Me,
                    resource: "looker-finance".into(),
                },
            ),
            (
                "how long does <@USAM> have looker-finance?",
                Question::Expiry {
                    who: user("USAM"),
                    resource: "looker-finance".into(),
                },
            ),
            (
                "when will <@USAM> lose access to looker-finance?",
                Question::Expiry {
                    who: user("USAM"),
                    resource: "looker-finance".into(),
                },
            ),
        ];
        for (text, want) in cases {
            assert_eq!(parse(text, None), Ok(want), "{text}");
        }
    }

    #[test]
    fn people_named_in_plain_words_are_named_subjects() {
        assert_eq!(
            parse("does maria have access to finance?", None),
            Ok(check(Subject::Named("maria".into()), "finance"))
        );
        assert_eq!(
            parse("what does sam@example.com have access to?", None),
            Ok(Question::AccessOf {
                who: Subject::Named("sam@example.com".into())
            })
        );
        assert!(parse("does anyone have access to finance?", None).is_err());
    }

    #[test]
    fn a_leading_mention_of_the_bot_is_not_the_subject() {
        assert_eq!(
            parse(
                "<@UBOT> does <@UMARIA> have access to finance?",
                Some("UBOT")
            ),
            Ok(check(user("UMARIA"), "finance"))
        );
        assert_eq!(
            parse("<@UBOT>: who can read finance", Some("UBOT")),
            Ok(Question::WhoHas {
                resource: "finance".into()
            })
        );
    }

    #[test]
    fn anything_else_is_not_understood_and_never_panics() {
        for text in [
            "",
            "hello",
            "who",
            "what does <@lower> have access to?",
            "does <@UMARIA> have access to ?",
            "\u{0}\u{202e}<@",
        ] {
            assert!(parse(text, None).is_err(), "{text}");
        }
    }
}
