//! Ending access now, through slack-sim: who may end someone's active access (the holder, a
//! reviewer of the resource, an admin) and by which way (Relinquish, the Revoke button on the
//! card or in App Home, `/access-admin revoke`), everyone else refused with nothing changed;
//! and `/access-admin close` for a request whose revocation cannot complete, by admins only.

use gatehouse::domain::Status;
use serde_json::{Value, json};
use slack_sim::{SimConfig, render_text};

use crate::support::app::CATALOG;
use crate::support::backends;
use crate::support::home::{
    fresh_home, offers_button, on_message, press_in_view, press_in_view_confirmed,
};
use crate::support::scenario::in_slack_on_every_backend;
use crate::support::slack::{CHANNEL, SlackTestApp, eventually, person, shown, workspace};

const HOLDER: &str = "UALICE";
const REVIEWER: &str = "UBOB";
const OTHER_REVIEWER: &str = "UFIONA";
const ADMIN: &str = "UADA";
const GUEST: &str = "UGUEST";
const STRANGER: &str = "UDAVE";

/// Everyone there is to be, for Alice's `analytics-ro` access (Bob and Rita review it; Fiona
/// reviews `finance-pii` only; Ada administers; Gus is a guest; Dave is nobody in particular).
const PEOPLE: [(&str, &str); 6] = [
    (HOLDER, "the holder"),
    (REVIEWER, "a reviewer of the resource"),
    (OTHER_REVIEWER, "a reviewer of another resource only"),
    (ADMIN, "an admin"),
    (GUEST, "a guest"),
    (STRANGER, "a stranger"),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Way {
    /// Relinquish in the holder's App Home (also in their reminder DM).
    Relinquish,
    /// Revoke on the request's card in the channel, then the reason modal.
    CardButton,
    /// Revoke beside the grant in App Home, then the reason modal.
    HomeButton,
    /// `/access-admin revoke ID REASON`.
    AdminCommand,
}

const WAYS: [Way; 4] = [
    Way::Relinquish,
    Way::CardButton,
    Way::HomeButton,
    Way::AdminCommand,
];

/// The decision "end this access now", stated once: who may, and which way. Every other
/// (person, way) is refused, or not offered to them at all, and changes nothing. The holder
/// has Relinquish where others have Revoke, and may also use the card's button.
const ALLOWED: [(&str, Way); 7] = [
    (HOLDER, Way::Relinquish),
    (HOLDER, Way::CardButton),
    (REVIEWER, Way::CardButton),
    (REVIEWER, Way::HomeButton),
    (ADMIN, Way::CardButton),
    (ADMIN, Way::HomeButton),
    (ADMIN, Way::AdminCommand),
];

fn with_guest() -> SimConfig {
    let mut ws = workspace();
    ws.users.push(slack_sim::UserSeed {
        is_restricted: true,
        ..person(GUEST, "gus", "UTC")
    });
    for c in &mut ws.channels {
        c.members.push(GUEST.into());
    }
    ws
}

/// Alice asks for analytics-ro and Bob's ✅ makes request `n` active; returns once its card
/// offers Revoke.
async fn alice_holds_analytics(t: &SlackTestApp, n: i64) -> slack_sim::Message {
    t.granted(HOLDER, "analytics-ro 8h month end", n, REVIEWER)
        .await;
    card_once(t, n, "[Revoke]").await
}

/// Request `n`'s card, once it shows `needle`.
async fn card_once(t: &SlackTestApp, n: i64, needle: &str) -> slack_sim::Message {
    eventually(&format!("card #{n} showing {needle:?}"), 30, || async {
        let msg = t.request_message(n).await;
        shown(&msg).contains(needle).then_some(msg)
    })
    .await
}

/// Whether a view or message offers a button `action` whose value is `value`.
fn offers(blocks: &Value, action: &str, value: &str) -> bool {
    offers_button(blocks, action, &|v| v == value)
}

/// `who` opens App Home; returns it once published anew and showing `needle`.
async fn home_of(t: &SlackTestApp, who: &str, needle: &str) -> Value {
    fresh_home(t, who, needle, |h| render_text(h).contains(needle)).await
}

async fn click_on_card(t: &SlackTestApp, who: &str, msg: &slack_sim::Message, value: &str) {
    let target = on_message(msg);
    t.sim
        .click_button(who, target, "revoke", Some(value), None)
        .await
        .unwrap();
}

/// `who` answers the reason modal that their click opened for request `n`.
async fn give_reason(t: &SlackTestApp, who: &str, n: i64, reason: &str) {
    let form = eventually("the revoke form", 30, || async {
        t.sim.top_modal(who).filter(|m| {
            m["callback_id"] == "revoke_access"
                && m["private_metadata"]
                    .as_str()
                    .is_some_and(|p| p.split(':').next() == Some(&n.to_string()))
        })
    })
    .await;
    assert_eq!(form["submit"]["text"], "Revoke access", "{form}");
    let out = t
        .submitted(
            who,
            form["id"].as_str().unwrap(),
            json!({ "reason": { "reason": { "type": "plain_text_input", "value": reason } } }),
        )
        .await;
    assert!(out.stack.is_empty(), "the form closes");
}

/// (actor, action) of request `n`'s audit rows, in order.
async fn audit_of(t: &SlackTestApp, n: i64) -> Vec<(String, String)> {
    gatehouse::store::audit::for_request(t.app.db().conn(), n)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.actor, e.action))
        .collect()
}

