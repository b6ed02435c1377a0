//! On-call lookups against stateful fakes of PagerDuty (`GET /oncalls`) and Opsgenie (Who Is On
//! Call): who is on call now is found whatever the case of their email, a shift that ended or has
//! not started does not count, PagerDuty's pages are followed, refused credentials are permanent
//! and never echo the secret, throttling and outages are retryable (with Retry-After), and an
//! Opsgenie schedule name reaches the service as one path segment.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use gatehouse::clock::{Clock, SystemClock};
use gatehouse::config::Secret;
use gatehouse::oncall::{OnCall, OnCallError, Opsgenie, PagerDuty};

use crate::support::opsgenie_fake::{KEY, OpsgenieFake};
use crate::support::pagerduty_fake::{PagerDutyFake, TOKEN};

fn hours(h: i64) -> DateTime<Utc> {
    SystemClock.now() + TimeDelta::hours(h)
}

/// Schedule PS1: Maya on now, Ravi's shift over, Ada's to come, Omar always on call.
/// Schedule PS2 (not asked about): Lena on now.
async fn pagerduty() -> PagerDutyFake {
    let pd = PagerDutyFake::start().await;
    pd.add(
        "PS1",
        "Maya.Chen@Example.com",
        Some(hours(-2)),
        Some(hours(6)),
    );
    pd.add("PS1", "ravi@example.com", Some(hours(-10)), Some(hours(-2)));
    pd.add("PS1", "ada@example.com", Some(hours(6)), Some(hours(14)));
    pd.add("PS1", "omar@example.com", None, None);
    pd.add("PS2", "lena@example.com", Some(hours(-1)), Some(hours(1)));
    pd
}

