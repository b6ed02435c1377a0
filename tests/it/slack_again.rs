//! "Request again" on the DMs that end a request without the access (denied, lapsed) or with it
//! gone (expired): the request form opens filled in as the person asked last time, and a Submit
//! asks again. Nobody else can open someone's request again.

use gatehouse::domain::{RequestId, SlackUserId, Status};
use gatehouse::workflow::Via;
use serde_json::{Value, json};

use crate::support::home::on_message;
use crate::support::scenario::in_slack_on_sqlite;
use crate::support::slack::{SlackTestApp, eventually, shown};

/// The element of `form` whose `action_id` is `id`.
fn element<'a>(form: &'a Value, id: &str) -> &'a Value {
    form["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| &b["element"])
        .find(|e| e["action_id"] == id)
        .unwrap_or_else(|| panic!("no {id} in {form}"))
}

/// `who` presses "Request again" on their DM showing `needle`; the form it opened.
async fn again_from(t: &SlackTestApp, who: &str, needle: &str) -> Value {
    t.dm_for(who, needle).await;
    let msg = t
        .sim
        .dms(who)
        .into_iter()
        .find(|m| shown(m).contains(needle))
        .unwrap();
    let target = on_message(&msg);
    t.sim
        .click_button(who, target, "request_again", None, None)
        .await
        .unwrap();
    eventually("the request form", 30, || async { t.sim.top_modal(who) }).await
}

#[tokio::test]
async fn a_denied_request_is_asked_again_from_its_dm_with_the_form_filled_in() {
    in_slack_on_sqlite(SlackTestApp::start, async |t| {
        t.ask("UALICE", "analytics-ro 8h quarterly report", 1).await;
        let bob = SlackUserId::parse("UBOB").unwrap();
        t.app
            .workflow()
            .deny(
                RequestId::new(1),
                &bob,
                Via::Button,
                Some("ask after the freeze"),
            )
            .await
            .unwrap();
        let form = again_from(t, "UALICE", "denied your request #1").await;
        assert_eq!(
            element(&form, "resource")["initial_option"]["value"],
            "analytics-ro"
        );
        assert_eq!(element(&form, "duration")["initial_option"]["value"], "8h");
        assert_eq!(
            element(&form, "reason")["initial_value"],
            "quarterly report"
        );

        // Submitted as it stands, it is a new request, waiting for a reviewer.
        let values = json!({
            "resource": { "resource": { "type": "external_select", "selected_option": { "text": { "type": "plain_text", "text": "Analytics" }, "value": "analytics-ro" } } },
            "duration": { "duration": { "type": "static_select", "selected_option": { "text": { "type": "plain_text", "text": "8h" }, "value": "8h" } } },
            "duration_custom": { "duration_custom": { "type": "plain_text_input", "value": null } },
            "reason": { "reason": { "type": "plain_text_input", "value": "quarterly report" } },
        });
        t.sim
            .submit_view("UALICE", form["id"].as_str().unwrap(), values)
            .await
            .unwrap();
        t.wait_for(2, Status::Pending).await;
        assert!(shown(&t.request_message(2).await).contains("quarterly report"));
    })
    .await;
}

#[tokio::test]
async fn lapsed_and_expired_dms_offer_it_and_nobody_else_can_use_them() {
    in_slack_on_sqlite(SlackTestApp::start, async |t| {
        t.granted("UALICE", "analytics-ro 8h quarterly report", 1, "UBOB")
            .await;
        t.expire(1, chrono::Duration::hours(9)).await;
        let form = again_from(t, "UALICE", "has expired and was removed").await;
        assert_eq!(
            element(&form, "resource")["initial_option"]["value"],
            "analytics-ro"
        );

        // Nobody reviews Dave's request in time: it lapses, and his DM offers it again.
        t.ask("UDAVE", "analytics-ro 1h month end", 2).await;
        t.later(chrono::Duration::days(8)).await;
        t.run_jobs().await;
        t.wait_for(2, Status::Lapsed).await;
        let lapsed = "in time, so it lapsed";
        t.dm_for("UDAVE", lapsed).await;
        let msg = t
            .sim
            .dms("UDAVE")
            .into_iter()
            .find(|m| shown(m).contains(lapsed))
            .unwrap();

        // Alice pressing Dave's button opens nothing for her and asks for nothing.
        let her_form = t.sim.top_modal("UALICE").map(|v| v["id"].clone());
        let target = on_message(&msg);
        t.sim
            .click_button("UALICE", target.clone(), "request_again", None, None)
            .await
            .unwrap();
        t.run_jobs().await;
        let now = t.sim.top_modal("UALICE").map(|v| v["id"].clone());
        assert_eq!(now, her_form, "no new form for Alice");
        let third = t.app.workflow().request(RequestId::new(3)).await;
        assert!(third.is_err(), "nothing asked for: {third:?}");
        // Dave's own press opens his form.
        t.sim
            .click_button("UDAVE", target, "request_again", None, None)
            .await
            .unwrap();
        let form = eventually("Dave's form", 30, || async { t.sim.top_modal("UDAVE") }).await;
        assert_eq!(element(&form, "duration")["initial_option"]["value"], "1h");
    })
    .await;
}
