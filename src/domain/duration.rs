//! How long access lasts: parsing `30m`, `8h`, `7d`, `1h30m`, and the per-resource bounds.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

const MINUTE: i64 = 60;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;
const WEEK: i64 = 7 * DAY;
/// Nobody needs a single grant longer than a year; longer is almost surely a typo.
const LONGEST: i64 = 366 * DAY;

/// A positive whole number of minutes, at most a year. Written `30m`, `8h`, `7d`, `2w` or combined (`1h30m`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GrantDuration {
    seconds: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("the duration is empty; write it like 30m, 8h or 7d")]
    Empty,
    #[error(
        "`{0}` is not a duration; write it like 30m, 8h or 7d (m = minutes, h = hours, d = days, w = weeks)"
    )]
    Unreadable(String),
    #[error("`{0}` has no unit; add one, like {0}h or {0}d")]
    NoUnit(String),
    #[error("`{0}` is zero; ask for at least 1m")]
    Zero(String),
    #[error("`{0}` is longer than a year; ask for 366d or less")]
    TooLong(String),
}

impl GrantDuration {
    /// For constants: fails to compile when out of range.
    pub const fn minutes(n: i64) -> Self {
        assert!(
            n > 0 && n * MINUTE <= LONGEST,
            "a grant lasts from 1m to 366d"
        );
        GrantDuration {
            seconds: n * MINUTE,
        }
    }

    pub fn from_minutes(minutes: i64) -> Option<Self> {
        let seconds = minutes.checked_mul(MINUTE)?;
        (seconds > 0 && seconds <= LONGEST).then_some(GrantDuration { seconds })
    }

    /// For values read back from our own database, where they were stored validated.
    pub fn from_seconds(seconds: i64) -> Option<Self> {
        ((MINUTE..=LONGEST).contains(&seconds) && seconds % MINUTE == 0)
            .then_some(GrantDuration { seconds })
    }

    pub fn seconds(self) -> i64 {
        self.seconds
    }

    pub fn to_chrono(self) -> chrono::Duration {
        chrono::Duration::seconds(self.seconds)
    }

    pub fn parse(text: &str) -> Result<Self, DurationError> {
        let s = text.trim().to_ascii_lowercase();
        if s.is_empty() {
            return Err(DurationError::Empty);
        }
        if s.chars().all(|c| c.is_ascii_digit()) {
            return Err(DurationError::NoUnit(s));
        }
        let unreadable = || DurationError::Unreadable(text.trim().to_owned());
        let mut total: i64 = 0;
        let mut number = String::new();
        for c in s.chars() {
            if c.is_ascii_digit() {
                number.push(c);
                continue;
            }
            let unit = match c {
                'm' => MINUTE,
                'h' => HOUR,
                'd' => DAY,
                'w' => WEEK,
                _ => return Err(unreadable()),
            };
            if number.is_empty() || number.len() > 6 {
                return Err(if number.len() > 6 {
                    DurationError::TooLong(text.trim().to_owned())
                } else {
                    unreadable()
                });
            }
            let n: i64 = number.parse().map_err(|_| unreadable())?;
            total = total.saturating_add(n.saturating_mul(unit));
            number.clear();
        }
        if !number.is_empty() {
            return Err(unreadable());
        }
        if total == 0 {
            return Err(DurationError::Zero(text.trim().to_owned()));
        }
        if total > LONGEST {
            return Err(DurationError::TooLong(text.trim().to_owned()));
        }
        Ok(GrantDuration { seconds: total })
    }
}

impl fmt::Display for GrantDuration {
    /// The shortest canonical spelling: `7d`, `1d12h`, `1h30m`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.seconds;
        for (unit, name) in [(DAY, 'd'), (HOUR, 'h'), (MINUTE, 'm')] {
            let n = rest / unit;
            if n > 0 {
                write!(f, "{n}{name}")?;
            }
            rest %= unit;
        }
        Ok(())
    }
}

impl FromStr for GrantDuration {
    type Err = DurationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        GrantDuration::parse(s)
    }
}

