//! What Gatehouse posts fits Slack's Block Kit limits, which slack-sim enforces as Slack does
//! (a text over its limit and the whole post is refused): a reason too long for the card is cut
//! there, with the whole of it in the request's thread.

use serde_json::Value;

use crate::support::TestDb;
use crate::support::slack::{SlackTestApp, shown};

/// The texts of a message's sections, in order.
fn sections(m: &slack_sim::Message) -> Vec<String> {
    let blocks = m.blocks.clone().unwrap_or(Value::Null);
    blocks
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|b| b.pointer("/text/text").and_then(Value::as_str))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn a_reason_too_long_for_the_card_is_cut_there_and_kept_whole_in_the_thread() {
    // 900 `&` escape to 4,500 characters; 3,000 characters fill the form's longest reason.
    for reason in ["&".repeat(900), "r".repeat(3000)] {
        let db = TestDb::sqlite();
        let t = SlackTestApp::start(&db).await;
        t.reply(
            "UALICE",
            "/request-access",
            &format!("analytics-ro 1h {reason}"),
        )
        .await;
        let card = t.request_message(1).await;
        let reason_section = sections(&card)
            .into_iter()
            .find(|s| s.starts_with("*Reason*"))
            .unwrap();
        assert!(reason_section.chars().count() <= 3000);
        assert!(
            reason_section.ends_with("…\n_The whole reason is in the thread._"),
            "{}",
            &reason_section[reason_section.len() - 80..]
        );
        let whole = t.thread_reply(&card.ts, "The whole reason").await;
        let escaped = reason.replace('&', "&amp;");
        assert_eq!(sections(&whole)[1..].concat(), escaped, "{}", shown(&whole));
        t.stop().await;
        db.close().await;
    }
}
