//! views.* methods: views.open, views.push, views.update, views.publish, and trigger_id handling.

use super::{ApiErr, Args, R, err, json_arg, s};
use crate::Inner;
use crate::state::{State, ViewRec};
use serde_json::{Map, Value, json};
use std::time::Duration;

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
    if super::block_limits::view_broken(view).is_some() {
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

pub(super) fn views_open(inner: &Inner, st: &mut State, args: &Args, push: bool) -> R {
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

/// What was entered in a view that an update keeps: "Data entered or selected in input blocks
/// can be preserved while updating views. The new view object […] should contain the same input
/// blocks and elements with identical block_id and action_id values."
/// (https://api.slack.com/methods/views.update, "Preserving input entry"). The rest is dropped.
fn kept_entries(state: &Value, blocks: &Value) -> Value {
    let mut kept = serde_json::Map::new();
    let Some(values) = state["values"].as_object() else {
        return json!({ "values": {} });
    };
    for b in blocks.as_array().into_iter().flatten() {
        let (Some(block), Some(action)) =
            (b["block_id"].as_str(), b["element"]["action_id"].as_str())
        else {
            continue;
        };
        if let Some(entry) = values.get(block).and_then(|v| v.get(action)) {
            kept.insert(block.to_owned(), json!({ action: entry }));
        }
    }
    json!({ "values": kept })
}

pub(super) fn views_update(inner: &Inner, st: &mut State, args: &Args) -> R {
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
    for k in ["previous_view_id", "root_view_id"] {
        v[k] = old[k].clone();
    }
    v["state"] = kept_entries(&old["state"], &v["blocks"]);
    if let Some(r) = st.views.get_mut(&id) {
        r.view = v.clone();
    }
    Ok(json!({ "view": v }))
}

pub(super) fn views_publish(inner: &Inner, st: &mut State, args: &Args) -> R {
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
