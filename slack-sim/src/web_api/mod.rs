//! The Web API under `/api/<method>`: argument parsing (query, JSON, form), token checks, 429 injection,
//! and each supported method. Answers are always HTTP 200 JSON except injected 429s.

mod block_limits;
mod chat;
mod history;
mod people;
mod views;

pub use people::user_json;
pub use views::full_view;

use chat::{permalink, post_ephemeral, post_message, reactions_add, reactions_get, update_message};
use history::{conversations_history, conversations_replies};
use people::conversations_open;
use views::{views_open, views_publish, views_update};

use crate::Inner;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State as AxState};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use std::sync::Arc;

type Args = Map<String, Value>;
/// A method's outcome: the fields to merge into `{"ok":true}`, or an error code (with optional extra fields).
type R = Result<Value, ApiErr>;

pub struct ApiErr {
    code: std::borrow::Cow<'static, str>,
    extra: Value,
}

fn err(code: &'static str) -> ApiErr {
    ApiErr {
        code: code.into(),
        extra: Value::Null,
    }
}

pub const METHODS: &[&str] = &[
    "auth.test",
    "apps.connections.open",
    "chat.postMessage",
    "chat.update",
    "chat.postEphemeral",
    "chat.getPermalink",
    "views.open",
    "views.update",
    "views.push",
    "views.publish",
    "conversations.open",
    "conversations.history",
    "conversations.replies",
    "users.info",
    "users.lookupByEmail",
    "usergroups.users.list",
    "reactions.add",
    "reactions.get",
];

/// The bot scope each method needs (None: no scope check).
fn needed_scope(method: &str) -> Option<&'static str> {
    Some(match method {
        "chat.postMessage" | "chat.update" | "chat.postEphemeral" => "chat:write",
        "conversations.open" => "im:write",
        "users.info" => "users:read",
        "users.lookupByEmail" => "users:read.email",
        "usergroups.users.list" => "usergroups:read",
        "reactions.add" => "reactions:write",
        "reactions.get" => "reactions:read",
        _ => return None,
    })
}

fn json_response(status: StatusCode, body: Value) -> Response {
    let mut r = (status, body.to_string()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

/// Collects arguments from the query string and the body (JSON object or form); form fields holding JSON
/// (`blocks`, `view`, …) are decoded so methods see one shape.
fn parse_args(headers: &HeaderMap, query: Option<&str>, body: &[u8]) -> Result<Args, ApiErr> {
    let mut args = Args::new();
    let mut add_pairs = |s: &str| -> Result<(), ApiErr> {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(s).map_err(|_| err("invalid_form_data"))?;
        for (k, v) in pairs {
            let val = match k.as_str() {
                "blocks" | "view" | "attachments" | "users" | "metadata"
                    if v.trim_start().starts_with(['[', '{']) =>
                {
                    serde_json::from_str(&v).unwrap_or(Value::String(v))
                }
                _ => Value::String(v),
            };
            args.insert(k, val);
        }
        Ok(())
    };
    if let Some(q) = query {
        add_pairs(q)?;
    }
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let body_str = std::str::from_utf8(body).map_err(|_| err("invalid_form_data"))?;
    if body_str.trim().is_empty() {
        return Ok(args);
    }
    if ct.starts_with("application/json") {
        match serde_json::from_str::<Value>(body_str) {
            Ok(Value::Object(m)) => args.extend(m),
            _ => return Err(err("invalid_json")),
        }
    } else {
        add_pairs(body_str)?;
    }
    Ok(args)
}

fn s<'a>(args: &'a Args, k: &str) -> Option<&'a str> {
    args.get(k)
        .and_then(Value::as_str)
        .filter(|v| !v.is_empty())
}

