//! Events API deliveries: event_callback wrapping, redelivery until acked, and App Home opens.

use super::{ControlError, EventOutcome};
use crate::socket::{Delivery, MAX_RETRIES};
use crate::state::{State, now_secs};
use crate::{Inner, Sim};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

impl Inner {
    fn event_callback(&self, st: &mut State, event: Value) -> (String, Value) {
        let n = st.next_id();
        let event_id = format!("Ev0SIM{n:08}");
        let payload = json!({
            "token": "sim-verification-token", "team_id": self.cfg.team_id, "api_app_id": self.cfg.app_id,
            "event": event, "type": "event_callback", "event_id": event_id, "event_time": now_secs(),
            "authorizations": [{"enterprise_id": null, "team_id": self.cfg.team_id,
                "user_id": self.cfg.bot_user_id, "is_bot": true, "is_enterprise_install": false}],
            "is_ext_shared_channel": false,
        });
        (event_id, payload)
    }
}

/// Redelivers an event until acked or out of retries; reports the first attempt through `first`.
async fn event_loop(
    inner: Arc<Inner>,
    payload: Value,
    event_id: String,
    first: tokio::sync::oneshot::Sender<(Option<String>, bool)>,
) {
    let mut first = Some(first);
    let mut attempt = 0;
    let patience = if inner.with(|st| st.drop_undeliverable_events) {
        Duration::ZERO
    } else {
        Duration::from_millis(inner.cfg.ack_timeout_ms.max(100) * 20)
    };
    loop {
        if *inner.shutdown.borrow() {
            return;
        }
        match inner
            .deliver_once("events_api", &payload, false, attempt, Some(&event_id))
            .await
        {
            Delivery::Acked { envelope_id, .. } => {
                if let Some(f) = first.take() {
                    let _ = f.send((Some(envelope_id), true));
                }
                return;
            }
            Delivery::Timeout { envelope_id } | Delivery::Closed { envelope_id } => {
                if let Some(f) = first.take() {
                    let _ = f.send((Some(envelope_id), false));
                }
                attempt += 1;
                if attempt > MAX_RETRIES {
                    inner.with(|st| {
                        st.fail(
                            "event_not_acked",
                            None,
                            None,
                            format!("event {event_id} not acked after {MAX_RETRIES} retries"),
                        )
                    });
                    return;
                }
            }
            Delivery::NoConnection => {
                // Slack holds events while no socket is open; wait for one to appear.
                if !inner.wait_routable(patience).await {
                    if let Some(f) = first.take() {
                        let _ = f.send((None, false));
                    }
                    inner.with(|st| {
                        st.fail(
                            "event_not_delivered",
                            None,
                            None,
                            format!("event {event_id}: no Socket Mode connection"),
                        )
                    });
                    return;
                }
            }
        }
    }
}

impl Sim {
    /// Wraps `event` in an `event_callback` and delivers it (with redelivery).
    pub async fn send_event_callback(&self, event: Value) -> EventOutcome {
        let (event_id, payload) = self.inner.with(|st| self.inner.event_callback(st, event));
        self.deliver_event(payload, event_id).await
    }

    /// Delivers an arbitrary (possibly malformed) events_api payload, with redelivery.
    pub async fn send_event(&self, payload: Value) -> EventOutcome {
        let event_id = payload
            .get("event_id")
            .and_then(Value::as_str)
            .map(String::from)
            .unwrap_or_else(|| format!("Ev0RAW{}", self.inner.with(|st| st.next_id())));
        self.deliver_event(payload, event_id).await
    }

    /// Starts delivery and waits for the first attempt's ack (up to the ack timeout); retries go on behind.
    async fn deliver_event(&self, payload: Value, event_id: String) -> EventOutcome {
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(event_loop(
            self.inner.clone(),
            payload,
            event_id.clone(),
            tx,
        ));
        let wait = Duration::from_millis(self.inner.cfg.ack_timeout_ms + 500);
        let (envelope_id, acked) = match tokio::time::timeout(wait, rx).await {
            Ok(Ok(r)) => r,
            _ => (None, false),
        };
        EventOutcome {
            event_id,
            envelope_id,
            acked,
        }
    }

    /// An admin sets the members of user group `group_id` to `users`, and Slack says nothing
    /// (as to an app not subscribed to the group's events): usergroups.users.list answers the
    /// new list from now on. Returns the members before.
    pub fn set_usergroup_members(
        &self,
        group_id: &str,
        users: &[&str],
    ) -> Result<Vec<String>, ControlError> {
        for u in users {
            self.check_user(u)?;
        }
        self.inner.with(|st| {
            let members = st
                .usergroups
                .get_mut(group_id)
                .ok_or_else(|| ControlError::UnknownUsergroup(group_id.into()))?;
            Ok(std::mem::replace(
                members,
                users.iter().map(|u| (*u).to_owned()).collect(),
            ))
        })
    }

