//! What `workflow` needs from the outside world, as traits: group membership and messages
//! (Slack), and changing access on platforms (connectors). Implementations live at the edges.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::Resource;
use crate::domain::{ConnectorId, GroupId, SlackUserId, Unit};
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

/// What a platform change did, in words for the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The platform identity (user or role) the change applies to.
    pub identity: String,
    /// The statement or API call made, or "already held" / "already absent".
    pub action: String,
    /// For platforms that grant a unit as several privileges: which ones this grant added (the
    /// connector's own JSON), kept with the grant so its revocation removes only those.
    pub receipt: Option<String>,
}

/// One grant, in the connector's terms: what a grant changes and what its revocation undoes.
/// Revocation builds it from the grant record, never from today's catalog.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub connector: &'a ConnectorId,
    pub identity: &'a str,
    pub unit: &'a Unit,
}

/// What a revocation should leave alone.
#[derive(Debug, Clone, Copy, Default)]
pub struct Undo<'a> {
    /// The grant's receipt, if its connector kept one.
    pub receipt: Option<&'a str>,
    /// Units the same identity holds on the same connector through other live grants.
    pub keep: &'a [Unit],
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExternalError {
    #[error("{message}")]
    Retryable {
        message: String,
        retry_after: Option<Duration>,
    },
    #[error("{0}")]
    Permanent(String),
}

/// Whether an identity holds a unit of access now, and how.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Holding {
    /// Granted to the identity itself: what a grant adds and a revocation removes.
    pub direct: bool,
    /// Other ways the identity has it (a parent role, a group), in the platform's words. Access
    /// held only this way is not Gatehouse's to take away.
    pub through: Vec<String>,
}

impl Holding {
    pub fn held(&self) -> bool {
        self.direct || !self.through.is_empty()
    }
}

/// Whether a connector can grant and revoke a unit, as its platform says before anyone asks
/// (`gatehouse check-config --platforms`, `serve` at start, App Home).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    /// The unit exists and the account Gatehouse uses may grant and revoke it: what was seen
    /// (e.g. "role exists; ADMIN OPTION on it").
    Ready(String),
    /// What is missing, and the statement or setting that fixes it.
    Missing { what: String, fix: String },
}

/// A user, role or group as a platform lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformIdentity {
    pub kind: String,
    pub id: String,
    pub name: String,
    pub email: Option<String>,
}

/// Grants and revokes access on platforms. Both are idempotent and verify the result.
#[async_trait::async_trait]
pub trait Provisioner: Send + Sync + 'static {
    /// True when a person makes this connector's changes by hand (the `manual` connector):
    /// Gatehouse then asks an admin in the request's thread and waits for their confirmation.
    fn by_hand(&self, _connector: &ConnectorId) -> bool {
        false
    }

    /// True when a grant needs a reviewer to settle the platform identity (user or role) first;
    /// false when the connector can work it out from the requester.
    fn needs_identity(&self, _connector: &ConnectorId) -> bool {
        false
    }

    /// The platform identity a request's grant changes: the one settled for it. None when
    /// nothing is settled (a grant then cannot start).
    fn identity_for(&self, request: &Request) -> Option<String> {
        request.identity.clone()
    }

    /// Gives the target its unit: check, change, check again.
    async fn grant(&self, target: Target<'_>) -> Result<Applied, ExternalError>;

    /// Takes the unit away from the target, leaving what `undo` says: check, change, check again.
    /// An identity the platform no longer has counts as access already gone.
    async fn revoke(&self, target: Target<'_>, undo: Undo<'_>) -> Result<Applied, ExternalError>;

    /// Can the connector reach its platform right now? None for connectors with nothing to reach.
    async fn health(&self, _connector: &ConnectorId) -> Option<Result<(), String>> {
        None
    }

    /// Everyone the connector's platform knows, or None for connectors that cannot list (manual).
    async fn list_identities(
        &self,
        _connector: &ConnectorId,
    ) -> Result<Option<Vec<PlatformIdentity>>, ExternalError> {
        Ok(None)
    }

    /// Does `identity` hold `unit` on the connector's platform now, and how? None when the
    /// connector cannot tell (manual).
    async fn check(
        &self,
        _connector: &ConnectorId,
        _identity: &str,
        _unit: &Unit,
    ) -> Result<Option<Holding>, ExternalError> {
        Ok(None)
    }

    /// Before anyone asks: does the unit exist on the connector's platform, and may Gatehouse's
    /// account grant and revoke it? Changes nothing. None for connectors done by hand.
    async fn readiness(
        &self,
        _connector: &ConnectorId,
        _unit: &Unit,
    ) -> Option<Result<Readiness, ExternalError>> {
        None
    }

    /// `check` asked for a question ("does X have access", "who has X"): the same answer, but
    /// spending a budget of platform calls kept for questions, so that a burst of questions
    /// never delays a grant or a revocation. Provisioners without budgets just check.
    async fn check_for_question(
        &self,
        connector: &ConnectorId,
        identity: &str,
        unit: &Unit,
    ) -> Result<Option<Holding>, ExternalError> {
        self.check(connector, identity, unit).await
    }
}