/// A string argument, also accepting numbers (timestamps sometimes arrive as JSON numbers).
fn s_owned(args: &Args, k: &str) -> Option<String> {
    match args.get(k)? {
        Value::String(v) if !v.is_empty() => Some(v.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `blocks`/`view` may be an object/array or a JSON string.
fn json_arg(args: &Args, k: &str) -> Result<Option<Value>, ApiErr> {
    match args.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(t)) if t.is_empty() => Ok(None),
        Some(Value::String(t)) => serde_json::from_str(t)
            .map(Some)
            .map_err(|_| err("invalid_arguments")),
        Some(v) => Ok(Some(v.clone())),
    }
}

fn blocks_arg(args: &Args) -> Result<Option<Value>, ApiErr> {
    match json_arg(args, "blocks").map_err(|_| err("invalid_blocks"))? {
        None => Ok(None),
        Some(Value::Array(a)) if a.is_empty() => Ok(None),
        Some(Value::Array(a)) => match block_limits::broken(&a, 50) {
            // Slack says which limit in response_metadata; the code is what callers see.
            Some(_) => Err(err("invalid_blocks")),
            None => Ok(Some(Value::Array(a))),
        },
        Some(_) => Err(err("invalid_blocks")),
    }
}

pub async fn handle(
    AxState(inner): AxState<Arc<Inner>>,
    Path(method): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let received = std::time::Instant::now();
    let parsed = parse_args(&headers, query.as_deref(), &body);
    let args = match &parsed {
        Ok(a) => a.clone(),
        Err(_) => Args::new(),
    };
    let logged_args = Value::Object(args.clone());

    // Injected rate limit: answered before anything else, as Slack's edge does.
    let limited = inner.with(|st| match st.rate_limits.get_mut(&method) {
        Some((n, secs)) if *n > 0 => {
            *n -= 1;
            Some(*secs)
        }
        _ => None,
    });
    if let Some(secs) = limited {
        inner.with(|st| {
            st.api_calls.push(crate::state::ApiCall {
                method: method.clone(),
                args: logged_args.clone(),
                ok: false,
                error: Some("ratelimited".into()),
                status: 429,
            })
        });
        let mut r = json_response(
            StatusCode::TOO_MANY_REQUESTS,
            json!({"ok": false, "error": "ratelimited"}),
        );
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return r;
    }

    let slow = inner.with(|st| st.slow_methods.get(&method).copied());
    if let Some(delay) = slow {
        tokio::time::sleep(delay).await;
    }
    let result = match parsed {
        Err(e) => Err(e),
        Ok(args) => dispatch(&inner, &method, &headers, &args),
    };
    if let Ok(v) = &result {
        announce_post(&inner, &method, v, received);
    }
    let (body, ok, error) = match result {
        Ok(v) => {
            let mut out = json!({"ok": true});
            if let (Some(o), Value::Object(m)) = (out.as_object_mut(), v) {
                o.extend(m);
            }
            (out, true, None)
        }
        Err(e) => {
            let mut out = json!({"ok": false, "error": e.code});
            if let (Some(o), Value::Object(m)) = (out.as_object_mut(), e.extra) {
                o.extend(m);
            }
            (out, false, Some(e.code.to_string()))
        }
    };
    tracing::debug!(%method, ok, ?error, "web api call");
    inner.with(|st| {
        st.api_calls.push(crate::state::ApiCall {
            method: method.clone(),
            args: logged_args,
            ok,
            error,
            status: 200,
        })
    });
    json_response(StatusCode::OK, body)
}

/// Tells subscribers about a message posted or updated (both answers carry `channel`, `ts` and
/// `message`).
fn announce_post(inner: &Inner, method: &str, answer: &Value, at: std::time::Instant) {
    let method = match method {
        "chat.postMessage" => "chat.postMessage",
        "chat.update" => "chat.update",
        _ => return,
    };
    if inner.posts.receiver_count() == 0 {
        return;
    }
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let _ = inner.posts.send(crate::state::Posted {
        at,
        method,
        channel: text(&answer["channel"]),
        ts: text(&answer["ts"]),
        thread_ts: answer["message"]["thread_ts"].as_str().map(String::from),
        text: text(&answer["message"]["text"]),
    });
}

enum Token {
    Bot,
    App,
}

fn auth(inner: &Inner, method: &str, headers: &HeaderMap, args: &Args) -> Result<Token, ApiErr> {
    let header_token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty());
    // Slack refuses the app token as a parameter; other methods also accept `token=`.
    let token = match header_token {
        Some(t) => t.to_string(),
        None if method != "apps.connections.open" => s(args, "token")
            .map(String::from)
            .ok_or(err("not_authed"))?,
        None => return Err(err("not_authed")),
    };
    let tok = if token == inner.cfg.bot_token {
        Token::Bot
    } else if token == inner.cfg.app_token {
        Token::App
    } else {
        return Err(err("invalid_auth"));
    };
    match (method, &tok) {
        ("apps.connections.open", Token::Bot) => Err(err("not_allowed_token_type")),
        ("apps.connections.open", Token::App) => Ok(tok),
        (_, Token::App) => Err(err("not_allowed_token_type")),
        _ => Ok(tok),
    }
}