/// Alice's analytics-ro access (request `n`) is still as it was.
async fn unchanged(t: &SlackTestApp, n: i64, audit_rows: i64, cell: &str) {
    assert_eq!(t.status(n).await, Status::Active, "{cell}");
    assert!(t.platform.holds("ualice", "ANALYTICS_RO"), "{cell}");
    assert_eq!(t.audit_rows().await, audit_rows, "no new audit row: {cell}");
}

const REFUSAL: &str =
    "only the person who holds this access, a reviewer of analytics-ro or an admin can end it";

/// Tries `way` as `who` on request 1, whose card is `card`, and checks they are refused or
/// not offered it, and that nothing changed.
async fn refused(t: &SlackTestApp, who: &str, way: Way, card: &slack_sim::Message, cell: &str) {
    let before = t.audit_rows().await;
    match way {
        Way::Relinquish => {
            let home = home_of(t, who, "Your access").await;
            assert!(
                !offers(&home, "relinquish", "1"),
                "{cell}: no Relinquish offered"
            );
        }
        Way::HomeButton => {
            let home = home_of(t, who, "Your access").await;
            assert!(!offers(&home, "revoke", "1"), "{cell}: no Revoke offered");
        }
        Way::CardButton => {
            click_on_card(t, who, card, "1").await;
            let note = t.ephemeral_for(who, "Request #1 was not revoked").await;
            // A guest is refused for what the account is, before what it reviews.
            let why = if who == GUEST {
                "guests cannot decide on requests or access"
            } else {
                REFUSAL
            };
            assert!(note.contains(why), "{cell}: {note}");
            assert!(t.sim.top_modal(who).is_none(), "{cell}: no form opened");
        }
        Way::AdminCommand => {
            let reply = t.admin(who, "revoke #1 I want it gone").await;
            assert_eq!(reply, "only a Gatehouse admin can do that", "{cell}");
        }
    }
    unchanged(t, 1, before, cell).await;
}

/// Ends request `n` as `who` by `way`, with `reason` where the way asks for one.
async fn allowed(
    t: &SlackTestApp,
    who: &str,
    way: Way,
    n: i64,
    card: &slack_sim::Message,
    reason: &str,
) {
    let id = n.to_string();
    match way {
        Way::Relinquish => {
            let home = fresh_home(t, who, "Relinquish", |h| offers(h, "relinquish", &id)).await;
            press_in_view_confirmed(t, who, &home, "relinquish", &id).await;
        }
        Way::CardButton => {
            click_on_card(t, who, card, &id).await;
            give_reason(t, who, n, reason).await;
        }
        Way::HomeButton => {
            let home = fresh_home(t, who, "Revoke", |h| offers(h, "revoke", &id)).await;
            press_in_view(t, who, &home, "revoke", &id).await;
            give_reason(t, who, n, reason).await;
        }
        Way::AdminCommand => {
            // The number alone works as well as `#12`.
            let reply = t.admin(who, &format!("revoke {n} {reason}")).await;
            assert_eq!(
                reply,
                format!(
                    "🔒 Removing <@UALICE>'s access to `analytics-ro` (request #{n}) now; they are told you ended it and why."
                )
            );
        }
    }
}