/// Something people should hear about a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Notice {
    Submitted,
    /// One more approval counted toward the request's approval stages; more are needed.
    ApprovalCounted,
    /// Break-glass access was granted at once; a reviewer must review it in time.
    BreakGlass,
    /// A reviewer reviewed break-glass access: it stays until it ends.
    BreakGlassReviewed,
    /// Nobody reviewed break-glass access in time: it is taken away and flagged.
    BreakGlassUnreviewed,
    /// Approved, but a reviewer must choose the identity to grant to.
    IdentityNeeded,
    /// A reviewer or admin chose the identity to grant to (approvals given before stop counting).
    IdentityChosen,
    /// The access ends soon: the holder may ask for more time.
    ExpiringSoon,
    /// The holder asks reviewers for `minutes` more.
    ExtensionRequested {
        minutes: i64,
        /// The stored ask its buttons decide (0 in notices queued before asks were kept).
        #[serde(default)]
        ask: i64,
    },
    /// A reviewer said no to more time.
    ExtensionDenied,
    /// An admin should make the grant by hand and confirm it.
    GrantByHand,
    /// An admin should remove the access by hand and confirm it.
    RevokeByHand,
    Approved,
    Denied,
    Cancelled,
    Lapsed,
    Active,
    Extended,
    ProvisioningFailed,
    /// Taking the access away keeps failing; Gatehouse keeps trying and people should look.
    RevocationFailing,
    /// Reconciliation found the live grant missing on the platform (and granted it again when
    /// the resource says `on_drift = "regrant"`).
    DriftMissing {
        regranted: bool,
    },
    /// Reconciliation found the access still there after it ended, and removed it.
    DriftRevoked,
    Expired,
    Revoked,
    /// Slack refused a notice of the request for good (`invalid_blocks`, a channel gone…):
    /// the requester and the admins hear it, with Slack's words.
    NotDelivered,
}

/// Who hears it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    /// The request's message in the Access Requests channel (updated) and its thread.
    Channel,
    /// A DM to the person who asked.
    Requester,
    /// DMs to the resource's reviewers (and the admins, for failures only they can fix).
    Reviewers,
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

impl Notice {
    /// Who hears about each step.
    /// A step of a request going as planned, which needs nobody's attention: a resource with
    /// `auto_approved = "quiet"` keeps these out of the channel for requests a rule approved.
    pub fn needs_no_one(self) -> bool {
        match self {
            Notice::Submitted
            | Notice::Approved
            | Notice::Active
            | Notice::Extended
            | Notice::ExpiringSoon
            | Notice::Cancelled
            | Notice::Expired
            | Notice::Revoked => true,
            Notice::ApprovalCounted
            | Notice::BreakGlass
            | Notice::BreakGlassReviewed
            | Notice::BreakGlassUnreviewed
            | Notice::IdentityNeeded
            | Notice::IdentityChosen
            | Notice::ExtensionRequested { .. }
            | Notice::ExtensionDenied
            | Notice::GrantByHand
            | Notice::RevokeByHand
            | Notice::Denied
            | Notice::Lapsed
            | Notice::ProvisioningFailed
            | Notice::RevocationFailing
            | Notice::DriftMissing { .. }
            | Notice::DriftRevoked
            | Notice::NotDelivered => false,
        }
    }

    /// Who hears it, in the order they are told: the requester before the channel's card.
    pub fn audiences(self) -> &'static [Audience] {
        match self {
            Notice::BreakGlass | Notice::BreakGlassUnreviewed => {
                &[Audience::Channel, Audience::Reviewers]
            }
            Notice::Submitted
            | Notice::ApprovalCounted
            | Notice::BreakGlassReviewed
            | Notice::GrantByHand
            | Notice::RevokeByHand
            | Notice::IdentityNeeded
            | Notice::ExtensionRequested { .. } => &[Audience::Channel],
            Notice::ExpiringSoon => &[Audience::Requester],
            // The holder hears where their access goes: a redirect would not go unseen.
            Notice::ExtensionDenied | Notice::IdentityChosen => {
                &[Audience::Requester, Audience::Channel]
            }
            Notice::ProvisioningFailed => {
                &[Audience::Requester, Audience::Channel, Audience::Reviewers]
            }
            Notice::RevocationFailing | Notice::DriftMissing { .. } => {
                &[Audience::Channel, Audience::Reviewers]
            }
            // Not the channel: what failed may be the channel's card itself.
            Notice::NotDelivered => &[Audience::Requester, Audience::Reviewers],
            Notice::DriftRevoked => &[Audience::Channel],
            Notice::Approved
            | Notice::Denied
            | Notice::Lapsed
            | Notice::Active
            | Notice::Extended
            | Notice::Expired
            | Notice::Revoked => &[Audience::Requester, Audience::Channel],
            Notice::Cancelled => &[Audience::Channel],
        }
    }
}
