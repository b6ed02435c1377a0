//! What `workflow` needs from Slack, as traits: group membership and messages. Implementations
//! live at the edges; what it needs from platforms is `crate::platform`'s contract.

use crate::config::Resource;
use crate::domain::{Audience, GroupId, Notice, SlackUserId};
use crate::platform::ExternalError;
use crate::store::requests::Request;

/// Who is in a Slack user group.
#[async_trait::async_trait]
pub trait Directory: Send + Sync + 'static {
    async fn members_of(&self, group: &GroupId) -> Result<Vec<SlackUserId>, String>;

    /// The person's email, when the directory knows it (linking identities by email).
    async fn email_of(&self, _user: &SlackUserId) -> Result<Option<String>, String> {
        Ok(None)
    }

    /// What kind of account the person has (only full members approve, use break-glass or
    /// are auto-approved). Directories that cannot tell say a member.
    async fn membership_of(&self, _user: &SlackUserId) -> Result<Membership, String> {
        Ok(Membership::Member)
    }

    /// The person's time zone (IANA name, like `Europe/Paris`), when the directory knows it.
    async fn time_zone_of(&self, _user: &SlackUserId) -> Result<Option<String>, String> {
        Ok(None)
    }

    /// Slack said the group's members changed: whatever is remembered of them is stale, and
    /// the next decision must ask again. Directories that remember nothing do nothing.
    fn forget_group(&self, _group: &GroupId) {}

    /// Slack said the person's account changed (deactivated, made a guest, moved time zone).
    fn forget_user(&self, _user: &SlackUserId) {}
}

/// What kind of account a person has in the workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Membership {
    Member,
    /// A multi-channel or single-channel guest (Slack's restricted and ultra-restricted).
    Guest,
    /// Someone from another organisation, seen through a Slack Connect channel.
    External,
    Deactivated,
    /// A bot or app account: never a person, so never a reviewer or a requester of note.
    Bot,
}

impl Membership {
    /// The kind of account in words, for refusals and the audit log.
    pub fn describe(self) -> &'static str {
        match self {
            Membership::Member => "a full member of the workspace",
            Membership::Guest => "a guest account",
            Membership::External => "an external (Slack Connect) account",
            Membership::Deactivated => "a deactivated account",
            Membership::Bot => "a bot or app account",
        }
    }
}

/// A directory for setups without Slack user groups: every group is empty.
pub struct NoGroups;

#[async_trait::async_trait]
impl Directory for NoGroups {
    async fn members_of(&self, _group: &GroupId) -> Result<Vec<SlackUserId>, String> {
        Ok(Vec::new())
    }
}

/// Where a request's channel message is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRef {
    pub channel: String,
    pub ts: String,
}

/// Facts a notice may need beyond the request.
#[derive(Debug, Clone, Default)]
pub struct NoticeContext {
    /// Everyone who reviews the resource (catalog and added from Slack).
    pub reviewers: Vec<crate::domain::Principal>,
    /// For failures: what went wrong, in the platform's words.
    pub error: Option<String>,
    /// Where a request not yet posted goes: its resource's channel, or the Access Requests
    /// channel an admin chose from Slack (shared by all processes); None: the default.
    pub channel: Option<String>,
    /// Which delivery job this is, so each message it posts is posted once across its retries.
    pub delivery: Option<Delivery>,
    /// For a pending request of a resource with approval stages: where it stands.
    pub progress: Option<Progress>,
    /// The identity held the access before Gatehouse granted it, so its end leaves it as it was.
    pub held_before: bool,
    /// For access ended early (revoking or revoked): who ended it, as the latest `revoking` or
    /// `closed` audit row names them; the reason is the request's `decision_note`.
    pub ended_by: Option<crate::audit::Actor>,
    /// An admin closed the request (its revocation could not complete), rather than revoking it.
    pub closed: bool,
    /// For `IdentityChosen`: who chose, as the latest `identity_chosen` audit row names them.
    pub chosen_by: Option<crate::audit::Actor>,
    /// For a thread note that waits on someone (an account to choose, more time to decide, a
    /// change by hand): who can act, to be mentioned, the requester never among them.
    pub to_act: Vec<crate::domain::Principal>,
}

/// Where a pending request stands in its resource's approval stages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// The stage waiting for approvals, counted from 1.
    pub step: usize,
    pub steps: usize,
    /// Approvals still needed in this stage.
    pub more: usize,
    /// Everyone who approved so far, in order.
    pub approved: Vec<SlackUserId>,
    /// Who can approve this stage (and only they are mentioned).
    pub can_approve: Vec<crate::domain::Principal>,
    /// When the request lapses if nobody decides.
    pub lapses_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// A delivery job's identity. Jobs run at least once (a process may die after Slack accepted a
/// message but before the job was marked done), so each message carries `key_prefix:part` and a
/// retry looks for it before posting again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Unique per job (its id).
    pub key_prefix: String,
    /// When the job was created: nothing it posted is older.
    pub since: chrono::DateTime<chrono::Utc>,
    /// An earlier attempt may have posted: look before posting.
    pub retry: bool,
}

/// Tells people about requests. Each call is one delivery job: it may be retried, so it should
/// do its idempotent parts (updating the channel message) before the others.
#[async_trait::async_trait]
pub trait Notifier: Send + Sync + 'static {
    /// For `Audience::Channel`, returns where the request's message now is when it posted one.
    async fn notify(
        &self,
        request: &Request,
        resource: &Resource,
        notice: Notice,
        audience: Audience,
        context: &NoticeContext,
    ) -> Result<Option<MessageRef>, ExternalError>;
}