#[tokio::test]
async fn ending_access_now_is_for_the_holder_a_reviewer_of_the_resource_and_admins_and_nobody_else()
{
    for db in backends().await {
        // Unpaced: this test posts to one channel often, and what is tested is who may act.
        let sim = slack_sim::SlackSim::start(with_guest()).await.unwrap();
        let unpaced = [("GATEHOUSE_SLACK_PACE", "none")];
        let platform = crate::support::platform::FakePlatform::default();
        let t = SlackTestApp::start_env(&db, &CATALOG, sim, false, platform, &unpaced).await;
        let card = alice_holds_analytics(&t, 1).await;
        // Dave holds finance-pii (#2): Fiona, its reviewer, has a Revoke button in her Home.
        t.granted(STRANGER, "finance-pii 2h", 2, OTHER_REVIEWER)
            .await;

        // Each refused cell, tried on Alice's request #1.
        for (who, kind) in PEOPLE {
            for way in WAYS {
                if !ALLOWED.contains(&(who, way)) {
                    let cell = format!("{} ({kind}) by {way:?} on {}", who, db.name);
                    refused(&t, who, way, &card, &cell).await;
                }
            }
        }
        // Reviewers see the grants of what they review; admins see all.
        let bob = home_of(&t, REVIEWER, "Access you can revoke").await;
        assert!(offers(&bob, "revoke", "1") && !offers(&bob, "revoke", "2"));
        let ada = home_of(&t, ADMIN, "Access you can revoke").await;
        assert!(offers(&ada, "revoke", "1") && offers(&ada, "revoke", "2"));
        // The button's value is all that is read, and only as a request number: Fiona's
        // Revoke, sent with Alice's request in it, is refused like any other.
        let before = t.audit_rows().await;
        let fiona = home_of(&t, OTHER_REVIEWER, "Access you can revoke").await;
        assert!(offers(&fiona, "revoke", "2") && !offers(&fiona, "revoke", "1"));
        press_in_view(&t, OTHER_REVIEWER, &fiona, "revoke", "1").await;
        let told = t.dm_for(OTHER_REVIEWER, "Request #1 was not revoked").await;
        assert!(told.contains(REFUSAL), "{told}");
        assert!(t.sim.top_modal(OTHER_REVIEWER).is_none());
        unchanged(&t, 1, before, "Fiona's forged click").await;

        // Each allowed cell ends a grant of its own at once.
        let (mut n, mut card) = (1, card);
        for (i, (who, way)) in ALLOWED.into_iter().enumerate() {
            if i > 0 {
                n = i as i64 + 2;
                card = alice_holds_analytics(&t, n).await;
            }
            let reason = format!("incident <!channel> 44{i}");
            let cell = format!("{who} by {way:?} on {}", db.name);
            allowed(&t, who, way, n, &card, &reason).await;
            t.wait_for(n, Status::Revoked).await;
            assert!(!t.platform.holds("ualice", "ANALYTICS_RO"), "{cell}");
            let audit = audit_of(&t, n).await;
            let ended: Vec<_> = audit
                .iter()
                .filter(|(_, a)| a == "revoking" || a == "revoked")
                .cloned()
                .collect();
            assert_eq!(
                ended,
                [
                    (who.to_owned(), "revoking".to_owned()),
                    ("gatehouse".to_owned(), "revoked".to_owned())
                ],
                "{cell}"
            );
            if who == HOLDER {
                t.dm_for(
                    HOLDER,
                    &format!(
                        "🔒 Your access to *Analytics (read-only)* was removed (request #{n})."
                    ),
                )
                .await;
                card_once(&t, n, "🔒 *Revoked* — access removed").await;
            } else {
                // People's words are escaped: the reason pings nobody.
                let said = format!("incident &lt;!channel&gt; 44{i}");
                t.dm_for(
                    HOLDER,
                    &format!(
                        "🔒 <@{who}> removed your access to *Analytics (read-only)* (request #{n}): {said}"
                    ),
                )
                .await;
                let card = card_once(&t, n, &format!("🔒 *Revoked* by <@{who}>: {said}")).await;
                assert!(!shown(&card).contains("[Revoke]"), "{cell}");
                eventually("the thread note", 30, || async {
                    t.sim.thread(CHANNEL, &card.ts).iter().map(shown).find(|m| {
                        // Named in the thread, not pinged (slack-sim's people are named by id).
                        let name = who[1..].to_lowercase();
                        m.contains(&format!("🔒 Revoked by {name}: {said}; access removed"))
                    })
                })
                .await;
            }
            if way == Way::HomeButton {
                // Their Home is refreshed: the grant is no longer offered.
                eventually("the refreshed Home", 30, || async {
                    let home = t.sim.home_view(who)?;
                    (!offers(&home, "revoke", &n.to_string())).then_some(())
                })
                .await;
            }
        }
        t.stop().await;
        db.close().await;
    }
}

