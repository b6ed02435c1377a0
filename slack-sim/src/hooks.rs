//! Response URLs, as Slack serves them (docs.slack.dev/interactivity/handling-user-interaction
//! #message_responses): each slash command and click carries one; a JSON POST to it answers the
//! person who acted, wherever they acted (a DM between two people, a private channel the app is
//! not in), at most five times. `response_type: in_channel` posts for everyone to see,
//! `replace_original` / `delete_original` change the message a click came from, and anything
//! else is an ephemeral message to the person alone. Slack answers `ok` as plain text, or 404
//! once the URL is used up or unknown.

use std::sync::Arc;

use axum::extract::{Path, State as AxState};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::Inner;
use crate::state::{Ephemeral, Message, ResponseUrl, State};

/// Slack's limit on the uses of one response URL.
const MAX_USES: u8 = 5;

/// Hands out a response URL answering `user` in `channel` (`message_ts`: the message a click
/// came from).
pub(crate) fn issue(
    inner: &Inner,
    st: &mut State,
    user: &str,
    channel: &str,
    message_ts: Option<&str>,
) -> String {
    let token = format!(
        "{:016x}",
        st.next_ts().replace('.', "").parse::<u64>().unwrap_or(0)
    );
    st.response_urls.insert(
        token.clone(),
        ResponseUrl {
            user: user.into(),
            channel: channel.into(),
            message_ts: message_ts.map(String::from),
            uses: 0,
        },
    );
    format!("http://{}/hooks/{}/{token}", inner.addr, inner.cfg.team_id)
}

pub(crate) async fn respond(
    AxState(inner): AxState<Arc<Inner>>,
    Path((_team, token)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Response {
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "invalid_payload").into_response();
    };
    let bot = inner.cfg.bot_user_id.clone();
    let answered = inner.with(|st| {
        let r = st
            .response_urls
            .get_mut(&token)
            .filter(|r| r.uses < MAX_USES)?;
        r.uses += 1;
        let r = r.clone();
        let text = body["text"].as_str().unwrap_or("").to_owned();
        let blocks = body.get("blocks").filter(|b| b.is_array()).cloned();
        let flag = |k: &str| body[k].as_bool() == Some(true);
        if let (true, Some(ts)) = (flag("delete_original"), &r.message_ts) {
            st.messages
                .retain(|m| !(m.channel == r.channel && &m.ts == ts));
        } else if let (true, Some(ts)) = (flag("replace_original"), &r.message_ts) {
            if let Some(m) = st
                .messages
                .iter_mut()
                .find(|m| m.channel == r.channel && &m.ts == ts)
            {
                m.text = text;
                m.blocks = blocks;
                m.edited = true;
            }
        } else if body["response_type"].as_str() == Some("in_channel") {
            let ts = st.next_ts();
            st.messages
                .push(Message::new(&r.channel, &ts, &bot, &text, blocks));
        } else {
            let ts = st.next_ts();
            st.ephemerals.push(Ephemeral {
                channel: r.channel.clone(),
                user: r.user.clone(),
                ts,
                text,
                blocks,
                source: "response_url".into(),
            });
        }
        Some(())
    });
    match answered {
        Some(()) => (StatusCode::OK, "ok").into_response(),
        None => (StatusCode::NOT_FOUND, "expired_url").into_response(),
    }
}
