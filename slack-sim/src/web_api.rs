//! The Web API under `/api/<method>`: argument parsing (query, JSON, form), token checks, 429 injection,
//! and each supported method. Answers are always HTTP 200 JSON except injected 429s.

use crate::Inner;
use crate::state::{Ephemeral, Message, State, ViewRec};
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State as AxState};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::time::Duration;

type Args = Map<String, Value>;
/// A method's outcome: the fields to merge into `{"ok":true}`, or an error code (with optional extra fields).
type R = Result<Value, ApiErr>;

pub struct ApiErr {
    code: &'static str,
    extra: Value,
}

fn err(code: &'static str) -> ApiErr {
    ApiErr {
        code,
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
    "users.info",
    "users.lookupByEmail",
    "usergroups.users.list",
    "reactions.add",
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
                "blocks" | "view" | "attachments" | "users"
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
        Some(v @ Value::Array(_)) => Ok(Some(v)),
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

    let result = match parsed {
        Err(e) => Err(e),
        Ok(args) => dispatch(&inner, &method, &headers, &args),
    };
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
            code: "missing_scope",
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
        "views.open" => inner.with(|st| views_open(inner, st, args, false)),
        "views.push" => inner.with(|st| views_open(inner, st, args, true)),
        "views.update" => inner.with(|st| views_update(inner, st, args)),
        "views.publish" => inner.with(|st| views_publish(inner, st, args)),
        "conversations.open" => inner.with(|st| conversations_open(inner, st, args)),
        "users.info" => {
            let u = s(args, "user").ok_or(err("user_not_found"))?;
            let user = user_json(inner, u).ok_or(err("user_not_found"))?;
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
            let g = cfg
                .usergroups
                .iter()
                .find(|x| x.id == g)
                .ok_or(err("no_such_subteam"))?;
            Ok(json!({ "users": g.users }))
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

/// The users.info shape for a seeded user.
pub fn user_json(inner: &Inner, id: &str) -> Option<Value> {
    let u = inner.cfg.users.iter().find(|u| u.id == id)?;
    Some(json!({
        "id": u.id, "team_id": inner.cfg.team_id, "name": u.name, "real_name": u.real_name,
        "deleted": u.deleted, "is_bot": u.is_bot, "is_restricted": u.is_restricted,
        "is_ultra_restricted": false, "is_admin": false, "is_owner": false, "is_app_user": false,
        "tz": u.tz, "tz_label": u.tz, "tz_offset": u.tz_offset,
        "profile": {"email": u.email, "real_name": u.real_name, "display_name": u.name,
                    "real_name_normalized": u.real_name, "display_name_normalized": u.name},
    }))
}

/// Resolves `channel` as Slack does for chat.*: an id, a `#name`, or a user id (their DM with the bot).
fn resolve_channel(inner: &Inner, st: &mut State, channel: &str) -> Result<String, ApiErr> {
    if st.channels.contains_key(channel) {
        return Ok(channel.to_string());
    }
    if inner.cfg.users.iter().any(|u| u.id == channel && !u.is_bot) {
        return Ok(st.im_for(&inner.cfg, channel));
    }
    let name = channel.trim_start_matches('#');
    st.channels
        .values()
        .find(|c| !c.is_im && c.name == name)
        .map(|c| c.id.clone())
        .ok_or(err("channel_not_found"))
}

/// The bot may write where it is a member, or in public channels with chat:write.public.
fn check_can_post(inner: &Inner, st: &State, channel: &str) -> Result<(), ApiErr> {
    let c = st.channels.get(channel).ok_or(err("channel_not_found"))?;
    let bot = &inner.cfg.bot_user_id;
    if c.members.contains(bot) {
        return Ok(());
    }
    if c.is_private {
        // Private conversations the bot is not in are invisible to it.
        return Err(err("channel_not_found"));
    }
    if inner
        .cfg
        .bot_scopes
        .iter()
        .any(|x| x == "chat:write.public")
    {
        return Ok(());
    }
    Err(err("not_in_channel"))
}

fn post_message(inner: &Inner, st: &mut State, args: &Args) -> R {
    let ch = s(args, "channel").ok_or(err("channel_not_found"))?;
    let ch = resolve_channel(inner, st, ch)?;
    check_can_post(inner, st, &ch)?;
    let text = s(args, "text").unwrap_or("").to_string();
    let blocks = blocks_arg(args)?;
    let has_attachments =
        json_arg(args, "attachments")?.is_some_and(|a| a.as_array().is_some_and(|a| !a.is_empty()));
    if text.is_empty() && blocks.is_none() && !has_attachments {
        return Err(err("no_text"));
    }
    if text.chars().count() > 40_000 {
        return Err(err("msg_too_long"));
    }
    // A reply to a reply joins the parent's thread.
    let thread_ts = s_owned(args, "thread_ts").map(|t| {
        st.find_message(&ch, &t)
            .and_then(|m| m.thread_ts.clone())
            .unwrap_or(t)
    });
    let ts = st.next_ts();
    let m = Message {
        channel: ch.clone(),
        ts: ts.clone(),
        user: inner.cfg.bot_user_id.clone(),
        text,
        blocks,
        thread_ts: thread_ts.clone(),
        reactions: vec![],
        edited: false,
        replies: vec![],
    };
    let msg = m.to_slack_json(&inner.cfg);
    // The parent becomes a thread root.
    if let Some(t) = &thread_ts
        && let Some(p) = st.find_message_mut(&ch, t)
        && p.thread_ts.is_none()
    {
        p.thread_ts = Some(t.clone());
    }
    st.messages.push(m);
    Ok(json!({"channel": ch, "ts": ts, "message": msg}))
}

fn update_message(inner: &Inner, st: &mut State, args: &Args) -> R {
    let ch = s(args, "channel").ok_or(err("channel_not_found"))?;
    let ch = resolve_channel(inner, st, ch)?;
    let ts = s_owned(args, "ts").ok_or(err("message_not_found"))?;
    let text = s(args, "text").map(String::from);
    let blocks = blocks_arg(args)?;
    let bot = inner.cfg.bot_user_id.clone();
    let m = st
        .find_message_mut(&ch, &ts)
        .ok_or(err("message_not_found"))?;
    if m.user != bot {
        return Err(err("cant_update_message"));
    }
    if text.is_none() && blocks.is_none() {
        return Err(err("no_text"));
    }
    if let Some(t) = text {
        m.text = t;
    }
    if blocks.is_some() {
        m.blocks = blocks;
    }
    m.edited = true;
    let msg = m.to_slack_json(&inner.cfg);
    let text = m.text.clone();
    Ok(json!({"channel": ch, "ts": ts, "text": text, "message": msg}))
}

fn post_ephemeral(inner: &Inner, st: &mut State, args: &Args) -> R {
    let ch = s(args, "channel").ok_or(err("channel_not_found"))?;
    let ch = resolve_channel(inner, st, ch)?;
    check_can_post(inner, st, &ch)?;
    let user = s(args, "user").ok_or(err("user_not_found"))?;
    if !inner.cfg.users.iter().any(|u| u.id == user) {
        return Err(err("user_not_found"));
    }
    let is_member = st
        .channels
        .get(&ch)
        .is_some_and(|c| c.members.iter().any(|m| m == user));
    if !is_member {
        return Err(err("user_not_in_channel"));
    }
    let text = s(args, "text").unwrap_or("").to_string();
    let blocks = blocks_arg(args)?;
    if text.is_empty() && blocks.is_none() {
        return Err(err("no_text"));
    }
    let ts = st.next_ts();
    st.ephemerals.push(Ephemeral {
        channel: ch,
        user: user.into(),
        ts: ts.clone(),
        text,
        blocks,
        source: "chat.postEphemeral".into(),
    });
    Ok(json!({ "message_ts": ts }))
}

fn permalink(inner: &Inner, st: &mut State, args: &Args) -> R {
    let ch = s(args, "channel").ok_or(err("channel_not_found"))?;
    let ch = resolve_channel(inner, st, ch)?;
    let ts = s_owned(args, "message_ts").ok_or(err("message_not_found"))?;
    let m = st.find_message(&ch, &ts).ok_or(err("message_not_found"))?;
    let mut link = format!(
        "https://{}.sim.slack/archives/{ch}/p{}",
        inner.cfg.team_domain,
        ts.replace('.', "")
    );
    if let Some(t) = m.thread_ts.as_ref().filter(|t| **t != ts) {
        link.push_str(&format!("?thread_ts={t}&cid={ch}"));
    }
    Ok(json!({"channel": ch, "permalink": link}))
}

/// Checks and consumes a trigger_id; returns the user it was issued to.
fn use_trigger(inner: &Inner, st: &mut State, args: &Args) -> Result<String, ApiErr> {
    let id = s(args, "trigger_id").ok_or(err("invalid_trigger_id"))?;
    let t = st.triggers.get_mut(id).ok_or(err("invalid_trigger_id"))?;
    if t.used {
        return Err(err("exchanged_trigger_id"));
    }
    if t.issued.elapsed() > Duration::from_millis(inner.cfg.trigger_ttl_ms) {
        return Err(err("expired_trigger_id"));
    }
    t.used = true;
    Ok(t.user.clone())
}

fn view_arg(args: &Args) -> Result<Map<String, Value>, ApiErr> {
    match json_arg(args, "view")? {
        Some(Value::Object(m)) => Ok(m),
        _ => Err(err("invalid_arguments")),
    }
}

/// Builds the full view object Slack returns from what the app sent.
pub fn full_view(inner: &Inner, st: &mut State, id: &str, sent: &Map<String, Value>) -> Value {
    let cfg = &inner.cfg;
    let mut v = json!({
        "id": id, "team_id": cfg.team_id, "type": "modal", "blocks": [], "private_metadata": "",
        "callback_id": "", "state": {"values": {}}, "hash": st.new_view_hash(),
        "clear_on_close": false, "notify_on_close": false, "close": null, "submit": null,
        "previous_view_id": null, "root_view_id": id, "app_id": cfg.app_id, "external_id": "",
        "app_installed_team_id": cfg.team_id, "bot_id": cfg.bot_id,
    });
    if let Some(o) = v.as_object_mut() {
        for (k, val) in sent {
            if !matches!(k.as_str(), "id" | "hash" | "state" | "team_id" | "app_id") {
                o.insert(k.clone(), val.clone());
            }
        }
    }
    v
}

fn check_view(view: &Map<String, Value>, want: &str) -> Result<(), ApiErr> {
    if view.get("type").and_then(Value::as_str) != Some(want) {
        return Err(err("invalid_arguments"));
    }
    if !view.get("blocks").is_some_and(Value::is_array) {
        return Err(err("invalid_arguments"));
    }
    if want == "modal" && view.get("title").is_none() {
        return Err(err("invalid_arguments"));
    }
    Ok(())
}

fn external_id_taken(st: &State, ext: Option<&str>) -> bool {
    ext.filter(|e| !e.is_empty()).is_some_and(|e| {
        st.views
            .values()
            .any(|r| r.open && r.view.get("external_id").and_then(Value::as_str) == Some(e))
    })
}

fn views_open(inner: &Inner, st: &mut State, args: &Args, push: bool) -> R {
    let sent = view_arg(args)?;
    check_view(&sent, "modal")?;
    if external_id_taken(st, sent.get("external_id").and_then(Value::as_str)) {
        return Err(err("duplicate_external_id"));
    }
    let depth = st
        .modal_stacks
        .get(&trigger_user(st, args))
        .map_or(0, Vec::len);
    if push && depth >= 3 {
        return Err(err("push_limit_reached"));
    }
    let user = use_trigger(inner, st, args)?;
    let n = st.next_id();
    let id = format!("V0SIM{n:06}");
    let mut v = full_view(inner, st, &id, &sent);
    if push {
        if let Some(stack) = st.modal_stacks.get(&user).filter(|s| !s.is_empty()) {
            v["previous_view_id"] = json!(stack.last());
            v["root_view_id"] = json!(stack.first());
        }
    } else {
        // A new views.open replaces whatever the person had open.
        st.clear_modals(&user);
    }
    st.views.insert(
        id.clone(),
        ViewRec {
            view: v.clone(),
            user: user.clone(),
            open: true,
        },
    );
    st.modal_stacks.entry(user).or_default().push(id);
    Ok(json!({ "view": v }))
}

fn trigger_user(st: &State, args: &Args) -> String {
    s(args, "trigger_id")
        .and_then(|t| st.triggers.get(t))
        .map(|t| t.user.clone())
        .unwrap_or_default()
}

fn views_update(inner: &Inner, st: &mut State, args: &Args) -> R {
    let sent = view_arg(args)?;
    let id = if let Some(id) = s(args, "view_id") {
        id.to_string()
    } else if let Some(ext) = s(args, "external_id") {
        st.views
            .iter()
            .find(|(_, r)| r.open && r.view.get("external_id").and_then(Value::as_str) == Some(ext))
            .map(|(k, _)| k.clone())
            .ok_or(err("not_found"))?
    } else {
        return Err(err("invalid_arguments"));
    };
    let rec = st
        .views
        .get(&id)
        .filter(|r| r.open)
        .ok_or(err("not_found"))?;
    let kind = rec
        .view
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("modal")
        .to_string();
    check_view(&sent, &kind)?;
    if let Some(h) = s(args, "hash")
        && rec.view.get("hash").and_then(Value::as_str) != Some(h)
    {
        return Err(err("hash_conflict"));
    }
    let old = rec.view.clone();
    let mut v = full_view(inner, st, &id, &sent);
    for k in ["previous_view_id", "root_view_id", "state"] {
        v[k] = old[k].clone();
    }
    if let Some(r) = st.views.get_mut(&id) {
        r.view = v.clone();
    }
    Ok(json!({ "view": v }))
}

fn views_publish(inner: &Inner, st: &mut State, args: &Args) -> R {
    let user = s(args, "user_id").ok_or(err("user_not_found"))?;
    if !inner.cfg.users.iter().any(|u| u.id == user && !u.is_bot) {
        return Err(err("user_not_found"));
    }
    let sent = view_arg(args)?;
    check_view(&sent, "home")?;
    let existing = st.homes.get(user).cloned();
    if let (Some(h), Some(id)) = (s(args, "hash"), &existing) {
        let cur = st.views.get(id).and_then(|r| r.view.get("hash").cloned());
        if cur.as_ref().and_then(Value::as_str) != Some(h) {
            return Err(err("hash_conflict"));
        }
    }
    let id = match existing {
        Some(id) => id,
        None => {
            let n = st.next_id();
            format!("V0HOME{n:06}")
        }
    };
    let v = full_view(inner, st, &id, &sent);
    st.views.insert(
        id.clone(),
        ViewRec {
            view: v.clone(),
            user: user.into(),
            open: true,
        },
    );
    st.homes.insert(user.into(), id);
    Ok(json!({ "view": v }))
}

fn conversations_open(inner: &Inner, st: &mut State, args: &Args) -> R {
    if let Some(c) = s(args, "channel") {
        let c = st.channels.get(c).ok_or(err("channel_not_found"))?;
        return Ok(json!({"channel": {"id": c.id}, "no_op": true, "already_open": true}));
    }
    let users: Vec<String> = match args.get("users") {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(String::from)
            .collect(),
        Some(Value::String(t)) => t
            .split(',')
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(String::from)
            .collect(),
        _ => vec![],
    };
    if users.is_empty() {
        return Err(err("users_list_not_supplied"));
    }
    for u in &users {
        let seed = inner
            .cfg
            .users
            .iter()
            .find(|x| &x.id == u)
            .ok_or(err("user_not_found"))?;
        if seed.deleted {
            return Err(err("user_disabled"));
        }
    }
    if users.len() > 1 {
        // Group DMs are not used by Gatehouse; refuse loudly rather than fake them.
        return Err(err("not_supported"));
    }
    let already = st.ims.contains_key(&users[0]);
    let id = st.im_for(&inner.cfg, &users[0]);
    Ok(
        json!({"channel": {"id": id, "is_im": true, "user": users[0]}, "no_op": already, "already_open": already}),
    )
}

fn reactions_add(inner: &Inner, st: &mut State, args: &Args) -> R {
    let ch = s(args, "channel").ok_or(err("no_item_specified"))?;
    let ts = s_owned(args, "timestamp").ok_or(err("no_item_specified"))?;
    let name = s(args, "name")
        .map(|n| n.trim_matches(':').to_string())
        .filter(|n| !n.is_empty() && !n.contains(' '))
        .ok_or(err("invalid_name"))?;
    let ch = resolve_channel(inner, st, ch)?;
    let bot = inner.cfg.bot_user_id.clone();
    let m = st
        .find_message_mut(&ch, &ts)
        .ok_or(err("message_not_found"))?;
    match m.reactions.iter_mut().find(|r| r.name == name) {
        Some(r) if r.users.contains(&bot) => return Err(err("already_reacted")),
        Some(r) => r.users.push(bot),
        None => m.reactions.push(crate::state::Reaction {
            name,
            users: vec![bot],
        }),
    }
    Ok(json!({}))
}
