//! The card says what is asked and who decides: the resource's description, the unit granted
//! and through which connector, the duration within its bound, who can approve it (mentioned,
//! so they hear of it when it is first posted, people and groups alike) and when it lapses; the
//! resource picker carries each description, and a form opened for a resource fits it.

use serde_json::Value;

use crate::support::catalog;
use crate::support::db::TestDb;
use crate::support::home::on_message;
use crate::support::scenario::in_slack_on_sqlite;
use crate::support::slack::{CHANNEL, SlackTestApp, eventually, shown, workspace};

/// Analytics described, at most 3 days, lapsing after a day; Payroll, whose reviewers are told
/// in their DMs; Finance, asked for with a reason, at most a day. All by hand.
fn catalog() -> String {
    let described =
        "description = \"Read the analytics warehouse: dashboards & ad-hoc queries, no PII\"\n";
    let analytics = catalog::task("analytics-ro", &["UBOB", "URITA"]);
    let payroll = catalog::task("payroll", &["UBOB", "URITA"]);
    let finance = catalog::with_reason(catalog::task("finance", &["UFIONA"]));
    catalog::manual(&[
        analytics + described + "max_duration = \"3d\"\nlapse_after = \"1d\"\n",
        payroll + "notify_reviewers = \"dm\"\n",
        finance + "max_duration = \"1d\"\n",
    ])
}

/// Gatehouse with this file's catalog, in the test workspace.
async fn started(db: &TestDb) -> SlackTestApp {
    SlackTestApp::start_with(db, &catalog(), workspace()).await
}

#[tokio::test]
async fn the_card_says_what_is_granted_and_mentions_who_can_approve_until_it_lapses() {
    in_slack_on_sqlite(started, async |t| {
        let card = shown(&t.ask("UALICE", "analytics-ro 8h", 1).await);

        assert!(
            card.contains("Read the analytics warehouse: dashboards &amp; ad-hoc queries, no PII"),
            "the description, escaped: {card}"
        );
        assert!(
            card.contains("task “ANALYTICS_RO” through `manual`"),
            "{card}"
        );
        assert!(card.contains("8h (at most 3d)"), "{card}");
        assert!(
            card.contains("<@UBOB>, <@URITA> can approve with ✅ or deny with ❌"),
            "{card}"
        );
        // Submitted at the test clock's now (Sat 28 Nov 2026, 09:00 UTC); a day to decide.
        let lapses = chrono::DateTime::parse_from_rfc3339("2026-11-29T09:00:00Z").unwrap();
        assert!(
            card.contains(&format!("lapses <!date^{}^", lapses.timestamp())),
            "{card}"
        );

        // Once approved, the card stops asking anyone.
        let msg = t.request_message(1).await;
        t.tick("UBOB", &msg).await;
        let decided = eventually("the card approved", 30, || async {
            let m = t.sim.message(CHANNEL, &msg.ts)?;
            let text = shown(&m);
            text.contains("Active").then_some(text)
        })
        .await;
        assert!(!decided.contains("can approve"), "{decided}");
    })
    .await;
}

#[tokio::test]
async fn the_resource_picker_shows_each_resources_description() {
    in_slack_on_sqlite(started, async |t| {
        t.request_access("UALICE", "").await;
        let form: Value = eventually("the form", 30, || async { t.sim.top_modal("UALICE") }).await;
        let found = t
            .sim
            .block_suggestion(
                "UALICE",
                form["id"].as_str().unwrap(),
                "resource",
                "resource",
                "ana",
            )
            .await
            .unwrap();
        let options = found.payload.unwrap()["options"].clone();
        assert_eq!(
            options[0]["description"]["text"],
            "Read the analytics warehouse: dashboards & ad-hoc queries, no PII"
        );
    })
    .await;
}

/// The form `/request-access text` opens for `who`.
async fn form_for(t: &SlackTestApp, who: &str, text: &str) -> Value {
    t.request_access(who, text).await;
    eventually("the form", 30, || async { t.sim.top_modal(who) }).await
}

/// The form's input block `id`.
fn input<'a>(form: &'a Value, id: &str) -> &'a Value {
    form["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["block_id"] == id)
        .unwrap_or_else(|| panic!("no {id} in {form}"))
}

