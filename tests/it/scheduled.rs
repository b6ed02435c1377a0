//! Access that starts later, through slack-sim with a manual clock: `from tomorrow 9:00` read in
//! the requester's time zone, granted at that moment and not before, its expiry counted from
//! then, cancellable until it starts; and the form's "Starting at" picker.

use chrono::{DateTime, Duration, Utc};
use gatehouse::domain::Status;
use gatehouse::store;
use serde_json::{Value, json};

use crate::support::backends;
use crate::support::home::on_message;
use crate::support::scenario::in_slack_on_every_backend;
use crate::support::slack::{SlackTestApp, eventually, shown};

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

async fn ask(t: &SlackTestApp, who: &str, text: &str) -> String {
    t.reply(who, "/request-access", text).await
}

async fn approve(t: &SlackTestApp, n: i64, reviewer: &str) {
    let card = t.request_message(n).await;
    t.tick(reviewer, &card).await;
    t.wait_for(n, Status::Approved).await;
}

#[tokio::test]
async fn a_scheduled_start_is_granted_at_its_time_expires_from_then_and_can_be_called_off() {
    for db in backends().await {
        // The clock says Saturday 28 November 2026, 09:00 UTC: 10:00 for Alice in Paris.
        let t = SlackTestApp::start(&db).await;

        // Refused, saying what to fix; nothing is made.
        let reply = ask(&t, "UCARL", "analytics-ro 1h from 8:00 backfill").await;
        assert!(
            reply.contains("08:00 today has already passed; write `from tomorrow 08:00`"),
            "{}: {reply}",
            db.name
        );
        let reply = ask(&t, "UCARL", "analytics-ro 1h from tomorow 8:00 backfill").await;
        assert!(
            reply.contains("`tomorow 8:00` is not a start I can read"),
            "{reply}"
        );
        let reply = ask(&t, "UCARL", "analytics-ro 1h from 2027-06-01 backfill").await;
        assert!(reply.contains("more than 90 days away"), "{reply}");
        assert!(
            store::requests::list_all(t.app.db().conn())
                .await
                .unwrap()
                .is_empty()
        );

        // Alice asks for 2h from 09:00 tomorrow, her time.
        let reply = ask(
            &t,
            "UALICE",
            "analytics-ro 2h from tomorrow 9:00 quarterly close",
        )
        .await;
        assert!(
            reply.contains("Request #1 for *Analytics (read-only)* (2h, from <!date^"),
            "{reply}"
        );
        let r = t.request(1).await;
        assert_eq!(
            r.starts_at,
            Some(utc("2026-11-29T08:00:00Z")),
            "09:00 in Paris"
        );
        assert_eq!(r.reason.as_deref(), Some("quarterly close"));
        let card = shown(&t.request_message(1).await);
        assert!(card.contains("*Starts*"), "{card}");

        // Bob approves: approved, told when it starts, and nothing granted yet.
        approve(&t, 1, "UBOB").await;
        let dm = t.dm_for("UALICE", "approved your request #1").await;
        assert!(
            dm.contains(
                "Your access starts Sun 29 Nov, 09:00 CET (Europe/Paris) and lasts 2h from then"
            ),
            "{dm}"
        );
        t.run_jobs().await;
        assert_eq!(t.status(1).await, Status::Approved);
        assert!(!t.platform.holds("ualice", "ANALYTICS_RO"));
        let card = eventually("the card says when", 30, || async {
            let c = shown(&t.request_message(1).await);
            c.contains("access starts").then_some(c)
        })
        .await;
        assert!(card.contains("*Approved* by <@UBOB>"), "{card}");

        // A minute before: still nothing.
        t.clock.advance(Duration::hours(22) + Duration::minutes(59));
        t.run_jobs().await;
        assert_eq!(t.status(1).await, Status::Approved);
        assert!(!t.platform.holds("ualice", "ANALYTICS_RO"));

        // At 09:00 in Paris: granted, for 2h from then.
        t.clock.advance(Duration::minutes(1));
        t.run_jobs().await;
        t.wait_for(1, Status::Active).await;
        assert!(t.platform.holds("ualice", "ANALYTICS_RO"));
        let r = t.request(1).await;
        assert_eq!(r.active_since, Some(utc("2026-11-29T08:00:00Z")));
        assert_eq!(r.expires_at, Some(utc("2026-11-29T10:00:00Z")));
        t.dm_for(
            "UALICE",
            "You now have access to *Analytics (read-only)* until Sun 29 Nov, 11:00 CET",
        )
        .await;

        // Dave (Tokyo) asks from Monday 9am his time; Rita approves; Dave calls it off from
        // the DM before it starts.
        ask(&t, "UDAVE", "analytics-ro 1h from monday 9am onboarding").await;
        assert_eq!(
            t.request(2).await.starts_at,
            Some(utc("2026-11-30T00:00:00Z"))
        );
        approve(&t, 2, "URITA").await;
        let approved = t
            .dm_showing("UDAVE", "Your access starts Mon 30 Nov, 09:00 JST")
            .await;
        t.sim
            .click_button_confirmed("UDAVE", on_message(&approved), "cancel", Some("2"), None)
            .await
            .unwrap();
        t.wait_for(2, Status::Cancelled).await;

        // Past both: Alice's access ended on time, Dave's never began.
        t.clock.advance(Duration::days(1));
        t.run_jobs().await;
        t.wait_for(1, Status::Expired).await;
        assert!(!t.platform.holds("ualice", "ANALYTICS_RO"));
        assert!(!t.platform.holds("udave", "ANALYTICS_RO"));
        let actions: Vec<String> = store::audit::for_request(t.app.db().conn(), 2)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect();
        assert_eq!(
            actions,
            ["requested", "approved", "cancelled"],
            "{}",
            db.name
        );
        let requested = &store::audit::for_request(t.app.db().conn(), 1)
            .await
            .unwrap()[0];
        assert!(
            requested.details.contains("2026-11-29T08:00:00"),
            "the start is audited: {}",
            requested.details
        );
        t.stop().await;
    }
}

