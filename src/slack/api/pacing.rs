//! Our own pacing of Web API calls: a limiter per method tier (Slack's Tier 2, 3 and 4) and
//! one per channel for `chat.postMessage`, so that Slack rarely has to answer 429.

use std::num::NonZeroU32;

use governor::{DefaultKeyedRateLimiter, Quota};

pub(super) struct Limits {
    /// Per method, by Slack's tier: T2 20/min, T3 50/min, T4 100/min.
    pub(super) tier2: DefaultKeyedRateLimiter<&'static str>,
    pub(super) tier3: DefaultKeyedRateLimiter<&'static str>,
    pub(super) tier4: DefaultKeyedRateLimiter<&'static str>,
    /// chat.postMessage: about one message a second per channel, short bursts allowed.
    pub(super) channels: DefaultKeyedRateLimiter<String>,
}

impl Limits {
    pub(super) fn new() -> Limits {
        let burst = NonZeroU32::new(4).unwrap_or(NonZeroU32::MIN);
        let per_second = NonZeroU32::MIN;
        Limits {
            tier2: DefaultKeyedRateLimiter::keyed(per_minute(20)),
            tier3: DefaultKeyedRateLimiter::keyed(per_minute(50)),
            tier4: DefaultKeyedRateLimiter::keyed(per_minute(100)),
            channels: DefaultKeyedRateLimiter::keyed(
                Quota::per_second(per_second).allow_burst(burst),
            ),
        }
    }
}

fn per_minute(n: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN))
}

pub(super) fn tier(method: &str) -> u8 {
    match method {
        "usergroups.users.list" => 2,
        "views.open" | "views.publish" | "users.info" | "chat.postEphemeral" | "auth.test" => 4,
        _ => 3,
    }
}
