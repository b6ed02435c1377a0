//! Access ended early, in words: who revoked or closed a request and why, as the channel card,
//! its thread and the holder's DM say it. The holder's own relinquish and Gatehouse's own
//! revocations (break-glass not reviewed in time) keep the plain words.

use super::mrkdwn::{escape, user};
use crate::audit::Actor;
use crate::store::requests::Request;

/// Someone other than the holder ended the access: a reviewer, an admin or the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    /// A mention, or "the Gatehouse operator".
    who: String,
    /// An admin closed the request: its revocation could not complete, and they answered for
    /// the access being gone.
    closed: bool,
    /// The reason they gave, escaped.
    reason: Option<String>,
}

impl Ended {
    /// From the actor of the request's latest `revoking` or `closed` audit row; the reason is
    /// the request's `decision_note`, which revoking and closing set. None when the holder
    /// ended it, Gatehouse did, or nothing says who.
    pub fn of(r: &Request, by: Option<&Actor>, closed: bool) -> Option<Ended> {
        let who = match by? {
            Actor::User(u) if closed || u != &r.requester => user(u.as_str()),
            Actor::Cli => "the Gatehouse operator".to_owned(),
            Actor::User(_) | Actor::System => return None,
        };
        Some(Ended {
            who,
            closed,
            reason: r
                .decision_note
                .as_deref()
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(escape),
        })
    }

    fn because(&self) -> String {
        self.reason
            .as_deref()
            .map(|r| format!(": {r}"))
            .unwrap_or_default()
    }

    /// Who, at the start of a sentence.
    fn who_first(&self) -> String {
        match self.who.strip_prefix("the ") {
            Some(rest) => format!("The {rest}"),
            None => self.who.clone(),
        }
    }

    /// The card's status line once the access has ended.
    pub fn status_line(&self) -> String {
        if self.closed {
            format!(
                "🔒 *Closed* by {}{} — not checked on the platform",
                self.who,
                self.because()
            )
        } else {
            format!(
                "🔒 *Revoked* by {}{} — access removed",
                self.who,
                self.because()
            )
        }
    }

    /// The card's status line while the access is being removed.
    pub fn ending_line(&self) -> String {
        format!(
            "⏳ *Being revoked* by {}{} — removing access…",
            self.who,
            self.because()
        )
    }

    /// The thread note once the access has ended.
    pub fn thread_note(&self) -> String {
        if self.closed {
            format!(
                "🔒 Closed by {}{}. The platform was not checked: they answered for the access being gone",
                self.who,
                self.because()
            )
        } else {
            format!(
                "🔒 Revoked by {}{}; access removed",
                self.who,
                self.because()
            )
        }
    }

    /// The holder's DM. `held_before`: they had the access before Gatehouse granted it, so it
    /// was left as it was.
    pub fn holder_dm(&self, r: &Request, name: &str, held_before: bool) -> String {
        let id = r.id.get();
        let who = self.who_first();
        // The reason ends the sentence as its writer ended it.
        let end = match &self.reason {
            Some(r) => format!(": {r}"),
            None => ".".to_owned(),
        };
        match (self.closed, held_before) {
            (true, _) => format!("🔒 {who} closed your request #{id} for *{name}*{end}"),
            (false, true) => format!(
                "🔒 {who} ended your request #{id} for *{name}*{end}\nYou already had this access before Gatehouse granted it, so it was left as it was."
            ),
            (false, false) => {
                format!("🔒 {who} removed your access to *{name}* (request #{id}){end}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{GrantDuration, RequestId, ResourceId, SlackUserId, Status};

    fn request(note: Option<&str>) -> Request {
        let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        Request {
            id: RequestId::new(7),
            requester: SlackUserId::parse("UALICE").unwrap(),
            resource: ResourceId::parse("analytics-ro").unwrap(),
            connector: crate::domain::ConnectorId::parse("manual").unwrap(),
            duration: GrantDuration::minutes(60),
            reason: None,
            identity: None,
            status: Status::Revoked,
            decided_by: Some("UBOB".into()),
            decided_at: None,
            decision_note: note.map(str::to_owned),
            active_since: None,
            expires_at: None,
            ended_at: None,
            end_reason: None,
            starts_at: None,
            slack_channel: None,
            slack_ts: None,
            version: 1,
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn the_holder_and_gatehouse_keep_the_plain_words_and_others_are_named() {
        let r = request(Some("incident <!here>"));
        let user = |u: &str| Actor::User(SlackUserId::parse(u).unwrap());
        assert_eq!(Ended::of(&r, Some(&user("UALICE")), false), None);
        assert_eq!(Ended::of(&r, Some(&Actor::System), false), None);
        assert_eq!(Ended::of(&r, None, false), None);
        let bob = Ended::of(&r, Some(&user("UBOB")), false).unwrap();
        assert_eq!(
            bob.holder_dm(&r, "Analytics", false),
            "🔒 <@UBOB> removed your access to *Analytics* (request #7): incident &lt;!here&gt;"
        );
        let operator = Ended::of(&request(None), Some(&Actor::Cli), false).unwrap();
        assert_eq!(
            operator.holder_dm(&request(None), "Analytics", false),
            "🔒 The Gatehouse operator removed your access to *Analytics* (request #7)."
        );
        assert_eq!(
            operator.status_line(),
            "🔒 *Revoked* by the Gatehouse operator — access removed"
        );
        let closed = Ended::of(&r, Some(&user("UADA")), true).unwrap();
        assert_eq!(
            closed.holder_dm(&r, "Analytics", true),
            "🔒 <@UADA> closed your request #7 for *Analytics*: incident &lt;!here&gt;"
        );
    }
}
