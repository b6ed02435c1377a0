//! Interactive payloads: modal submissions (and their response_action), button clicks, option searches.

use super::{AckOutcome, ButtonTarget, ControlError, SubmitOutcome};
use crate::state::State;
use crate::{Inner, Sim};
use serde_json::{Value, json};

/// Finds an interactive element by action_id in a list of blocks; returns (block_id, element).
fn find_element(blocks: &Value, action_id: &str) -> Option<(String, Value)> {
    for b in blocks.as_array()? {
        let bid = b
            .get("block_id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let mut els: Vec<&Value> = b
            .get("elements")
            .and_then(Value::as_array)
            .map(|a| a.iter().collect())
            .unwrap_or_default();
        els.extend(b.get("accessory"));
        els.extend(b.get("element"));
        if let Some(e) = els
            .into_iter()
            .find(|e| e.get("action_id").and_then(Value::as_str) == Some(action_id))
        {
            return Some((bid, e.clone()));
        }
    }
    None
}

fn input_block_ids(view: &Value) -> Vec<String> {
    view.get("blocks")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter(|b| b.get("type").and_then(Value::as_str) == Some("input"))
                .filter_map(|b| b.get("block_id").and_then(Value::as_str).map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

impl Sim {
    /// Submits the user's top modal with `values` (block_id → action_id → value object) and applies
    /// the ack's `response_action`.
    pub async fn submit_view(
        &self,
        user_id: &str,
        view_id: &str,
        values: Value,
    ) -> Result<SubmitOutcome, ControlError> {
        let inner = &self.inner;
        let user = inner.user_obj(user_id)?;
        let (view, trigger) = inner.with(|st| {
            let top = st.modal_stacks.get(user_id).and_then(|s| s.last()).cloned();
            if top.as_deref() != Some(view_id) {
                return Err(ControlError::ViewNotOpen(view_id.into()));
            }
            let rec = st
                .views
                .get_mut(view_id)
                .ok_or_else(|| ControlError::ViewNotOpen(view_id.into()))?;
            rec.view["state"] = json!({ "values": values });
            let v = rec.view.clone();
            Ok((v, st.issue_trigger(user_id)))
        })?;
        let payload = json!({
            "type": "view_submission", "team": inner.team_obj(), "user": user,
            "api_app_id": inner.cfg.app_id, "token": "sim-verification-token", "trigger_id": trigger,
            "view": view, "response_urls": [], "is_enterprise_install": false, "enterprise": null,
        });
        let ack = inner
            .interact("interactive", payload, true, user_id, Some(trigger))
            .await;
        let mut out = SubmitOutcome {
            ack,
            ..Default::default()
        };
        if out.ack.acked {
            let p = out.ack.payload.clone().unwrap_or(Value::Null);
            let action = p.get("response_action").and_then(Value::as_str);
            inner.with(|st| {
                apply_response_action(inner, st, user_id, view_id, action, &p, &mut out)
            });
        }
        out.stack = inner.read(|st| st.modal_stacks.get(user_id).cloned().unwrap_or_default());
        Ok(out)
    }

    /// Clicks a button (or any block element with `action_id`) in a message or a view. One
    /// that asks first (`confirm`) shows its dialog and sends nothing.
    pub async fn click_button(
        &self,
        user_id: &str,
        target: ButtonTarget,
        action_id: &str,
        value: Option<&str>,
        block_id: Option<&str>,
    ) -> Result<AckOutcome, ControlError> {
        self.click(user_id, target, action_id, value, block_id, false)
            .await
    }

    /// Clicks a button that asks first, and confirms in its dialog.
    pub async fn click_button_confirmed(
        &self,
        user_id: &str,
        target: ButtonTarget,
        action_id: &str,
        value: Option<&str>,
        block_id: Option<&str>,
    ) -> Result<AckOutcome, ControlError> {
        self.click(user_id, target, action_id, value, block_id, true)
            .await
    }

    async fn click(
        &self,
        user_id: &str,
        target: ButtonTarget,
        action_id: &str,
        value: Option<&str>,
        block_id: Option<&str>,
        confirmed: bool,
    ) -> Result<AckOutcome, ControlError> {
        let inner = &self.inner;
        let user = inner.user_obj(user_id)?;
        let (container, extra, blocks) = inner.with(|st| match &target {
            ButtonTarget::Message { channel, ts } => {
                let m = st
                    .find_message(channel, ts)
                    .ok_or_else(|| ControlError::MessageNotFound(channel.clone(), ts.clone()))?;
                let name = st.channels.get(channel).map(|c| c.name.clone());
                let msg = m.to_slack_json(&inner.cfg);
                Ok((
                    json!({"type": "message", "message_ts": ts, "channel_id": channel, "is_ephemeral": false}),
                    json!({"channel": {"id": channel, "name": name}, "message": msg, "state": {"values": {}}}),
                    m.blocks.clone().unwrap_or(Value::Null),
                ))
            }
            ButtonTarget::Ephemeral { ts } => {
                let e = st
                    .ephemerals
                    .iter()
                    .find(|e| &e.ts == ts && e.user == user_id)
                    .ok_or_else(|| ControlError::MessageNotFound(user_id.into(), ts.clone()))?;
                let name = st.channels.get(&e.channel).map(|c| c.name.clone());
                // As Slack sends it: the container says ephemeral, and no `message` comes
                // with it (the app never had one to read back).
                Ok((
                    json!({"type": "message", "message_ts": ts, "channel_id": e.channel, "is_ephemeral": true}),
                    json!({"channel": {"id": e.channel, "name": name}, "state": {"values": {}}}),
                    e.blocks.clone().unwrap_or(Value::Null),
                ))
            }
            ButtonTarget::View { view_id } => {
                let r = st
                    .views
                    .get(view_id)
                    .filter(|r| r.open && r.user == user_id)
                    .ok_or_else(|| ControlError::ViewNotOpen(view_id.clone()))?;
                Ok((
                    json!({"type": "view", "view_id": view_id}),
                    json!({"view": r.view}),
                    r.view.get("blocks").cloned().unwrap_or(Value::Null),
                ))
            }
        })?;
        let (bid, el) = find_element(&blocks, action_id)
            .filter(|(b, _)| block_id.is_none_or(|x| x == b))
            .ok_or_else(|| ControlError::ActionNotFound(action_id.into()))?;
        match (el.get("confirm"), confirmed) {
            (Some(c), false) => {
                let said = |f: &str| c[f]["text"].as_str().unwrap_or_default().to_owned();
                return Err(ControlError::ConfirmationShown {
                    title: said("title"),
                    text: said("text"),
                });
            }
            (None, true) => return Err(ControlError::NoConfirmation(action_id.into())),
            _ => {}
        }
        let trigger = inner.with(|st| st.issue_trigger(user_id));
        let action_ts = inner.with(|st| st.next_ts());
        // Clicks in messages (ephemeral ones too) come with a response URL; in views, none.
        let response_url = match &target {
            ButtonTarget::Message { channel, ts } => {
                Some(inner.with(|st| crate::hooks::issue(inner, st, user_id, channel, Some(ts))))
            }
            ButtonTarget::Ephemeral { .. } => container["channel_id"]
                .as_str()
                .map(|c| inner.with(|st| crate::hooks::issue(inner, st, user_id, c, None))),
            ButtonTarget::View { .. } => None,
        };
        let mut action = json!({
            "action_id": action_id, "block_id": bid,
            "type": el.get("type").cloned().unwrap_or(json!("button")), "action_ts": action_ts,
        });
        if let Some(t) = el.get("text") {
            action["text"] = t.clone();
        }
        if let Some(v) = value
            .map(String::from)
            .or_else(|| el.get("value").and_then(Value::as_str).map(String::from))
        {
            action["value"] = json!(v);
        }
        let mut payload = json!({
            "type": "block_actions", "user": user, "api_app_id": inner.cfg.app_id,
            "token": "sim-verification-token", "container": container, "trigger_id": trigger,
            "team": inner.team_obj(), "enterprise": null, "is_enterprise_install": false,
            "response_url": response_url,
            "actions": [action],
        });
        if let (Some(p), Value::Object(e)) = (payload.as_object_mut(), extra) {
            p.extend(e);
        }
        Ok(inner
            .interact("interactive", payload, false, user_id, Some(trigger))
            .await)
    }

    /// Chooses `selected` (an option object: `{ "text": …, "value": … }`) in the select
    /// `action_id` of the open view `view_id`, as a person does before submitting. The choice
    /// goes into the view's state; Slack tells the app only when the select's input block sets
    /// `dispatch_action` (https://api.slack.com/reference/block-kit/blocks#input), with a
    /// `block_actions` payload carrying the view, its state and the `selected_option`
    /// (https://api.slack.com/reference/interaction-payloads/block-actions). None: not told.
    pub async fn choose(
        &self,
        user_id: &str,
        view_id: &str,
        action_id: &str,
        selected: Value,
    ) -> Result<Option<AckOutcome>, ControlError> {
        self.enter(
            user_id,
            view_id,
            action_id,
            json!({ "selected_option": selected }),
            true,
        )
        .await
    }

    /// Types `text` into the text input `action_id` of the open view `view_id`: it goes into the
    /// view's state, and the app is not told (a text input tells only with a
    /// `dispatch_action_config`, which this does not model).
    pub async fn type_text(
        &self,
        user_id: &str,
        view_id: &str,
        action_id: &str,
        text: &str,
    ) -> Result<(), ControlError> {
        self.enter(user_id, view_id, action_id, json!({ "value": text }), false)
            .await
            .map(drop)
    }

    async fn enter(
        &self,
        user_id: &str,
        view_id: &str,
        action_id: &str,
        entry: Value,
        may_dispatch: bool,
    ) -> Result<Option<AckOutcome>, ControlError> {
        let inner = &self.inner;
        let user = inner.user_obj(user_id)?;
        let (view, block, kind, dispatch) = inner.with(|st| {
            let r = st
                .views
                .get_mut(view_id)
                .filter(|r| r.open && r.user == user_id)
                .ok_or_else(|| ControlError::ViewNotOpen(view_id.into()))?;
            let blocks = r.view.get("blocks").cloned().unwrap_or(Value::Null);
            let (block, el) = find_element(&blocks, action_id)
                .ok_or_else(|| ControlError::ActionNotFound(action_id.into()))?;
            let kind = el.get("type").cloned().unwrap_or(Value::Null);
            let dispatch = may_dispatch
                && blocks.as_array().into_iter().flatten().any(|b| {
                    b["block_id"] == block.as_str()
                        && b["type"] == "input"
                        && b["dispatch_action"] == true
                });
            let mut state = entry.clone();
            state["type"] = kind.clone();
            r.view["state"]["values"][&block][action_id] = state;
            Ok::<_, ControlError>((r.view.clone(), block, kind, dispatch))
        })?;
        if !dispatch {
            return Ok(None);
        }
        let (trigger, action_ts) = inner.with(|st| (st.issue_trigger(user_id), st.next_ts()));
        let mut action = json!({ "type": kind, "action_id": action_id, "block_id": block,
                                 "action_ts": action_ts });
        if let (Some(a), Some(e)) = (action.as_object_mut(), entry.as_object()) {
            a.extend(e.clone());
        }
        let payload = json!({
            "type": "block_actions", "user": user, "api_app_id": inner.cfg.app_id,
            "token": "sim-verification-token", "container": {"type": "view", "view_id": view_id},
            "trigger_id": trigger, "team": inner.team_obj(), "enterprise": null,
            "is_enterprise_install": false, "view": view, "actions": [action],
        });
        Ok(Some(
            inner
                .interact("interactive", payload, false, user_id, Some(trigger))
                .await,
        ))
    }

    /// Types `query` into an external select in a view; the outcome's payload holds the options.
    pub async fn block_suggestion(
        &self,
        user_id: &str,
        view_id: &str,
        action_id: &str,
        block_id: &str,
        query: &str,
    ) -> Result<AckOutcome, ControlError> {
        self.suggest(user_id, view_id, true, action_id, block_id, query)
            .await
    }

    /// A `block_suggestion` Slack never sends: `user_id` typing into `view_id`, a view open for
    /// someone else. For testing that an app decides whom it shows options to by the person in
    /// the payload, not by the view it names (and the view's `private_metadata`).
    pub async fn forged_block_suggestion(
        &self,
        user_id: &str,
        view_id: &str,
        action_id: &str,
        block_id: &str,
        query: &str,
    ) -> Result<AckOutcome, ControlError> {
        self.suggest(user_id, view_id, false, action_id, block_id, query)
            .await
    }

    /// An `interactive` envelope carrying `payload` as given, which Slack would never send (no
    /// `type`, no view, no user): for testing that an app acks what it cannot read and acts on
    /// none of it. `user_id` only names who the failures are reported against.
    pub async fn forged_interaction(&self, user_id: &str, payload: Value) -> AckOutcome {
        self.inner
            .interact("interactive", payload, true, user_id, None)
            .await
    }

    /// A `block_suggestion` from `user_id` in `view_id`, which must be theirs when `own`.
    async fn suggest(
        &self,
        user_id: &str,
        view_id: &str,
        own: bool,
        action_id: &str,
        block_id: &str,
        query: &str,
    ) -> Result<AckOutcome, ControlError> {
        let inner = &self.inner;
        let user = inner.user_obj(user_id)?;
        let view = inner
            .read(|st| {
                st.views
                    .get(view_id)
                    .filter(|r| r.open && (r.user == user_id || !own))
                    .map(|r| r.view.clone())
            })
            .ok_or_else(|| ControlError::ViewNotOpen(view_id.into()))?;
        let payload = json!({
            "type": "block_suggestion", "user": user, "container": {"type": "view", "view_id": view_id},
            "api_app_id": inner.cfg.app_id, "token": "sim-verification-token", "action_id": action_id,
            "block_id": block_id, "value": query, "team": inner.team_obj(), "view": view,
            "is_enterprise_install": false, "enterprise": null,
        });
        Ok(inner
            .interact("interactive", payload, true, user_id, None)
            .await)
    }
}

fn apply_response_action(
    inner: &Inner,
    st: &mut State,
    user: &str,
    view_id: &str,
    action: Option<&str>,
    p: &Value,
    out: &mut SubmitOutcome,
) {
    match action {
        Some("errors") => {
            let errors = p.get("errors").cloned().unwrap_or(Value::Null);
            let known = st
                .views
                .get(view_id)
                .map(|r| input_block_ids(&r.view))
                .unwrap_or_default();
            if let Some(m) = errors.as_object() {
                for k in m.keys().filter(|k| !known.contains(k)) {
                    st.fail(
                        "invalid_errors_block_id",
                        None,
                        Some(user),
                        format!("response_action errors names block_id {k:?}, which is not an input block of {view_id}"),
                    );
                }
            }
            out.errors = Some(errors);
        }
        Some("update") | Some("push") => {
            let Some(sent) = p.get("view").and_then(Value::as_object) else {
                st.fail(
                    "invalid_response_action",
                    None,
                    Some(user),
                    format!("{action:?} without a view"),
                );
                return;
            };
            let stack = st.modal_stacks.get(user).cloned().unwrap_or_default();
            if action == Some("update") {
                let old = st
                    .views
                    .get(view_id)
                    .map(|r| r.view.clone())
                    .unwrap_or(Value::Null);
                let mut v = crate::web_api::full_view(inner, st, view_id, sent);
                v["previous_view_id"] = old["previous_view_id"].clone();
                v["root_view_id"] = old["root_view_id"].clone();
                if let Some(r) = st.views.get_mut(view_id) {
                    r.view = v;
                }
            } else {
                let n = st.next_id();
                let id = format!("V0SIM{n:06}");
                let mut v = crate::web_api::full_view(inner, st, &id, sent);
                v["previous_view_id"] = json!(view_id);
                v["root_view_id"] = json!(stack.first());
                st.views.insert(
                    id.clone(),
                    crate::state::ViewRec {
                        view: v,
                        user: user.into(),
                        open: true,
                    },
                );
                st.modal_stacks.entry(user.into()).or_default().push(id);
            }
        }
        Some("clear") => st.clear_modals(user),
        _ => {
            if let Some(stack) = st.modal_stacks.get_mut(user) {
                stack.pop();
                if stack.is_empty() {
                    st.modal_stacks.remove(user);
                }
            }
            if let Some(r) = st.views.get_mut(view_id) {
                r.open = false;
            }
        }
    }
}