    /// An admin sets the members of user group `group_id` to `users` (see
    /// [`Sim::set_usergroup_members`]), and `subteam_members_changed` carries the difference,
    /// shaped as https://docs.slack.dev/reference/events/subteam_members_changed/ shows it (the
    /// counts are strings there). Slack sends `subteam_updated` for the same change too; send it
    /// with [`Sim::usergroup_updated`].
    pub async fn change_usergroup_members(
        &self,
        group_id: &str,
        users: &[&str],
    ) -> Result<EventOutcome, ControlError> {
        let before = self.set_usergroup_members(group_id, users)?;
        let added: Vec<&str> = users
            .iter()
            .copied()
            .filter(|u| !before.iter().any(|b| b == u))
            .collect();
        let removed: Vec<&String> = before
            .iter()
            .filter(|b| !users.contains(&b.as_str()))
            .collect();
        let now = now_secs();
        let event = json!({
            "type": "subteam_members_changed", "subteam_id": group_id,
            "team_id": self.inner.cfg.team_id,
            "date_previous_update": now.saturating_sub(1), "date_update": now,
            "added_users": added, "added_users_count": added.len().to_string(),
            "removed_users": removed, "removed_users_count": removed.len().to_string(),
            "event_ts": self.inner.with(|st| st.next_ts()),
        });
        Ok(self.send_event_callback(event).await)
    }

    /// `subteam_updated` for user group `group_id`, with the group as it is now, shaped as
    /// https://docs.slack.dev/reference/events/subteam_updated/ shows it (Slack sends it when a
    /// group's name, handle or members change).
    pub async fn usergroup_updated(&self, group_id: &str) -> Result<EventOutcome, ControlError> {
        let cfg = &self.inner.cfg;
        let seed = cfg
            .usergroups
            .iter()
            .find(|g| g.id == group_id)
            .ok_or_else(|| ControlError::UnknownUsergroup(group_id.into()))?;
        let event = self.inner.with(|st| {
            let users = st.usergroups.get(group_id).cloned().unwrap_or_default();
            let now = now_secs();
            json!({
                "type": "subteam_updated",
                "subteam": {
                    "id": group_id, "team_id": cfg.team_id, "is_usergroup": true,
                    "is_subteam": true, "name": seed.handle, "description": "",
                    "handle": seed.handle, "is_external": false, "date_create": now,
                    "date_update": now, "date_delete": 0, "auto_type": null,
                    "auto_provision": false, "enterprise_subteam_id": "",
                    "created_by": cfg.bot_user_id, "updated_by": cfg.bot_user_id,
                    "deleted_by": null, "prefs": {"channels": [], "groups": []},
                    "user_count": users.len(), "users": users, "channel_count": 0,
                },
                "event_ts": st.next_ts(),
            })
        });
        Ok(self.send_event_callback(event).await)
    }

    /// `user_change` for `user_id`: the user as users.info shows them, shaped as
    /// https://docs.slack.dev/reference/events/user_change/ shows it (Slack sends it when a
    /// member's profile or account changes: deactivated, made a guest, renamed).
    pub async fn user_changed(&self, user_id: &str) -> Result<EventOutcome, ControlError> {
        self.check_user(user_id)?;
        let user = crate::web_api::user_json(&self.inner, user_id)
            .ok_or_else(|| ControlError::UnknownUser(user_id.into()))?;
        let event = self.inner.with(|st| {
            json!({
                "type": "user_change", "user": user,
                "cache_ts": now_secs(), "event_ts": st.next_ts(),
            })
        });
        Ok(self.send_event_callback(event).await)
    }

    /// `user_id` opens the app's Home tab: `app_home_opened` with tab "home" (and the published view).
    pub async fn open_app_home(&self, user_id: &str) -> Result<EventOutcome, ControlError> {
        self.check_user(user_id)?;
        let event = self.inner.with(|st| {
            let ch = st.im_for(&self.inner.cfg, user_id);
            let mut e = json!({"type": "app_home_opened", "user": user_id, "channel": ch,
                "tab": "home", "event_ts": st.next_ts()});
            if let Some(v) = st.homes.get(user_id).and_then(|id| st.views.get(id)) {
                e["view"] = v.view.clone();
            }
            e
        });
        Ok(self.send_event_callback(event).await)
    }
}
