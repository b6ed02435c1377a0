//! When access starts, for requests that ask for it later: reading `from tomorrow 9:00` in the
//! requester's time zone, and the rules a start time must meet.

use chrono::{DateTime, Datelike, Days, LocalResult, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;

/// A start within this of now is "now": the form's picker has minute steps, and a start a few
/// seconds away is not worth a scheduled grant.
pub const NOW_ENOUGH: chrono::TimeDelta = chrono::TimeDelta::minutes(1);
/// A start further ahead than this is almost surely a typo (a wrong year or month).
pub const FURTHEST_DAYS: i64 = 90;
/// The hour a day without a time means ("from monday"): the start of a working day.
const DEFAULT_HOUR: u32 = 9;

/// A start as written, before a time zone gives it a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct When {
    pub day: Option<Day>,
    pub time: Option<NaiveTime>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Day {
    Today,
    Tomorrow,
    /// The next one after today (`monday` said on a Monday is a week later).
    Next(Weekday),
    On(NaiveDate),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StartError {
    #[error(
        "`{0}` is not a start I can read; write a day and a time, like `from tomorrow 9:00`, `from monday 14:30` or `from 2026-12-01 9am`"
    )]
    Unreadable(String),
    #[error("the start ({0}) has already passed; pick a time later than now")]
    Past(String),
    #[error("{0} today has already passed; write `from tomorrow {0}` for tomorrow")]
    PassedToday(String),
    #[error(
        "the start ({0}) is more than {FURTHEST_DAYS} days away; ask nearer the time, or check the date"
    )]
    TooFar(String),
    #[error(
        "{0} does not exist in {1}: the clocks change then; pick a time an hour later or earlier"
    )]
    NoSuchTime(String, String),
}

impl When {
    /// The moment this names in `tz`, checked against `now`.
    pub fn resolve(self, now: DateTime<Utc>, tz: Tz) -> Result<DateTime<Utc>, StartError> {
        let today = now.with_timezone(&tz).date_naive();
        let date = match self.day {
            None | Some(Day::Today) => today,
            Some(Day::Tomorrow) => today + Days::new(1),
            Some(Day::Next(w)) => {
                let ahead = (7 + w.num_days_from_monday() as i64
                    - today.weekday().num_days_from_monday() as i64
                    - 1)
                    % 7
                    + 1;
                today + Days::new(ahead as u64)
            }
            Some(Day::On(d)) => d,
        };
        let time = self
            .time
            .or_else(|| NaiveTime::from_hms_opt(DEFAULT_HOUR, 0, 0))
            .unwrap_or_default();
        let local = date.and_time(time);
        let at = match tz.from_local_datetime(&local) {
            LocalResult::Single(t) => t,
            // The hour the clocks go back happens twice: the first of the two.
            LocalResult::Ambiguous(first, _) => first,
            LocalResult::None => {
                return Err(StartError::NoSuchTime(
                    local.format("%Y-%m-%d %H:%M").to_string(),
                    tz.name().to_owned(),
                ));
            }
        }
        .with_timezone(&Utc);
        if at <= now && self.day.is_none() {
            return Err(StartError::PassedToday(time.format("%H:%M").to_string()));
        }
        let shown = || format!("{} {}", local.format("%a %-d %b %Y %H:%M"), tz.name());
        within(at, now, shown).map(|at| at.unwrap_or(now))
    }
}

/// A start time from a form, checked: None when it is now (or within a minute of it).
pub fn check(at: DateTime<Utc>, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, StartError> {
    within(at, now, || at.format("%Y-%m-%d %H:%M UTC").to_string())
}

fn within(
    at: DateTime<Utc>,
    now: DateTime<Utc>,
    shown: impl Fn() -> String,
) -> Result<Option<DateTime<Utc>>, StartError> {
    if at < now - NOW_ENOUGH {
        return Err(StartError::Past(shown()));
    }
    if at > now + chrono::TimeDelta::days(FURTHEST_DAYS) {
        return Err(StartError::TooFar(shown()));
    }
    Ok((at > now + NOW_ENOUGH).then_some(at))
}

fn day_word(w: &str) -> Option<Day> {
    let w = w.to_ascii_lowercase();
    match w.as_str() {
        "today" => return Some(Day::Today),
        "tomorrow" => return Some(Day::Tomorrow),
        _ => {}
    }
    if let Ok(d) = NaiveDate::parse_from_str(&w, "%Y-%m-%d") {
        return Some(Day::On(d));
    }
    // `mon`, `monday`, `tue`, `tues`…: chrono reads the three-letter and full names.
    let weekday = w
        .parse::<Weekday>()
        .ok()
        .or_else(|| w.get(..3).and_then(|s| s.parse::<Weekday>().ok()))?;
    let full = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ][weekday.num_days_from_monday() as usize];
    full.starts_with(&w).then_some(Day::Next(weekday))
}