impl Serialize for GrantDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for GrantDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        GrantDuration::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// The bounds a resource puts on how long access may last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationRules {
    pub min: GrantDuration,
    pub default: GrantDuration,
    pub max: GrantDuration,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationRuleError {
    #[error("{asked} is shorter than the {min} minimum for this resource; ask for {min} or more")]
    TooShort {
        asked: GrantDuration,
        min: GrantDuration,
    },
    #[error("{asked} is longer than the {max} this resource allows; ask for {max} or less")]
    TooLong {
        asked: GrantDuration,
        max: GrantDuration,
    },
}

impl DurationRules {
    /// Checks that min ≤ default ≤ max; the catalog loader reports a violation with its line.
    pub fn new(
        min: GrantDuration,
        default: GrantDuration,
        max: GrantDuration,
    ) -> Result<Self, String> {
        if min > max {
            return Err(format!(
                "the minimum ({min}) is longer than the maximum ({max})"
            ));
        }
        if default < min || default > max {
            return Err(format!(
                "the default ({default}) must lie between the minimum ({min}) and the maximum ({max})"
            ));
        }
        Ok(DurationRules { min, default, max })
    }

    /// What a request gets: the asked duration when it is within bounds, the default when none was asked.
    pub fn resolve(
        &self,
        asked: Option<GrantDuration>,
    ) -> Result<GrantDuration, DurationRuleError> {
        match asked {
            None => Ok(self.default),
            Some(asked) if asked < self.min => Err(DurationRuleError::TooShort {
                asked,
                min: self.min,
            }),
            Some(asked) if asked > self.max => Err(DurationRuleError::TooLong {
                asked,
                max: self.max,
            }),
            Some(asked) => Ok(asked),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::mem::discriminant;

    fn d(s: &str) -> GrantDuration {
        GrantDuration::parse(s).unwrap()
    }

    #[test]
    fn reads_the_written_forms() {
        assert_eq!(d("30m").seconds(), 30 * 60);
        assert_eq!(d("8h").seconds(), 8 * 3600);
        assert_eq!(d("7d").seconds(), 7 * 86400);
        assert_eq!(d("2w").seconds(), 14 * 86400);
        assert_eq!(d("1h30m").seconds(), 90 * 60);
        assert_eq!(d(" 8H ").seconds(), 8 * 3600);
    }

    #[test]
    fn says_what_is_wrong() {
        assert_eq!(GrantDuration::parse(""), Err(DurationError::Empty));
        assert_eq!(
            GrantDuration::parse("8"),
            Err(DurationError::NoUnit("8".into()))
        );
        // The kind of refusal each one gets.
        let unreadable = DurationError::Unreadable as fn(String) -> DurationError;
        for (text, kind) in [
            ("8 hours", unreadable),
            ("0h", DurationError::Zero),
            ("400d", DurationError::TooLong),
            ("99999999999999999999d", DurationError::TooLong),
            ("h", unreadable),
            ("5h3", unreadable),
        ] {
            let err = GrantDuration::parse(text).unwrap_err();
            let want = kind(String::new());
            assert_eq!(discriminant(&err), discriminant(&want), "{text}: {err:?}");
        }
    }

    #[test]
    fn bounds_are_applied() {
        let rules = DurationRules::new(d("15m"), d("8h"), d("7d")).unwrap();
        assert_eq!(rules.resolve(None), Ok(d("8h")));
        assert_eq!(rules.resolve(Some(d("2d"))), Ok(d("2d")));
        let long = rules.resolve(Some(d("8d"))).unwrap_err();
        assert_eq!(
            long.to_string(),
            "8d is longer than the 7d this resource allows; ask for 7d or less"
        );
        assert!(matches!(
            rules.resolve(Some(d("5m"))),
            Err(DurationRuleError::TooShort { .. })
        ));
        assert!(DurationRules::new(d("1h"), d("30m"), d("2h")).is_err());
        assert!(DurationRules::new(d("3h"), d("3h"), d("2h")).is_err());
    }

    proptest! {
        #[test]
        fn display_round_trips(minutes in 1i64..=366 * 24 * 60) {
            let g = GrantDuration::from_minutes(minutes).unwrap();
            prop_assert_eq!(GrantDuration::parse(&g.to_string()), Ok(g));
        }

        #[test]
        fn parsing_never_panics(s in "\\PC{0,20}") {
            let _ = GrantDuration::parse(&s);
        }
    }
}
