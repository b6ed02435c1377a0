//! Acting as people: slash commands, reactions, modal submissions, button clicks, option searches, App Home.
//! Builds Slack's documented payloads (reference/slack.md §2), delivers them over Socket Mode, and applies
//! what the ack means to what the person sees.
mod events;
mod interactive;
mod people;

use crate::socket::Delivery;
use crate::state::State;
use crate::{Inner, Sim};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ControlError {
    #[error("unknown user {0}")]
    UnknownUser(String),
    #[error("unknown channel {0}")]
    UnknownChannel(String),
    #[error("no message {1} in {0}")]
    MessageNotFound(String, String),
    #[error("view {0} is not open for this user")]
    ViewNotOpen(String),
    #[error("no element with action_id {0} in the target")]
    ActionNotFound(String),
    #[error("{0} already reacted with {1}")]
    AlreadyReacted(String, String),
    #[error("{0} has no {1} reaction there")]
    NoReaction(String, String),
    #[error("unknown user group {0}")]
    UnknownUsergroup(String),
    /// The element asks first (a `confirm` object): Slack shows the dialog and sends nothing
    /// until the person confirms (`click_button_confirmed`).
    #[error("Slack asks first, and sent nothing: {title} — {text}")]
    ConfirmationShown { title: String, text: String },
    /// `click_button_confirmed` on an element that asks nothing: the test expected a dialog.
    #[error("{0} shows no confirmation dialog")]
    NoConfirmation(String),
    /// The app's Messages tab is read-only: Slack offers no box to write in.
    #[error("the app's Messages tab is read-only: {0} cannot write to it")]
    MessagesTabReadOnly(String),
}

impl ControlError {
    /// A stable code for the HTTP control API.
    pub fn code(&self) -> &'static str {
        match self {
            ControlError::UnknownUser(_) => "user_not_found",
            ControlError::UnknownChannel(_) => "channel_not_found",
            ControlError::MessageNotFound(..) => "message_not_found",
            ControlError::ViewNotOpen(_) => "view_not_open",
            ControlError::ActionNotFound(_) => "action_not_found",
            ControlError::AlreadyReacted(..) => "already_reacted",
            ControlError::NoReaction(..) => "no_reaction",
            ControlError::UnknownUsergroup(_) => "no_such_subteam",
            ControlError::ConfirmationShown { .. } => "confirmation_shown",
            ControlError::NoConfirmation(_) => "no_confirmation",
            ControlError::MessagesTabReadOnly(_) => "messages_tab_read_only",
        }
    }
}

/// What happened to one interactive/slash envelope, as the person would experience it.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct AckOutcome {
    pub envelope_id: Option<String>,
    pub trigger_id: Option<String>,
    pub acked: bool,
    /// The ack's `payload`, if any.
    pub payload: Option<Value>,
    /// What Slack shows when the app did not answer in time (e.g. `operation_timeout`, `dispatch_failed`).
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct SubmitOutcome {
    #[serde(flatten)]
    pub ack: AckOutcome,
    /// `response_action: errors` → block_id → message shown under the field.
    pub errors: Option<Value>,
    /// The user's modal stack (view ids, bottom first) after the submission.
    pub stack: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct EventOutcome {
    pub event_id: String,
    /// The first delivery's envelope (redeliveries carry new envelope ids and the same event_id).
    pub envelope_id: Option<String>,
    /// Whether the first delivery was acked within the ack timeout.
    pub acked: bool,
}

/// Where a button lives.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ButtonTarget {
    Message {
        channel: String,
        ts: String,
    },
    View {
        view_id: String,
    },
    /// An ephemeral message, which only the person it was posted to sees (and can click).
    Ephemeral {
        ts: String,
    },
}

impl Inner {
    fn user_obj(&self, user: &str) -> Result<Value, ControlError> {
        let u = self
            .cfg
            .users
            .iter()
            .find(|u| u.id == user)
            .ok_or_else(|| ControlError::UnknownUser(user.into()))?;
        Ok(json!({"id": u.id, "username": u.name, "name": u.name, "team_id": self.cfg.team_id}))
    }

    fn team_obj(&self) -> Value {
        json!({"id": self.cfg.team_id, "domain": self.cfg.team_domain})
    }

    /// One interactive/slash delivery: no redelivery; an unanswered one is a user-visible failure.
    async fn interact(
        &self,
        envelope_type: &str,
        payload: Value,
        accepts: bool,
        user: &str,
        trigger_id: Option<String>,
    ) -> AckOutcome {
        let d = self
            .deliver_once(envelope_type, &payload, accepts, 0, None)
            .await;
        let mut out = AckOutcome {
            trigger_id,
            ..Default::default()
        };
        let fail = |code: &str, env: Option<&str>, st: &mut State| {
            st.fail(
                code,
                env,
                Some(user),
                format!("{envelope_type} not acked ({code})"),
            )
        };
        match d {
            Delivery::Acked {
                envelope_id,
                payload,
            } => {
                out.envelope_id = Some(envelope_id);
                out.acked = true;
                out.payload = payload;
            }
            Delivery::Timeout { envelope_id } | Delivery::Closed { envelope_id } => {
                self.with(|st| fail("operation_timeout", Some(&envelope_id), st));
                out.envelope_id = Some(envelope_id);
                out.error = Some("operation_timeout".into());
            }
            Delivery::NoConnection => {
                self.with(|st| fail("dispatch_failed", None, st));
                out.error = Some("dispatch_failed".into());
            }
        }
        out
    }
}

impl Sim {
    fn check_user(&self, user: &str) -> Result<(), ControlError> {
        self.inner.user_obj(user).map(|_| ())
    }

    /// A trigger_id for `user`, as if they had just clicked something (for driving views.open directly).
    pub fn issue_trigger(&self, user: &str) -> String {
        self.inner.with(|st| st.issue_trigger(user))
    }
}