fn time_word(w: &str) -> Option<NaiveTime> {
    let w = w.to_ascii_lowercase();
    if w == "noon" {
        return NaiveTime::from_hms_opt(12, 0, 0);
    }
    if w == "midnight" {
        return NaiveTime::from_hms_opt(0, 0, 0);
    }
    let (clock, pm) = match (w.strip_suffix("am"), w.strip_suffix("pm")) {
        (Some(c), _) => (c, Some(false)),
        (_, Some(c)) => (c, Some(true)),
        _ => (w.as_str(), None),
    };
    let (h, m) = match clock.split_once(':') {
        Some((h, m)) if m.len() == 2 => (h.parse::<u32>().ok()?, m.parse::<u32>().ok()?),
        Some(_) => return None,
        // A bare number is an hour only with am or pm: `from monday 8` is too easily a
        // duration or a count that lost its unit.
        None if pm.is_some() => (clock.parse::<u32>().ok()?, 0),
        None => return None,
    };
    let h = match pm {
        None => h,
        Some(_) if !(1..=12).contains(&h) => return None,
        Some(false) => h % 12,
        Some(true) => h % 12 + 12,
    };
    NaiveTime::from_hms_opt(h, m, 0)
}

/// Reads the words after `from`: a day, a time, or a day then a time (`at` between allowed).
/// Returns the start and how many words it took; None when the first word is neither a day
/// nor a time.
pub fn read(words: &[&str]) -> Result<Option<(When, usize)>, StartError> {
    let mut used = 0;
    let day = words.first().and_then(|w| day_word(w));
    if day.is_some() {
        used += 1;
    }
    if day.is_some()
        && words
            .get(used)
            .is_some_and(|w| w.eq_ignore_ascii_case("at"))
    {
        used += 1;
    }
    let time = words.get(used).and_then(|w| time_word(w));
    if time.is_some() {
        used += 1;
    } else if day.is_some() && used == 2 {
        // `tomorrow at` with no time after it.
        return Err(StartError::Unreadable(words[..used].join(" ")));
    }
    if day.is_none() && time.is_none() {
        // `from tomorow 9:00`: a time right after an unreadable day is a misspelt start, not
        // the first words of a reason; so is a number (`from 9`, `from 9.30`).
        if words.get(1).is_some_and(|w| time_word(w).is_some()) {
            return Err(StartError::Unreadable(words[..2].join(" ")));
        }
        if let Some(w) = words
            .first()
            .filter(|w| w.starts_with(|c: char| c.is_ascii_digit()))
        {
            return Err(StartError::Unreadable((*w).to_owned()));
        }
        return Ok(None);
    }
    Ok(Some((When { day, time }, used)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn when(words: &str) -> When {
        let w: Vec<&str> = words.split_whitespace().collect();
        let (when, used) = read(&w).unwrap().unwrap();
        assert_eq!(used, w.len(), "`{words}` was not read whole");
        when
    }

    // Sunday 29 November 2026, 20:00 in Paris (19:00 UTC).
    const NOW: &str = "2026-11-29T19:00:00Z";

    #[test]
    fn tomorrow_nine_is_nine_in_the_requesters_zone() {
        let paris: Tz = "Europe/Paris".parse().unwrap();
        let at = when("tomorrow 9:00").resolve(utc(NOW), paris).unwrap();
        assert_eq!(at, utc("2026-11-30T08:00:00Z"));
        let ny: Tz = "America/New_York".parse().unwrap();
        let at = when("tomorrow 9:00").resolve(utc(NOW), ny).unwrap();
        assert_eq!(at, utc("2026-11-30T14:00:00Z"));
    }

    #[test]
    fn tomorrow_is_the_requesters_tomorrow_not_utcs() {
        // 23:30 UTC on Sunday is already Monday 08:30 in Tokyo: "tomorrow" is Tuesday there.
        let tokyo: Tz = "Asia/Tokyo".parse().unwrap();
        let at = when("tomorrow 9am")
            .resolve(utc("2026-11-29T23:30:00Z"), tokyo)
            .unwrap();
        assert_eq!(at, utc("2026-12-01T00:00:00Z"));
    }

    #[test]
    fn days_times_and_their_spellings() {
        let utc_tz = Tz::UTC;
        let now = utc(NOW);
        let r = |s: &str| when(s).resolve(now, utc_tz).unwrap();
        assert_eq!(r("tomorrow"), utc("2026-11-30T09:00:00Z"));
        assert_eq!(r("monday"), utc("2026-11-30T09:00:00Z"));
        assert_eq!(r("Mon at 2:30pm"), utc("2026-11-30T14:30:00Z"));
        // Said on a Sunday, "sunday" is next week's.
        assert_eq!(r("sun 12am"), utc("2026-12-06T00:00:00Z"));
        assert_eq!(r("wed noon"), utc("2026-12-02T12:00:00Z"));
        assert_eq!(r("2026-12-24 17:45"), utc("2026-12-24T17:45:00Z"));
        assert_eq!(r("21:15"), utc("2026-11-29T21:15:00Z"));
        assert_eq!(r("today 11pm"), utc("2026-11-29T23:00:00Z"));
    }

    #[test]
    fn words_that_are_not_a_start_are_left_for_the_reason() {
        assert_eq!(read(&["the", "finance", "team"]).unwrap(), None);
        assert_eq!(read(&[]).unwrap(), None);
        // A day then the reason: only the day is taken.
        let (w, used) = read(&["friday", "quarter", "close"]).unwrap().unwrap();
        assert_eq!(used, 1);
        assert_eq!(w.day, Some(Day::Next(Weekday::Fri)));
    }

    #[test]
    fn a_misspelt_start_is_refused_not_taken_as_a_reason() {
        let e = read(&["tomorow", "9:00", "audit"]).unwrap_err();
        assert!(e.to_string().contains("`tomorow 9:00`"), "{e}");
        assert!(e.to_string().contains("from tomorrow 9:00"), "{e}");
        assert!(read(&["tomorrow", "at", "soon"]).is_err());
        // A bare number after `from` is a time missing its minutes or am/pm.
        let e = read(&["9", "audit"]).unwrap_err();
        assert!(e.to_string().contains("`9` is not a start"), "{e}");
        assert!(read(&["9.30"]).is_err());
        assert_eq!(time_word("25:00"), None);
        assert_eq!(time_word("13pm"), None);
        assert_eq!(time_word("9:5"), None);
        assert_eq!(day_word("mo"), None);
        assert_eq!(day_word("mondays"), None);
    }

    #[test]
    fn past_far_and_missing_times_say_what_to_fix() {
        let now = utc(NOW);
        let e = when("9:00").resolve(now, Tz::UTC).unwrap_err();
        assert_eq!(e, StartError::PassedToday("09:00".into()));
        assert!(e.to_string().contains("from tomorrow 09:00"));
        let e = when("today 9:00").resolve(now, Tz::UTC).unwrap_err();
        assert!(matches!(e, StartError::Past(_)), "{e:?}");
        let e = when("2027-06-01").resolve(now, Tz::UTC).unwrap_err();
        assert!(matches!(e, StartError::TooFar(_)), "{e:?}");
        // Paris springs forward at 02:00 on 28 March 2027.
        let paris: Tz = "Europe/Paris".parse().unwrap();
        // A month before, 02:30 exists: Paris is UTC+1 then.
        let at = when("2027-02-28 2:30")
            .resolve(utc("2027-02-27T12:00:00Z"), paris)
            .unwrap();
        assert_eq!(at, utc("2027-02-28T01:30:00Z"));
        let e = when("2027-03-28 2:30")
            .resolve(utc("2027-03-20T12:00:00Z"), paris)
            .unwrap_err();
        assert!(matches!(e, StartError::NoSuchTime(..)), "{e:?}");
        assert!(e.to_string().contains("Europe/Paris"));
    }

    #[test]
    fn a_start_now_or_within_a_minute_is_no_start() {
        let now = utc(NOW);
        assert_eq!(check(now, now), Ok(None));
        assert_eq!(
            check(now - NOW_ENOUGH + chrono::TimeDelta::seconds(1), now),
            Ok(None)
        );
        assert!(check(now - chrono::TimeDelta::minutes(5), now).is_err());
        let later = now + chrono::TimeDelta::hours(2);
        assert_eq!(check(later, now), Ok(Some(later)));
    }
}