fn presets(form: &Value) -> Vec<String> {
    input(form, "duration")["element"]["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["value"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_form_for_a_resource_offers_only_its_durations_and_says_whether_a_reason_is_required() {
    in_slack_on_sqlite(started, async |t| {
        // Finance is capped at 1d and needs a reason: named alone, it opens the form.
        let form = form_for(t, "UALICE", "finance").await;
        assert_eq!(
            presets(&form),
            ["1h", "4h", "8h", "1d", "other"],
            "no 3d, no 7d"
        );
        assert_eq!(input(&form, "reason")["optional"], false);
        assert_eq!(
            input(&form, "reason")["hint"]["text"],
            "Required for this resource: reviewers read it."
        );
        // With no resource yet, every preset, and the reason as the resource will say.
        let form = form_for(t, "UDAVE", "").await;
        assert_eq!(
            presets(&form),
            ["1h", "4h", "8h", "1d", "3d", "7d", "other"]
        );
        assert_eq!(input(&form, "reason")["optional"], true);
    })
    .await;
}

fn option(label: &str, value: &str) -> Value {
    serde_json::json!({ "text": { "type": "plain_text", "text": label }, "value": value })
}

/// What the form says under its chosen resource.
fn about(form: &Value) -> Option<String> {
    let blocks = form["blocks"].as_array()?;
    let context = blocks.iter().find(|b| b["type"] == "context")?;
    context["elements"][0]["text"].as_str().map(str::to_owned)
}

/// The form fits what is chosen in it: a resource narrows the presets to its bounds, marks the
/// reason required where it is and says who reviews it; "Other…" asks for the duration typed.
/// What was already entered stays, and the request is made as the form last showed it.
#[tokio::test]
async fn the_form_fits_the_resource_chosen_in_it_and_keeps_what_was_entered() {
    in_slack_on_sqlite(started, async |t| {
        let form = form_for(t, "UALICE", "").await;
        let id = form["id"].as_str().unwrap().to_owned();
        assert_eq!(
            presets(&form),
            ["1h", "4h", "8h", "1d", "3d", "7d", "other"]
        );
        let has = |form: &Value, block: &str| {
            form["blocks"]
                .as_array()
                .unwrap()
                .iter()
                .any(|b| b["block_id"] == block)
        };
        assert!(!has(&form, "duration_custom"), "one duration input");
        assert!(about(&form).is_none(), "nothing to say before a resource");
        assert!(
            input(&form, "reason")["hint"]["text"]
                .as_str()
                .unwrap()
                .contains("Choose a resource first"),
            "{form}"
        );

        t.sim
            .type_text("UALICE", &id, "reason", "month-end close")
            .await
            .unwrap();
        let told = t
            .sim
            .choose(
                "UALICE",
                &id,
                "resource",
                option("Finance (finance)", "finance"),
            )
            .await
            .unwrap();
        assert!(told.is_some_and(|ack| ack.acked), "the choice is sent");
        let fitted = eventually("the form fitted to Finance", 30, || async {
            let v = t.sim.view(&id)?;
            (input(&v, "reason")["optional"] == false).then_some(v)
        })
        .await;
        assert_eq!(presets(&fitted), ["1h", "4h", "8h", "1d", "other"]);
        let said = about(&fitted).unwrap();
        assert!(said.contains("Reviewed by <@UFIONA>"), "{said}");
        assert!(said.contains("to 1d"), "{said}");
        assert_eq!(
            fitted["state"]["values"]["reason"]["reason"]["value"], "month-end close",
            "what was typed stays"
        );

        // "Other…": the duration is typed beside it, within the resource's bound.
        t.sim
            .choose("UALICE", &id, "duration", option("Other…", "other"))
            .await
            .unwrap();
        let typed = eventually("the typed duration asked for", 30, || async {
            t.sim.view(&id).filter(|v| has(v, "duration_custom"))
        })
        .await;
        let hint = input(&typed, "duration_custom")["hint"]["text"].clone();
        assert!(hint.as_str().unwrap().contains("At most 1d"), "{hint}");
        t.sim
            .type_text("UALICE", &id, "duration_custom", "90m")
            .await
            .unwrap();
        let as_shown = t.sim.view(&id).unwrap()["state"]["values"].clone();
        t.submitted("UALICE", &id, as_shown).await;
        t.wait_for(1, gatehouse::domain::Status::Pending).await;
        let card = shown(&t.request_message(1).await);
        assert!(card.contains("1h30m (at most 1d)"), "{card}");
        assert!(card.contains("month-end close"), "{card}");
    })
    .await;
}

/// Who was pinged, as Slack counts it (slack-sim's notifications: mentions of members and
/// their groups in new posts, and DMs): each reviewer once, when the card is first posted;
/// nobody for their own action; the admins once, when a change by hand waits for them; the
/// requester only in their DMs, never by a mention in the channel.
#[tokio::test]
async fn reviewers_are_pinged_once_per_request_and_nobody_for_their_own_action() {
    let db = TestDb::sqlite();
    // The catalog's own manual connector: a change by hand, which waits for an admin.
    let sim = slack_sim::SlackSim::start(workspace()).await.unwrap();
    let t = SlackTestApp::start_registry(&db, &catalog(), sim).await;
    let card = t.ask("UALICE", "analytics-ro 8h", 1).await;
    let pings = |who: &str| t.sim.notifications(who);
    for reviewer in ["UBOB", "URITA"] {
        let got = pings(reviewer);
        assert_eq!(got.len(), 1, "{reviewer}: {got:?}");
        assert_eq!(
            (got[0].ts.as_str(), got[0].why.as_str()),
            (card.ts.as_str(), "mention")
        );
    }

    t.tick("UBOB", &card).await;
    // The change is by hand: the thread asks the admins, once.
    let ada = eventually("the admin asked in the thread", 30, || async {
        let got = pings("UADA");
        (!got.is_empty()).then_some(got)
    })
    .await;
    for _ in 0..3 {
        t.run_jobs().await;
    }
    let ada_again = pings("UADA");
    assert_eq!(ada_again.len(), 1, "{ada_again:?}");
    assert_eq!(ada[0].channel, CHANNEL);
    assert_ne!(ada[0].ts, card.ts, "in the thread, not the card");

    let bob = pings("UBOB");
    let said: Vec<String> = bob
        .iter()
        .filter_map(|n| t.sim.message(&n.channel, &n.ts))
        .map(|m| shown(&m))
        .collect();
    assert_eq!(bob.len(), 1, "Bob is not pinged about his own ✅: {said:?}");
    assert_eq!(
        pings("URITA").len(),
        1,
        "Rita is not pinged again once it is decided"
    );
    let alice = pings("UALICE");
    assert!(!alice.is_empty(), "Alice hears of the decision");
    assert!(
        alice.iter().all(|n| n.why == "dm"),
        "the requester is told in her DMs, never mentioned in the channel: {alice:?}"
    );
    t.stop().await;
    db.close().await;
}

/// Shortly before a request nobody decided lapses, its reviewers are reminded in its thread,
/// once; a decided request is left alone, and the lapse still happens at its time.
#[tokio::test]
async fn reviewers_are_reminded_once_before_a_request_lapses_and_only_if_undecided() {
    in_slack_on_sqlite(started, async |t| {
        let waiting = t.ask("UALICE", "analytics-ro 8h", 1).await;
        let decided = t.ask("UDAVE", "analytics-ro 8h", 2).await;
        t.tick("URITA", &decided).await;
        t.wait_for(2, gatehouse::domain::Status::Active).await;
        let pings = |who: &str| t.sim.notifications(who).len();
        assert_eq!((pings("UBOB"), pings("URITA")), (2, 2), "one card each");
        let nudge = |ts: &str| {
            t.sim
                .thread(CHANNEL, ts)
                .iter()
                .map(shown)
                .find(|m| m.contains("Nobody has decided yet"))
        };

        // lapse_after = 1d: the reminder comes an hour before; a minute earlier, nothing yet.
        t.later(chrono::Duration::hours(22) + chrono::Duration::minutes(59))
            .await;
        t.run_jobs().await;
        t.settled().await;
        assert!(nudge(&waiting.ts).is_none());
        t.later(chrono::Duration::minutes(1)).await;
        t.run_jobs().await;
        let note = eventually("the reminder in the thread", 30, || async {
            nudge(&waiting.ts)
        })
        .await;
        assert!(note.contains("request #1 lapses"), "{note}");
        assert!(note.contains("<@UBOB>, <@URITA>, please approve"), "{note}");
        t.settled().await;
        assert_eq!((pings("UBOB"), pings("URITA")), (3, 3), "reminded once");
        assert!(
            nudge(&decided.ts).is_none(),
            "a decided request is not nudged"
        );
        assert_eq!(t.status(1).await, gatehouse::domain::Status::Pending);

        // Again a little later: no second reminder; at its time, it lapses.
        t.later(chrono::Duration::minutes(40)).await;
        t.run_jobs().await;
        t.settled().await;
        assert_eq!((pings("UBOB"), pings("URITA")), (3, 3));
        t.later(chrono::Duration::minutes(20)).await;
        t.run_jobs().await;
        t.wait_for(1, gatehouse::domain::Status::Lapsed).await;
    })
    .await;
}

/// With `notify_reviewers = "dm"`, each who can approve hears of a new request once, in a DM
/// with Approve and Deny, and is not mentioned on the card. The first to approve there decides;
/// their DM says so, and the other's button, once pressed, is answered and taken off.
#[tokio::test]
async fn reviewers_told_by_dm_approve_there_and_are_not_mentioned_in_the_channel() {
    in_slack_on_sqlite(started, async |t| {
        let card = shown(&t.ask("UALICE", "payroll 4h closing the books", 1).await);
        assert!(!card.contains("<@UBOB>"), "named, not mentioned: {card}");
        assert!(card.contains("bob"), "{card}");
        let asked = |who: &'static str| {
            let t = &t;
            async move {
                eventually("the reviewer's DM", 30, || async {
                    t.sim
                        .dms(who)
                        .into_iter()
                        .find(|m| shown(m).contains("asks for *Payroll*"))
                })
                .await
            }
        };
        let (bob_dm, rita_dm) = (asked("UBOB").await, asked("URITA").await);
        t.settled().await;
        for who in ["UBOB", "URITA"] {
            let heard = t.sim.notifications(who);
            assert_eq!(heard.len(), 1, "{who} is told once: {heard:?}");
            assert_eq!(heard[0].why, "dm", "{who}: {heard:?}");
        }
        let text = shown(&bob_dm);
        assert!(text.contains("closing the books"), "{text}");
        assert!(text.contains("[Approve] [Deny]"), "{text}");
        assert!(
            t.sim
                .dms("UALICE")
                .iter()
                .all(|m| !shown(m).contains("asks for"))
        );

        let press = |who: &str, dm: &slack_sim::Message| {
            let target = on_message(dm);
            let (sim, who) = (t.sim.clone(), who.to_owned());
            async move {
                sim.click_button(&who, target, "approve", None, None)
                    .await
                    .unwrap()
            }
        };
        press("UBOB", &bob_dm).await;
        t.wait_for(1, gatehouse::domain::Status::Active).await;
        let bobs = eventually("Bob's DM to say it is done", 30, || async {
            let m = shown(&t.sim.message(&bob_dm.channel, &bob_dm.ts)?);
            m.contains("✅ Approved by <@UBOB>").then_some(m)
        })
        .await;
        assert!(!bobs.contains("[Approve]"), "{bobs}");

        press("URITA", &rita_dm).await;
        let ritas = eventually("Rita's stale button taken off", 30, || async {
            let m = shown(&t.sim.message(&rita_dm.channel, &rita_dm.ts)?);
            m.contains("No longer applies").then_some(m)
        })
        .await;
        assert!(!ritas.contains("[Approve]"), "{ritas}");
        let audit = gatehouse::store::audit::for_request(t.app.db().conn(), 1)
            .await
            .unwrap();
        let approvals = audit.iter().filter(|e| e.action == "approved").count();
        assert_eq!(approvals, 1, "approved once");
    })
    .await;
}
