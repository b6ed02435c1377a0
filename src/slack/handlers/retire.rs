//! Buttons that no longer apply leave the message they were on: a decided ask or task in a
//! thread, a DM's Cancel it or Relinquish once used, any of them once refused as stale. The
//! message keeps its words and says what became of it.

use serde_json::{Value, json};

use crate::slack::context::SlackContext;

/// The line a message keeps after `action_id` did what it says; None for a button that
/// stays (it opens a form, or the message is redrawn whole).
pub fn outcome(action_id: &str) -> Option<&'static str> {
    match action_id {
        // A reviewer's DM (a card is redrawn whole and keeps its buttons until decided).
        "approve" => Some("✅ Approved"),
        "extend_approve" => Some("✅ More time approved"),
        "extend_deny" => Some("🚫 More time denied"),
        "by_hand_done" => Some("✅ Marked done"),
        "by_hand_failed" => Some("⚠️ Marked failed"),
        "cancel" => Some("🚫 Cancelled"),
        "relinquish" => Some("🔒 Relinquished"),
        _ => None,
    }
}

/// Takes the clicked button's row off the message it was on and says why (`note`, mrkdwn), so
/// that nobody presses a button that no longer applies. The rest of the message stays.
pub async fn retire(ctx: &SlackContext, payload: &Value, note: &str) {
    let (Some(channel), Some(ts)) = (
        payload
            .pointer("/container/channel_id")
            .and_then(Value::as_str),
        payload
            .pointer("/container/message_ts")
            .and_then(Value::as_str),
    ) else {
        return;
    };
    // Only thread replies (tasks, asks) and DMs: a request's card is redrawn whole at each
    // step, and a copy of it taken from this click could overwrite a newer one.
    let thread = payload
        .pointer("/message/thread_ts")
        .and_then(Value::as_str);
    let dm = channel.starts_with('D');
    if !dm && thread.is_none_or(|t| t == ts) {
        return;
    }
    let Some(blocks) = payload.pointer("/message/blocks").and_then(Value::as_array) else {
        return;
    };
    let clicked = payload
        .pointer("/actions/0/block_id")
        .and_then(Value::as_str);
    let mut kept: Vec<Value> = blocks
        .iter()
        .filter(|b| b.get("block_id").and_then(Value::as_str) != clicked)
        .cloned()
        .collect();
    kept.push(json!({
        "type": "context",
        "elements": [{ "type": "mrkdwn", "text": note }]
    }));
    let text = payload
        .pointer("/message/text")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let msg = crate::slack::api::Message {
        text,
        blocks: Value::Array(kept),
    };
    if let Err(e) = ctx.api.update_message(channel, ts, &msg).await {
        tracing::warn!(error = %e, "cannot take a stale button off its message");
    }
}
