//! Identifier quoting per SQL dialect. Names never reach a statement raw: each is checked and
//! quoted by the dialect's rule, or refused with a message that says why.

/// Why a name cannot be used as an identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadName {
    #[error("the name is empty")]
    Empty,
    #[error("`{0}` is longer than {1} bytes, which the platform would silently cut short")]
    TooLong(String, usize),
    #[error(
        "the name contains a control character, which no platform accepts in a role or user name"
    )]
    Control,
    #[error("the name ends with a space, which MySQL and MariaDB would silently drop")]
    TrailingSpace,
}

/// PostgreSQL: `"name"` with `"` doubled; at most 63 bytes (NAMEDATALEN - 1).
pub fn postgres(name: &str) -> Result<String, BadName> {
    check(name, 63)?;
    Ok(format!("\"{}\"", name.replace('"', "\"\"")))
}

/// Redshift: identifiers are at most 127 bytes, and ASCII letters are folded to lower case even
/// inside double quotes (unless the cluster turns on `enable_case_sensitive_identifier`), so a
/// name means the same as its lower-cased form.
pub const REDSHIFT_MAX: usize = 127;

/// The form Redshift stores a name in: ASCII letters lower-cased, everything else as it is.
/// Compare names from Redshift's catalogs with this, never with the name as typed.
pub fn redshift_folded(name: &str) -> String {
    name.to_ascii_lowercase()
}

/// Redshift: `"name"` with `"` doubled, folded as Redshift folds it, at most 127 bytes.
pub fn redshift(name: &str) -> Result<String, BadName> {
    check(name, REDSHIFT_MAX)?;
    Ok(format!(
        "\"{}\"",
        redshift_folded(name).replace('"', "\"\"")
    ))
}

/// MySQL and MariaDB: `` `name` `` with `` ` `` doubled (never `'…'`, whose backslash escapes
/// depend on the server's SQL mode). Trailing spaces are refused: the server would strip them.
pub fn mysql(name: &str, max: usize) -> Result<String, BadName> {
    check(name, max)?;
    if name.ends_with(' ') {
        return Err(BadName::TrailingSpace);
    }
    Ok(format!("`{}`", name.replace('`', "``")))
}

/// Snowflake: a name that is a valid unquoted identifier (`[A-Za-z_][A-Za-z0-9_$]*`) means the
/// object Snowflake stored upper-cased, so it is upper-cased and quoted (`alice` → `"ALICE"`);
/// any other name is quoted exactly as written, with `"` doubled. At most 255 bytes (Snowflake
/// counts 255 characters; counting bytes refuses some long non-ASCII names it would accept, never
/// the other way round).
pub fn snowflake(name: &str) -> Result<String, BadName> {
    check(name, 255)?;
    let mut chars = name.chars();
    let unquoted = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
    if unquoted {
        Ok(format!("\"{}\"", name.to_ascii_uppercase()))
    } else {
        Ok(format!("\"{}\"", name.replace('"', "\"\"")))
    }
}

/// A Snowflake string literal: `'…'` with `'` doubled and `\` escaped, because Snowflake reads
/// backslash escapes inside single quotes.
pub fn snowflake_string(value: &str) -> Result<String, BadName> {
    check(value, 255)?;
    Ok(format!(
        "'{}'",
        value.replace('\\', "\\\\").replace('\'', "''")
    ))
}

