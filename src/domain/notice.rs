//! What people hear about a request (`Notice`) and who hears it (`Audience`): which steps
//! need someone's attention, and in what order the audiences are told. No IO.

use serde::{Deserialize, Serialize};

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
    /// Nobody has decided and the request lapses soon: its reviewers are asked once more.
    LapsesSoon,
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
            | Notice::LapsesSoon
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
            | Notice::LapsesSoon
            | Notice::BreakGlassReviewed
            | Notice::GrantByHand
            | Notice::RevokeByHand
            | Notice::ExtensionRequested { .. } => &[Audience::Channel],
            // Its requester, approved, hears why the access waits (a grant at once is told to
            // them only when it is done).
            Notice::IdentityNeeded => &[Audience::Requester, Audience::Channel],
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