fn dispatch(inner: &Inner, method: &str, headers: &HeaderMap, args: &Args) -> R {
    if !METHODS.contains(&method) {
        return Err(err("unknown_method"));
    }
    auth(inner, method, headers, args)?;
    if let Some(scope) = needed_scope(method)
        && !inner.cfg.bot_scopes.iter().any(|x| x == scope)
    {
        return Err(ApiErr {
            code: "missing_scope".into(),
            extra: json!({"needed": scope, "provided": inner.cfg.bot_scopes.join(",")}),
        });
    }
    let cfg = &inner.cfg;
    match method {
        "auth.test" => Ok(json!({
            "url": format!("https://{}.sim.slack/", cfg.team_domain),
            "team": cfg.team_domain, "user": bot_name(inner), "team_id": cfg.team_id,
            "user_id": cfg.bot_user_id, "bot_id": cfg.bot_id, "is_enterprise_install": false,
        })),
        "apps.connections.open" => inner.with(|st| {
            let n = st.next_id();
            let ticket = format!("{n}");
            st.tickets.insert(ticket.clone(), false);
            st.connections_opened += 1;
            Ok(json!({"url": format!("ws://{}/link/?ticket={ticket}&app_id={}", inner.addr, cfg.app_id)}))
        }),
        "chat.postMessage" => inner.with(|st| post_message(inner, st, args)),
        "chat.update" => inner.with(|st| update_message(inner, st, args)),
        "chat.postEphemeral" => inner.with(|st| post_ephemeral(inner, st, args)),
        "chat.getPermalink" => inner.with(|st| permalink(inner, st, args)),
        "reactions.get" => inner.with(|st| reactions_get(inner, st, args)),
        "views.open" => inner.with(|st| views_open(inner, st, args, false)),
        "views.push" => inner.with(|st| views_open(inner, st, args, true)),
        "views.update" => inner.with(|st| views_update(inner, st, args)),
        "views.publish" => inner.with(|st| views_publish(inner, st, args)),
        "conversations.open" => inner.with(|st| conversations_open(inner, st, args)),
        "conversations.history" => inner.with(|st| conversations_history(inner, st, args)),
        "conversations.replies" => inner.with(|st| conversations_replies(inner, st, args)),
        "users.info" => {
            let u = s(args, "user").ok_or(err("user_not_found"))?;
            let mut user = user_json(inner, u).ok_or(err("user_not_found"))?;
            // Slack leaves the email out unless the token has users:read.email.
            if !inner.cfg.bot_scopes.iter().any(|x| x == "users:read.email")
                && let Some(profile) = user["profile"].as_object_mut()
            {
                profile.remove("email");
            }
            Ok(json!({ "user": user }))
        }
        "users.lookupByEmail" => {
            let e = s(args, "email").ok_or(err("users_not_found"))?;
            let u = cfg
                .users
                .iter()
                .find(|u| u.email.as_deref().is_some_and(|x| x.eq_ignore_ascii_case(e)))
                .ok_or(err("users_not_found"))?;
            Ok(json!({ "user": user_json(inner, &u.id) }))
        }
        "usergroups.users.list" => {
            let g = s(args, "usergroup").ok_or(err("no_such_subteam"))?;
            let users = inner
                .with(|st| st.usergroups.get(g).cloned())
                .ok_or(err("no_such_subteam"))?;
            Ok(json!({ "users": users }))
        }
        "reactions.add" => inner.with(|st| reactions_add(inner, st, args)),
        _ => Err(err("unknown_method")),
    }
}

fn bot_name(inner: &Inner) -> String {
    inner
        .cfg
        .users
        .iter()
        .find(|u| u.id == inner.cfg.bot_user_id)
        .map(|u| u.name.clone())
        .unwrap_or_else(|| "bot".into())
}
