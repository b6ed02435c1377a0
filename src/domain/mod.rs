//! Pure rules of Gatehouse: identifiers, durations, the request lifecycle and who may do what.
//! No IO, no async, no database, no Slack, no clock: callers pass the facts in.

pub mod approval;
pub mod auto_approval;
pub mod duration;
pub mod ids;
pub mod lifecycle;
pub mod notice;
pub mod policy;
pub mod question;
pub mod start;
pub mod unit;

pub use duration::{DurationRules, GrantDuration};
pub use ids::{ConnectorId, GroupId, Principal, RequestId, ResourceId, SlackUserId};
pub use lifecycle::{EndReason, Event, IllegalTransition, Status, transition};
pub use notice::{Audience, Notice};
pub use unit::{Unit, UnitKind};
