//! App Home as a person meets it through slack-sim: opened and published anew for them, the
//! buttons it (or any view or message) offers, and where a click on a view or message lands.

use serde_json::Value;
use slack_sim::ButtonTarget;

use super::slack::{SlackTestApp, eventually};

/// Whether `blocks` (a view or a message's blocks) offer a button `action` whose value passes
/// `value_ok`: what a person could press, whatever block it sits in.
pub fn offers_button(blocks: &Value, action: &str, value_ok: &dyn Fn(&str) -> bool) -> bool {
    match blocks {
        Value::Object(o) => {
            (o.get("action_id").and_then(Value::as_str) == Some(action)
                && o.get("value").and_then(Value::as_str).is_some_and(value_ok))
                || o.values().any(|v| offers_button(v, action, value_ok))
        }
        Value::Array(a) => a.iter().any(|v| offers_button(v, action, value_ok)),
        _ => false,
    }
}

/// `who` opens App Home; returns it once published anew (not the view of an earlier opening)
/// and `ok`, which `what` names in a failure.
pub async fn fresh_home(
    t: &SlackTestApp,
    who: &str,
    what: &str,
    ok: impl Fn(&Value) -> bool,
) -> Value {
    let published = || {
        t.sim
            .api_calls_of("views.publish")
            .iter()
            .filter(|c| c.args["user_id"] == who)
            .count()
    };
    let before = published();
    t.sim.open_app_home(who).await.unwrap();
    eventually(&format!("{who}'s Home: {what}"), 30, || async {
        let fresh = published() > before;
        t.sim.home_view(who).filter(|h| fresh && ok(h))
    })
    .await
}

/// Where a click on `msg` lands: the message, in the channel or DM it was posted to.
pub fn on_message(msg: &slack_sim::Message) -> ButtonTarget {
    ButtonTarget::Message {
        channel: msg.channel.clone(),
        ts: msg.ts.clone(),
    }
}

/// Where a click in `view` (App Home or a modal, as slack-sim returns it) lands.
pub fn in_view(view: &Value) -> ButtonTarget {
    ButtonTarget::View {
        view_id: view["id"].as_str().unwrap().to_owned(),
    }
}

/// `who` presses the button `action`, carrying `value`, in `view`.
pub async fn press_in_view(t: &SlackTestApp, who: &str, view: &Value, action: &str, value: &str) {
    t.sim
        .click_button(who, in_view(view), action, Some(value), None)
        .await
        .unwrap();
}

/// The same for a button that asks first (Block Kit's `confirm`), confirmed in its dialog.
pub async fn press_in_view_confirmed(
    t: &SlackTestApp,
    who: &str,
    view: &Value,
    action: &str,
    value: &str,
) {
    t.sim
        .click_button_confirmed(who, in_view(view), action, Some(value), None)
        .await
        .unwrap();
}