#[tokio::test]
async fn a_request_stuck_in_revoking_is_closed_by_an_admin_with_a_reason_and_by_nobody_else() {
    in_slack_on_every_backend(async |t, db| {
        alice_holds_analytics(t, 1).await;
        // Only a request stuck in revoking can be closed.
        assert_eq!(
            t.admin(ADMIN, "close #1 gone already")
                .await,
            "Request #1 was not closed: this request cannot be closed because its access is active"
        );
        assert_eq!(
            t.admin(ADMIN, "revoke #1").await,
            "Say why. Usage: `/access-admin revoke #ID REASON…`, like `/access-admin revoke #12 incident 4411` (the holder reads the reason; it is kept in the audit log)."
        );
        assert_eq!(t.status(1).await, Status::Active);

        // The platform refuses the revocation for good (its user was deleted, say).
        t.platform.fail_next(5, false);
        assert_eq!(
            t.admin(ADMIN, "revoke #1 key leaked")
                .await,
            "🔒 Removing <@UALICE>'s access to `analytics-ro` (request #1) now; they are told you ended it and why."
        );
        eventually("the failing revocation", 30, || async {
            t.app
                .workflow()
                .revocation_error(gatehouse::domain::RequestId::new(1))
                .await
                .unwrap()
        })
        .await;
        assert_eq!(t.status(1).await, Status::Revoking);
        card_once(
            t,
            1,
            "⏳ *Being revoked* by <@UADA>: key leaked — removing access…",
        )
        .await;

        let before = t.audit_rows().await;
        for who in [HOLDER, REVIEWER, OTHER_REVIEWER, STRANGER] {
            assert_eq!(
                t.admin(who, "close #1 it is gone").await,
                "only a Gatehouse admin can do that",
                "{who}"
            );
        }
        assert_eq!(
            t.admin(ADMIN, "close #1").await,
            "Say why. Usage: `/access-admin close #ID REASON…` for a request stuck in revoking, like `/access-admin close #12 platform user deleted by IT` (say how you know the access is gone; it is kept in the audit log)."
        );
        assert!(
            t.admin(ADMIN, "close #x gone")
                .await
                .starts_with("`#x` is not a request number; write it like 42 or #42."),
        );
        assert_eq!(t.status(1).await, Status::Revoking, "{}", db.name);
        assert_eq!(t.audit_rows().await, before, "nothing written");

        assert_eq!(
            t.admin(ADMIN, "close #1 platform user deleted by IT"
            )
            .await,
            "🔒 Closed request #1 (<@UALICE>'s `analytics-ro`) as revoked, without checking the platform; they are told you closed it and why."
        );
        assert_eq!(t.status(1).await, Status::Revoked);
        let audit = audit_of(t, 1).await;
        assert_eq!(
            audit.last(),
            Some(&("UADA".to_owned(), "closed".to_owned())),
            "{audit:?}"
        );
        t.dm_for(
            HOLDER,
            "🔒 <@UADA> closed your request #1 for *Analytics (read-only)*: platform user deleted by IT",
        )
        .await;
        card_once(
            t,
            1,
            "🔒 *Closed* by <@UADA>: platform user deleted by IT — not checked on the platform",
        )
        .await;
        let grant = t
            .app
            .workflow()
            .grant_of(gatehouse::domain::RequestId::new(1))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            grant.revoke_applied.as_deref(),
            Some("closed by UADA, not checked on the platform: platform user deleted by IT")
        );
    })
    .await;
}

#[tokio::test]
async fn the_revoke_form_asks_for_a_reason_and_says_when_the_access_ended_meanwhile() {
    let db = crate::support::TestDb::sqlite();
    let t = SlackTestApp::start(&db).await;
    let card = alice_holds_analytics(&t, 1).await;
    click_on_card(&t, REVIEWER, &card, "1").await;
    let form = eventually("the revoke form", 30, || async {
        t.sim.top_modal(REVIEWER)
    })
    .await;
    let text = render_text(&form);
    assert!(
        text.contains("End <@UALICE>'s access to *Analytics (read-only)* (request #1) now?"),
        "{text}"
    );
    let submit = |reason: &'static str| {
        let view = form["id"].as_str().unwrap().to_owned();
        let t = &t;
        async move {
            t.sim
                .submit_view(
                    REVIEWER,
                    &view,
                    json!({ "reason": { "reason": { "type": "plain_text_input", "value": reason } } }),
                )
                .await
                .unwrap()
                .errors
                .unwrap_or_default()
        }
    };
    assert_eq!(
        submit("   ").await["reason"],
        "say why you end this access now; the holder reads it"
    );
    assert_eq!(t.status(1).await, Status::Active);

    // Ada revokes it while Bob is still writing.
    t.admin(ADMIN, "revoke #1 incident 4411").await;
    let error = submit("me too").await;
    assert!(
        error["reason"]
            .as_str()
            .is_some_and(|e| e.starts_with("this request cannot be revoked because")),
        "{error}"
    );
    let revoking: Vec<_> = audit_of(&t, 1)
        .await
        .into_iter()
        .filter(|(_, a)| a == "revoking")
        .collect();
    assert_eq!(revoking, [("UADA".to_owned(), "revoking".to_owned())]);
    t.stop().await;
}
