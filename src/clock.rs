//! Where time comes from. Everything asks a `Clock`, so tests move time instead of sleeping.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, DurationRound, TimeDelta, Utc};

pub trait Clock: Send + Sync + 'static {
    /// Now, truncated to whole microseconds so that it survives a round trip through any database.
    fn now(&self) -> DateTime<Utc>;

    /// The time job leases are judged by, when this clock decides it. None, the default and the
    /// wall clock's answer, leaves it to the database's clock, which every process sharing the
    /// database reads alike (see `store::jobs::lease_now`).
    fn lease_now(&self) -> Option<DateTime<Utc>> {
        None
    }
}

pub type SharedClock = Arc<dyn Clock>;

fn to_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(TimeDelta::microseconds(1)).unwrap_or(t)
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[expect(
        clippy::disallowed_methods,
        reason = "the one place that reads the wall clock"
    )]
    fn now(&self) -> DateTime<Utc> {
        to_micros(Utc::now())
    }
}

/// A clock that only moves when told to.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<DateTime<Utc>>>,
}

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        ManualClock {
            now: Arc::new(Mutex::new(to_micros(start))),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn advance(&self, by: TimeDelta) {
        let mut now = self.now.lock().unwrap_or_else(|p| p.into_inner());
        *now += by;
    }

    pub fn set(&self, to: DateTime<Utc>) {
        *self.now.lock().unwrap_or_else(|p| p.into_inner()) = to_micros(to);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        ManualClock::now(self)
    }

    /// Its own now: tests move leases exactly as they move everything else. (The database's
    /// clock shifted by this clock's offset from the wall clock would move too, but by however
    /// long reading the two took, so a lease advanced exactly its length would lapse or not at
    /// random.)
    fn lease_now(&self) -> Option<DateTime<Utc>> {
        Some(ManualClock::now(self))
    }
}