#[tokio::test]
async fn pagerduty_finds_who_is_on_call_now_whatever_the_case_of_their_email() {
    let pd = pagerduty().await;
    let client = pd.client(&["PS1"], &[]);
    assert!(client.on_call_now("maya.chen@example.com").await.unwrap());
    assert!(client.on_call_now("MAYA.CHEN@EXAMPLE.COM").await.unwrap());
    assert!(client.on_call_now("omar@example.com").await.unwrap());
    assert!(!client.on_call_now("ravi@example.com").await.unwrap());
    assert!(!client.on_call_now("ada@example.com").await.unwrap());
    // On call, but for a schedule Gatehouse was not told to trust.
    assert!(!client.on_call_now("lena@example.com").await.unwrap());
    assert!(!client.on_call_now("").await.unwrap());
    let q = &pd.log()[0];
    for part in [
        "schedule_ids%5B%5D=PS1",
        "include%5B%5D=users",
        "earliest=true",
    ] {
        assert!(q.contains(part), "{part} missing from {q}");
    }
    // Escalation policies filter too.
    let by_policy = pd.client(&[], &["EP-PS2"]);
    assert!(by_policy.on_call_now("lena@example.com").await.unwrap());
    assert!(
        !by_policy
            .on_call_now("maya.chen@example.com")
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn pagerduty_checks_each_entrys_start_and_end_itself() {
    let pd = pagerduty().await;
    // A server whose answer holds entries that do not cover now (its clock, a wider window).
    pd.state().ignore_window = true;
    let client = pd.client(&["PS1"], &[]);
    assert!(!client.on_call_now("ravi@example.com").await.unwrap());
    assert!(!client.on_call_now("ada@example.com").await.unwrap());
    assert!(client.on_call_now("maya.chen@example.com").await.unwrap());
}

#[tokio::test]
async fn pagerduty_pages_are_followed_to_find_someone_on_a_later_page() {
    let pd = PagerDutyFake::start().await;
    for i in 0..5 {
        pd.add(
            "PS1",
            &format!("p{i}@example.com"),
            Some(hours(-1)),
            Some(hours(1)),
        );
    }
    pd.state().max_limit = 2;
    let client = pd.client(&["PS1"], &[]);
    assert!(client.on_call_now("P3@example.com").await.unwrap());
    let offsets: Vec<bool> = pd.log().iter().map(|q| q.contains("offset=2")).collect();
    assert_eq!(
        offsets,
        vec![false, true],
        "page 1, then page 2 from offset 2"
    );
    // Someone on none of the pages: all three are read, and the answer is no.
    pd.state().log.clear();
    assert!(!client.on_call_now("nobody@example.com").await.unwrap());
    assert_eq!(pd.log().len(), 3);
    assert!(pd.log()[2].contains("offset=4"));
}

#[tokio::test]
async fn pagerduty_refuses_a_wrong_token_permanently_without_echoing_it() {
    let pd = pagerduty().await;
    let mut settings = pd.settings(&["PS1"], &[]);
    let wrong = "pd-wrong-token-0000aaaa";
    settings.token = Secret::new(wrong);
    let client = PagerDuty::new(settings).unwrap();
    let says = ["HTTP 401", "Authentication failed"];
    refused_without_the_secret(&client, wrong, TOKEN, &says).await;
}

/// Maya's lookup with `client`, whose secret `wrong` the service refuses: a permanent error
/// saying each of `says`, which shows neither `wrong` nor the right `secret`.
async fn refused_without_the_secret(
    client: &impl OnCall,
    wrong: &str,
    secret: &str,
    says: &[&str],
) {
    let err = client
        .on_call_now("maya.chen@example.com")
        .await
        .unwrap_err();
    let OnCallError::Permanent(text) = &err else {
        panic!("expected a permanent error, got {err:?}");
    };
    for s in says {
        assert!(text.contains(s), "{s:?} not in {text}");
    }
    assert!(!text.contains(wrong) && !text.contains(secret), "{text}");
    assert!(!format!("{err:?}").contains(wrong));
}

#[tokio::test]
async fn pagerduty_throttling_and_outages_are_retryable() {
    let pd = pagerduty().await;
    let client = pd.client(&["PS1"], &[]);
    let throttle = || {
        let mut s = pd.state();
        s.throttle_next = 1;
        s.retry_after = Some(30);
    };
    let fail = || pd.state().unavailable_next = 1;
    let says = "HTTP 429: Rate Limit Exceeded";
    throttled_then_down_then_answered(&client, throttle, fail, 30, says).await;
}

/// Maya's lookup with `client` when the service throttles (`throttle()`, asking to come back in
/// `secs`): retryable after `secs`, saying `says`; when it is down (`fail()`): retryable; and
/// once it is back, the answer comes.
async fn throttled_then_down_then_answered(
    client: &impl OnCall,
    throttle: impl FnOnce(),
    fail: impl FnOnce(),
    secs: u64,
    says: &str,
) {
    throttle();
    match client.on_call_now("maya.chen@example.com").await {
        Err(OnCallError::Retryable {
            message,
            retry_after,
        }) => {
            assert_eq!(retry_after, Some(Duration::from_secs(secs)));
            assert!(message.contains(says), "{message}");
        }
        other => panic!("expected retryable, got {other:?}"),
    }
    fail();
    assert!(matches!(
        client.on_call_now("maya.chen@example.com").await,
        Err(OnCallError::Retryable { .. })
    ));
    assert!(client.on_call_now("maya.chen@example.com").await.unwrap());
}

#[tokio::test]
async fn an_unreachable_service_is_retryable() {
    // A port nothing listens on: bind, learn the port, close.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let pd = PagerDutyFake::start().await;
    let mut settings = pd.settings(&["PS1"], &[]);
    settings.base_url = url;
    let err = PagerDuty::new(settings)
        .unwrap()
        .on_call_now("maya@example.com")
        .await
        .unwrap_err();
    assert!(matches!(err, OnCallError::Retryable { .. }), "{err:?}");
    assert!(!err.to_string().contains(TOKEN));
}

const PLATFORM: &str = "Data Platform / EU primary";
const PLATFORM_ID: &str = "4513b7ea-3b91-438f-b7e4-e3e54af9147c";

/// "Data Platform / EU primary": Maya on now, Ravi's shift over, Ada's to come.
async fn opsgenie() -> OpsgenieFake {
    let og = OpsgenieFake::start().await;
    og.add_schedule(PLATFORM_ID, PLATFORM);
    og.add_shift(PLATFORM, "Maya.Chen@Example.com", hours(-2), hours(6));
    og.add_shift(PLATFORM, "ravi@example.com", hours(-10), hours(-2));
    og.add_shift(PLATFORM, "ada@example.com", hours(6), hours(14));
    og.add_schedule("0b8f6a1e-9d5c-4e3a-a7b2-1c2d3e4f5a6b", "Finance");
    og.add_shift("Finance", "lena@example.com", hours(-1), hours(1));
    og
}

#[tokio::test]
async fn opsgenie_finds_who_is_on_call_now_in_a_schedule_named_with_spaces_and_a_slash() {
    let og = opsgenie().await;
    let client = og.client(&[PLATFORM]);
    assert!(client.on_call_now("MAYA.chen@example.com").await.unwrap());
    assert!(!client.on_call_now("ravi@example.com").await.unwrap());
    assert!(!client.on_call_now("ada@example.com").await.unwrap());
    assert!(!client.on_call_now("lena@example.com").await.unwrap());
    let seen = &og.seen()[0];
    assert_eq!(seen.identifier, PLATFORM);
    assert_eq!(seen.identifier_type, "name");
    assert!(seen.flat);
    assert_eq!(
        seen.raw_path,
        "/v2/schedules/Data%20Platform%20%2F%20EU%20primary/on-calls"
    );
}

#[tokio::test]
async fn opsgenie_asks_by_id_for_an_id_and_looks_in_every_schedule() {
    let og = opsgenie().await;
    let client = og.client(&[PLATFORM_ID, "Finance"]);
    assert!(client.on_call_now("lena@example.com").await.unwrap());
    assert!(client.on_call_now("maya.chen@example.com").await.unwrap());
    let seen = og.seen();
    assert_eq!(seen[0].identifier_type, "id");
    assert_eq!(seen[1].identifier_type, "name");
}

#[tokio::test]
async fn opsgenie_unknown_schedules_and_wrong_keys_are_permanent_and_never_echo_the_key() {
    let og = opsgenie().await;
    let err = og.client(&["Nope"]).on_call_now("maya@example.com").await;
    assert_eq!(
        err,
        Err(OnCallError::Permanent(
            "Opsgenie answered HTTP 404: No schedule exists with name [Nope]".into()
        ))
    );
    let mut settings = og.settings(&[PLATFORM]);
    let wrong = "og-wrong-key-ffff0000";
    settings.key = Secret::new(wrong);
    let client = Opsgenie::new(settings).unwrap();
    let says = ["HTTP 401: Could not authenticate"];
    refused_without_the_secret(&client, wrong, KEY, &says).await;
}

#[tokio::test]
async fn opsgenie_throttling_is_retryable_with_its_retry_after() {
    let og = opsgenie().await;
    let client = og.client(&[PLATFORM]);
    let throttle = || {
        let mut s = og.state();
        s.throttle_next = 1;
        s.retry_after = Some(7);
    };
    let fail = || og.state().unavailable_next = 1;
    throttled_then_down_then_answered(&client, throttle, fail, 7, "HTTP 429").await;
}
