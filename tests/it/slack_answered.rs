//! Everyone who asked is answered: a request made with the form or in one line is confirmed
//! to the requester at once, saying who reviews it, where, and when it lapses if nobody does.

use serde_json::{Value, json};
use slack_sim::render_text;

use crate::support::backends;
use crate::support::slack::{CHANNEL, SlackTestApp, eventually};

fn picked(value: &str) -> Value {
    json!({ "type": "external_select", "selected_option": { "text": { "type": "plain_text", "text": value }, "value": value } })
}

fn typed(value: Option<&str>) -> Value {
    json!({ "type": "plain_text_input", "value": value })
}

/// What a requester reads on submitting a request for analytics-ro (reviewed by Bob and Rita).
fn confirms(text: &str, duration: &str) {
    for said in [
        format!("Request #1 for *Analytics (read-only)* ({duration}) is submitted."),
        format!("<@UBOB>, <@URITA> review it in <#{CHANNEL}>; if nobody decides by <!date^"),
        ", it lapses. You will get a DM when it is decided.".to_owned(),
    ] {
        assert!(text.contains(&said), "{said:?} not in {text}");
    }
}

#[tokio::test]
async fn the_form_becomes_a_confirmation_of_what_happens_next() {
    for db in backends().await {
        let t = SlackTestApp::start(&db).await;
        t.sim
            .slash_command("UALICE", CHANNEL, "/request-access", "")
            .await
            .unwrap();
        let form = eventually("the request form", 30, || async {
            t.sim.top_modal("UALICE")
        })
        .await;
        let id = form["id"].as_str().unwrap().to_owned();
        let values = json!({
            "resource": { "resource": picked("analytics-ro") },
            "duration": { "duration": { "type": "static_select", "selected_option": { "text": { "type": "plain_text", "text": "2h" }, "value": "2h" } } },
            "duration_custom": { "duration_custom": typed(None) },
            "reason": { "reason": typed(Some("quarterly report")) },
        });
        let out = t.sim.submit_view("UALICE", &id, values).await.unwrap();
        assert!(out.errors.is_none(), "{}: {:?}", db.name, out.errors);
        assert_eq!(out.stack, vec![id.clone()], "the form stays, updated");
        let shown = t.sim.view(&id).unwrap();
        assert_eq!(shown["title"]["text"], "Request submitted", "{shown}");
        assert!(shown["submit"].is_null(), "nothing more to submit: {shown}");
        confirms(&render_text(&shown), "2h");
        t.stop().await;
    }
}

#[tokio::test]
async fn a_one_line_request_is_confirmed_with_its_reviewers_and_lapse() {
    for db in backends().await {
        let t = SlackTestApp::start(&db).await;
        let reply = t
            .reply(
                "UALICE",
                "/request-access",
                "analytics-ro 2h quarterly report",
            )
            .await;
        confirms(&reply, "2h");
        t.stop().await;
    }
}
