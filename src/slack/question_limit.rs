//! How many questions one person may ask a minute (`GATEHOUSE_QUESTIONS_PER_MINUTE`). A
//! question can ask every platform and the language model, so one person (or a script with
//! their token) must not be able to flood them. Time comes from Gatehouse's `Clock`, so tests
//! move it instead of waiting.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::Clock as GovernorClock;
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use crate::clock::SharedClock;
use crate::domain::SlackUserId;

/// Gatehouse's clock as governor's: time since the Unix epoch.
#[derive(Clone)]
struct Ticks(SharedClock);

impl GovernorClock for Ticks {
    type Instant = Duration;

    fn now(&self) -> Duration {
        (self.0.now() - chrono::DateTime::UNIX_EPOCH)
            .to_std()
            .unwrap_or_default()
    }
}

type Keyed =
    RateLimiter<SlackUserId, DefaultKeyedStateStore<SlackUserId>, Ticks, NoOpMiddleware<Duration>>;

pub struct QuestionLimit {
    per_minute: NonZeroU32,
    limiter: Keyed,
    clock: Ticks,
}

impl QuestionLimit {
    /// `per_minute` questions a minute for each person, all of them at once if they like.
    pub fn new(per_minute: u32, clock: SharedClock) -> QuestionLimit {
        let per_minute = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
        let clock = Ticks(clock);
        QuestionLimit {
            per_minute,
            limiter: RateLimiter::new(
                Quota::per_minute(per_minute),
                DefaultKeyedStateStore::default(),
                clock.clone(),
            ),
            clock,
        }
    }

    /// Counts a question by `who`: None when it may be answered, else what to tell them.
    pub fn ask(&self, who: &SlackUserId) -> Option<String> {
        let refused = self.limiter.check_key(who).err()?;
        let wait = refused.wait_time_from(self.clock.now());
        // Whole seconds, rounded up: "try again in 0 s" would be refused again.
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        Some(format!(
            "you asked {} questions in the last minute; try again in {} s",
            self.per_minute,
            secs.max(1)
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::{TimeDelta, TimeZone, Utc};

    use super::*;
    use crate::clock::ManualClock;

    #[test]
    fn each_person_has_their_own_minute() {
        let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 28, 9, 0, 0).unwrap());
        let limit = QuestionLimit::new(3, Arc::new(clock.clone()));
        let maria = SlackUserId::parse("U0MARIA").unwrap();
        let sam = SlackUserId::parse("U0SAM").unwrap();
        for _ in 0..3 {
            assert_eq!(limit.ask(&maria), None);
        }
        assert_eq!(
            limit.ask(&maria).as_deref(),
            Some("you asked 3 questions in the last minute; try again in 20 s")
        );
        assert_eq!(limit.ask(&sam), None, "Sam's questions are his own");
        clock.advance(TimeDelta::seconds(5));
        assert_eq!(
            limit.ask(&maria).as_deref(),
            Some("you asked 3 questions in the last minute; try again in 15 s")
        );
        clock.advance(TimeDelta::seconds(15));
        assert_eq!(limit.ask(&maria), None);
        assert!(limit.ask(&maria).is_some());
    }
}
