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

/// PostgreSQL (and Redshift): `"name"` with `"` doubled; at most 63 bytes (NAMEDATALEN - 1).
pub fn postgres(name: &str) -> Result<String, BadName> {
    check(name, 63)?;
    Ok(format!("\"{}\"", name.replace('"', "\"\"")))
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

    #[test]
    fn quotes_are_doubled_and_limits_kept() {
        assert_eq!(postgres("analyst_ro").unwrap(), "\"analyst_ro\"");
        assert_eq!(
            postgres("a\"; DROP TABLE x; --").unwrap(),
            "\"a\"\"; DROP TABLE x; --\""
        );
        assert_eq!(postgres(""), Err(BadName::Empty));
        assert_eq!(postgres("a\0b"), Err(BadName::Control));
        assert!(matches!(
            postgres(&"é".repeat(32)),
            Err(BadName::TooLong(_, 63))
        ));
        assert!(postgres(&"a".repeat(63)).is_ok());
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

    proptest! {
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
    }
}