fn check(name: &str, max: usize) -> Result<(), BadName> {
    if name.is_empty() {
        return Err(BadName::Empty);
    }
    if name.chars().any(char::is_control) {
        return Err(BadName::Control);
    }
    if name.len() > max {
        return Err(BadName::TooLong(
            name.chars().take(20).collect::<String>() + "…",
            max,
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    type Quote = fn(&str) -> Result<String, BadName>;

    /// `quote` gives each name its quoted form.
    fn quotes(quote: Quote, cases: &[(&str, &str)]) {
        for (name, quoted) in cases {
            assert_eq!(quote(name).as_deref(), Ok(*quoted), "{name:?}");
        }
    }

    /// `quote` refuses an empty name, a control character, and a name over `max` bytes (bytes,
    /// not characters: two-byte letters reach the limit at half as many).
    fn refuses(quote: Quote, control: &str, max: usize) {
        assert_eq!(quote(""), Err(BadName::Empty));
        assert_eq!(quote(control), Err(BadName::Control));
        assert!(quote(&"a".repeat(max)).is_ok());
        for long in ["a".repeat(max + 1), "é".repeat(max / 2 + 1)] {
            let long = quote(&long);
            assert!(
                matches!(long, Err(BadName::TooLong(_, m)) if m == max),
                "{long:?}"
            );
        }
    }

    #[test]
    fn quotes_are_doubled_and_limits_kept() {
        quotes(
            postgres,
            &[
                ("analyst_ro", "\"analyst_ro\""),
                ("a\"; DROP TABLE x; --", "\"a\"\"; DROP TABLE x; --\""),
            ],
        );
        refuses(postgres, "a\0b", 63);
    }

    #[test]
    fn backticks_are_doubled() {
        assert_eq!(mysql("analyst", 80).unwrap(), "`analyst`");
        assert_eq!(
            mysql("a`; DROP USER x; --", 80).unwrap(),
            "`a``; DROP USER x; --`"
        );
        assert_eq!(mysql("alice ", 80), Err(BadName::TrailingSpace));
        assert!(mysql(&"a".repeat(81), 80).is_err());
    }

    #[test]
    fn redshift_names_are_quoted_folded_and_kept_to_127_bytes() {
        quotes(
            redshift,
            &[
                ("analyst_ro", "\"analyst_ro\""),
                ("Analyst_RO", "\"analyst_ro\""),
                // Only ASCII letters fold; other letters are kept as they are.
                ("ÉQUIPE_Ü", "\"Équipe_Ü\""),
                ("A\"; DROP TABLE x; --", "\"a\"\"; drop table x; --\""),
            ],
        );
        refuses(redshift, "a\nb", 127);
    }

    #[test]
    fn snowflake_names_are_upper_cased_when_unquoted_and_kept_otherwise() {
        quotes(
            snowflake,
            &[
                ("analyst_ro", "\"ANALYST_RO\""),
                ("_a$1", "\"_A$1\""),
                ("Mixed Case", "\"Mixed Case\""),
                ("1abc", "\"1abc\""),
                ("ünï", "\"ünï\""),
                ("a\"; DROP USER x; --", "\"a\"\"; DROP USER x; --\""),
            ],
        );
        refuses(snowflake, "a\nb", 255);
        assert_eq!(snowflake_string("o'brien\\").unwrap(), "'o''brien\\\\'");
    }

    proptest! {
        /// The quoted form is one identifier, and reading it back (as Snowflake does) gives the
        /// name, upper-cased exactly when it was a valid unquoted identifier.
        #[test]
        fn a_snowflake_name_is_always_one_identifier(name in "\\PC{0,40}") {
            if let Ok(q) = snowflake(&name) {
                prop_assert!(q.starts_with('"') && q.ends_with('"'));
                let inner = &q[1..q.len() - 1];
                prop_assert!(!inner.replace("\"\"", "").contains('"'));
                let back = inner.replace("\"\"", "\"");
                prop_assert!(back == name || back == name.to_ascii_uppercase());
            }
        }

        #[test]
        fn a_snowflake_string_is_always_one_literal(value in "\\PC{0,40}") {
            if let Ok(q) = snowflake_string(&value) {
                let inner = &q[1..q.len() - 1];
                prop_assert!(!inner.replace("''", "").contains('\''));
                prop_assert_eq!(inner.replace("''", "'").replace("\\\\", "\\"), value);
            }
        }


        #[test]
        fn a_backticked_name_is_always_one_identifier(name in "\\PC{0,40}") {
            if let Ok(q) = mysql(&name, 80) {
                let inner = &q[1..q.len() - 1];
                prop_assert!(!inner.replace("``", "").contains('`'));
                prop_assert_eq!(inner.replace("``", "`"), name);
            }
        }

        /// Whatever the name, the quoted form is one identifier: it starts and ends with a quote and
        /// every quote inside is doubled, so nothing can close it early.
        #[test]
        fn a_quoted_name_is_always_one_identifier(name in "\\PC{0,40}") {
            if let Ok(q) = postgres(&name) {
                prop_assert!(q.starts_with('"') && q.ends_with('"'));
                let inner = &q[1..q.len() - 1];
                prop_assert_eq!(inner.replace("\"\"", ""), name.replace('"', ""));
                prop_assert!(!inner.replace("\"\"", "").contains('"'));
            }
        }

        /// The Redshift form is one identifier too, and reads back as the folded name.
        #[test]
        fn a_redshift_name_is_always_one_identifier(name in "\\PC{0,140}") {
            match redshift(&name) {
                Ok(q) => {
                    prop_assert!(q.starts_with('"') && q.ends_with('"') && q.len() >= 3);
                    let inner = &q[1..q.len() - 1];
                    prop_assert!(!inner.replace("\"\"", "").contains('"'));
                    prop_assert_eq!(inner.replace("\"\"", "\""), redshift_folded(&name));
                    prop_assert!(!inner.chars().any(|c| c.is_ascii_uppercase()));
                }
                Err(_) => prop_assert!(name.is_empty() || name.len() > REDSHIFT_MAX),
            }
        }
    }
}