fn form_values(resource: &str, starts: Option<i64>) -> Value {
    let mut v = json!({
        "resource": { "resource": { "type": "external_select", "selected_option": { "text": { "type": "plain_text", "text": resource }, "value": resource } } },
        "reason": { "reason": { "type": "plain_text_input", "value": "month end" } },
    });
    if let Some(at) = starts {
        v["starts"] = json!({ "starts": { "type": "datetimepicker", "selected_date_time": at } });
    }
    v
}

#[tokio::test]
async fn the_forms_starting_at_refuses_a_past_time_beside_it_and_schedules_a_later_one() {
    in_slack_on_every_backend(async |t, _| {
        t.request_access("UALICE", "").await;
        let form = eventually("the request form", 30, || async {
            t.sim.top_modal("UALICE")
        })
        .await;
        assert!(
            form["blocks"]
                .as_array()
                .unwrap()
                .iter()
                .any(|b| b["element"]["type"] == "datetimepicker"),
            "{form}"
        );
        let id = form["id"].as_str().unwrap().to_owned();
        let now = gatehouse::clock::Clock::now(&t.clock);

        let out = t
            .sim
            .submit_view(
                "UALICE",
                &id,
                form_values("analytics-ro", Some((now - Duration::hours(2)).timestamp())),
            )
            .await
            .unwrap();
        let errors = out.errors.expect("a past start is refused");
        assert!(
            errors["starts"]
                .as_str()
                .unwrap()
                .contains("has already passed"),
            "{errors}"
        );
        assert_eq!(out.stack, vec![id.clone()], "the form stays open");

        let later = now + Duration::hours(3);
        t.submitted(
            "UALICE",
            &id,
            form_values("analytics-ro", Some(later.timestamp())),
        )
        .await;
        assert_eq!(t.request(1).await.starts_at, Some(later));

        // No start picked: as soon as it is approved, as before.
        t.request_access("UDAVE", "").await;
        let form = eventually("Dave's form", 30, || async { t.sim.top_modal("UDAVE") }).await;
        t.sim
            .submit_view(
                "UDAVE",
                form["id"].as_str().unwrap(),
                form_values("analytics-ro", None),
            )
            .await
            .unwrap();
        assert_eq!(t.request(2).await.starts_at, None);
    })
    .await;
}

#[tokio::test]
async fn admin_grants_may_start_later_and_held_access_break_glass_and_lapses_respect_the_start() {
    in_slack_on_every_backend(async |t, db| {

    // An onboarding: Ada (UTC) grants Dave access from 9:00 tomorrow, her time.
    let reply = t.admin("UADA",
        "grant <@UDAVE|dave> analytics-ro 4h from tomorrow 9:00 onboarding",
    )
    .await;
    assert!(
        reply.contains("Granting <@UDAVE> `analytics-ro` for 4h from <!date^"),
        "{}: {reply}",
        db.name
    );
    let r = t.request(1).await;
    assert_eq!(r.starts_at, Some(utc("2026-11-29T09:00:00Z")));
    t.run_jobs().await;
    assert_eq!(t.status(1).await, Status::Approved);
    assert!(!t.platform.holds("udave", "ANALYTICS_RO"));

    // Alice holds it now; asking for it again from later is explained, not guessed at.
    ask(t, "UALICE", "analytics-ro 8h dashboards").await;
    let card = t.request_message(2).await;
    t.tick("UBOB", &card).await;
    t.wait_for(2, Status::Active).await;
    let reply = ask(t, "UALICE", "analytics-ro 2h from tomorrow 9:00 more work").await;
    assert!(
        reply.contains("you already have analytics-ro (request #2); to keep it longer ask for more time without `from`"),
        "{reply}"
    );
    // Break-glass starts at once.
    let reply = ask(
        t,
        "UCARL",
        "break-glass analytics-ro from tomorrow 9:00 on fire",
    )
    .await;
    assert!(
        reply.contains("Break-glass access starts at once"),
        "{reply}"
    );

    // Carl asks from a week ahead; nobody reviews. It does not lapse after a day (reviewers
    // have until the start), and does once the start has passed.
    ask(t, "UCARL", "analytics-ro 1h from 2026-12-05 9:00 year end").await;
    let carl = store::requests::list_all(t.app.db().conn())
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.requester.as_str() == "UCARL")
        .unwrap();
    t.clock.advance(Duration::days(2));
    t.run_jobs().await;
    assert_eq!(t.status(carl.id.get()).await, Status::Pending);
    // Dave's access has started (the background worker may be the one granting it): its
    // 4 h count from now, so the clock moves on only once it is granted.
    t.wait_for(1, Status::Active).await;
    t.clock.advance(Duration::days(5));
    t.run_jobs().await;
    t.wait_for(carl.id.get(), Status::Lapsed).await;
    // Dave's onboarding access began at its start and has ended 4h later.
    t.wait_for(1, Status::Expired).await;
    let r = t.request(1).await;
    assert!(r.active_since.unwrap() >= utc("2026-11-29T09:00:00Z"));
    })
    .await;
}
