//! "Does X have access to Y?": answers with their reasons. Gatehouse's own record (which
//! request, approved by whom, until when) is put beside what the platform says right now (a
//! live check, bounded in time), and any difference between the two is named. Anyone may ask
//! about themselves; asking about others follows the catalog's `ask_about_others`, and every
//! such question is audited.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;

use super::{Workflow, WorkflowError};
use crate::audit::{self, Actor, Entry};
use crate::config::{ConnectorKind, Resource};
use crate::domain::policy::{self, Refusal, Who};
use crate::domain::question::{Question, Subject};
use crate::domain::{SlackUserId, Status};
use crate::store;
use crate::store::requests::Request;

/// How long a live check may take before the answer says the platform did not answer.
pub const LIVE_CHECK_LIMIT: Duration = Duration::from_secs(3);

/// The states in which a request's access is (or is about to be) on the platform.
const LIVE: [Status; 3] = [Status::Active, Status::Revoking, Status::Provisioning];

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Asker {
    Slack(SlackUserId),
    /// The operator at the command line, who can read the database anyway: an admin.
    CommandLine,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResourceRef {
    pub id: String,
    pub name: String,
    pub connector: String,
}

/// The Gatehouse grant behind someone's access.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GrantFact {
    pub request: i64,
    pub status: String,
    pub approved_by: Option<String>,
    pub active_since: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// What the platform said just now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Live {
    /// Held: directly, and/or through the roles or groups named.
    Held {
        direct: bool,
        through: Vec<String>,
    },
    NotHeld,
    /// The platform failed or was too slow; its words.
    NoAnswer {
        error: String,
    },
    /// There is nothing to ask (a manual connector) or no one to ask about (no platform user).
    CannotCheck {
        why: String,
    },
}

/// One person's access to one resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessFact {
    pub user: String,
    pub resource: ResourceRef,
    /// The platform user the answer is about.
    pub identity: Option<String>,
    pub grant: Option<GrantFact>,
    pub platform: Live,
    pub has_access: bool,
    /// Where Gatehouse's record and the platform disagree.
    pub drift: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "question", rename_all = "snake_case")]
pub enum Answer {
    Check(AccessFact),
    Expiry(AccessFact),
    AccessOf {
        user: String,
        items: Vec<AccessFact>,
        /// Resources left out because the asker may not ask about them.
        hidden: usize,
    },
    WhoHas {
        resource: ResourceRef,
        holders: Vec<AccessFact>,
    },
}

impl Workflow {
    /// Answers `question` for `asker`, checking that they may ask it.
    ///
    /// The may-ask rule is applied before anyone is looked up: a person named in plain words is
    /// resolved (platform users, links) only for an asker who may ask about others, so a refused
    /// asker gets the same refusal whether or not the name exists, and no platform is asked.
    pub async fn answer(
        &self,
        asker: &Asker,
        question: &Question,
    ) -> Result<Answer, WorkflowError> {
        let resource = match question {
            Question::Check { resource, .. }
            | Question::Expiry { resource, .. }
            | Question::WhoHas { resource } => Some(self.find_resource(resource)?),
            Question::AccessOf { .. } => None,
        };
        // Who the question is about, as far as it can be told without a look-up.
        let known = match question.subject() {
            None => None,
            Some(Subject::User(u)) => Some(u.clone()),
            Some(Subject::Named(name)) => SlackUserId::parse(name.trim()).ok(),
            Some(Subject::Me) => match asker {
                Asker::Slack(u) => Some(u.clone()),
                Asker::CommandLine => {
                    return Err(WorkflowError::UnknownPerson {
                        name: "me".into(),
                        suggestions: Vec::new(),
                    });
                }
            },
        };
        let named = match question.subject() {
            Some(Subject::Named(name)) if known.is_none() => Some(name),
            _ => None,
        };
        // A name not yet resolved is judged as someone else: only who may ask about others
        // gets it looked up.
        self.may_ask(asker, known.as_ref(), resource).await?;
        let subject = match named {
            Some(name) => Some(self.find_person(name).await?),
            None => known,
        };
        self.audit_question(asker, subject.as_ref(), resource, question)
            .await?;
        Ok(match (question, subject, resource) {
            (Question::Check { .. }, Some(user), Some(r)) => {
                Answer::Check(self.access_fact(&user, r).await?)
            }
            (Question::Expiry { .. }, Some(user), Some(r)) => {
                Answer::Expiry(self.access_fact(&user, r).await?)
            }
            (Question::AccessOf { .. }, Some(user), _) => self.access_of(asker, &user).await?,
            (Question::WhoHas { .. }, _, Some(r)) => self.who_has(r).await?,
            _ => {
                return Err(WorkflowError::Platform(
                    "a question without the person or resource it needs".into(),
                ));
            }
        })
    }

    /// A catalog resource by id, name, or the platform name it grants; else the closest id.
    pub fn find_resource(&self, typed: &str) -> Result<&Resource, WorkflowError> {
        let t = typed.trim().to_lowercase();
        let all = &self.catalog.resources;
        all.iter()
            .find(|r| r.id.as_str() == t)
            .or_else(|| all.iter().find(|r| r.name.to_lowercase() == t))
            .or_else(|| all.iter().find(|r| r.grant.name().to_lowercase() == t))
            .ok_or_else(|| WorkflowError::UnknownResource {
                name: typed.trim().to_owned(),
                suggestion: self.suggest(typed),
            })
    }

    /// The Slack user a name on the command line means: a Slack ID, or a platform user's
    /// name, id or email that someone is linked to.
    pub async fn find_person(&self, typed: &str) -> Result<SlackUserId, WorkflowError> {
        let t = typed.trim();
        if let Ok(id) = SlackUserId::parse(t) {
            return Ok(id);
        }
        let c = self.db.reads();
        let found = store::identities::search(c, t, 50).await?;
        let exact: Vec<String> = found
            .iter()
            .filter(|i| {
                i.platform_id.eq_ignore_ascii_case(t)
                    || i.name.eq_ignore_ascii_case(t)
                    || i.email
                        .as_deref()
                        .is_some_and(|e| e.eq_ignore_ascii_case(t))
            })
            .map(|i| i.platform_id.clone())
            .collect();
        let links = store::links::to_identities(c, &exact).await?;
        let mut people: Vec<&str> = links.iter().map(|l| l.slack_user.as_str()).collect();
        people.sort_unstable();
        people.dedup();
        match people.as_slice() {
            [one] => SlackUserId::parse(one).map_err(|_| WorkflowError::UnknownPerson {
                name: t.to_owned(),
                suggestions: Vec::new(),
            }),
            _ => Err(WorkflowError::UnknownPerson {
                name: t.to_owned(),
                suggestions: self.people_like(t).await?,
            }),
        }
    }

    /// The linked platform users whose name or email is closest to `typed`, for "did you mean".
    async fn people_like(&self, typed: &str) -> Result<Vec<String>, WorkflowError> {
        let c = self.db.reads();
        let typed = typed.to_lowercase();
        let mut scored: Vec<(f64, String)> = Vec::new();
        for i in store::identities::search(c, "", 10_000).await? {
            if i.kind != "user" || i.missing_since.is_some() {
                continue;
            }
            let name = strsim::normalized_levenshtein(&typed, &i.name.to_lowercase());
            let local = i
                .email
                .as_deref()
                .and_then(|e| e.split('@').next())
                .map(|l| strsim::normalized_levenshtein(&typed, &l.to_lowercase()))
                .unwrap_or(0.0);
            let score = name.max(local);
            if score >= 0.5 && !scored.iter().any(|(_, n)| *n == i.name) {
                scored.push((score, i.name));
            }
        }
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        Ok(scored.into_iter().take(3).map(|(_, n)| n).collect())
    }

    async fn may_ask(
        &self,
        asker: &Asker,
        subject: Option<&SlackUserId>,
        resource: Option<&Resource>,
    ) -> Result<(), WorkflowError> {
        let Asker::Slack(user) = asker else {
            return Ok(());
        };
        // Other people's access is for full members of the workspace only: a guest, an
        // external account or a bot named as a reviewer asks about itself alone.
        if subject != Some(user)
            && let Err(WorkflowError::NotAllowed(_)) = self.require_member(user).await
        {
            return Err(Refusal::AskOnlyAboutYourself(self.catalog.ask_about_others.who()).into());
        }
        let groups = self.groups_of(user).await?;
        let admins = self.admins(self.db.reads()).await?;
        let reviewers = match resource {
            Some(r) => Some(self.reviewers_of(self.db.reads(), r).await?),
            // Everything someone has (no one resource) is for those who review something: the
            // answer lists only what they review, and a stranger would learn who is linked.
            None if subject != Some(user) => {
                let mut all = Vec::new();
                for r in &self.catalog.resources {
                    all.extend(self.reviewers_of(self.db.reads(), r).await?);
                }
                Some(all)
            }
            None => None,
        };
        policy::may_ask_about(
            Who {
                user,
                groups: &groups,
            },
            subject,
            reviewers.as_deref(),
            &admins,
            self.catalog.ask_about_others,
        )?;
        Ok(())
    }

    /// Questions about other people are audited: who asked what about whom.
    async fn audit_question(
        &self,
        asker: &Asker,
        subject: Option<&SlackUserId>,
        resource: Option<&Resource>,
        question: &Question,
    ) -> Result<(), WorkflowError> {
        let actor = match asker {
            Asker::Slack(u) if subject == Some(u) => return Ok(()),
            Asker::Slack(u) => Actor::User(u.clone()),
            Asker::CommandLine => Actor::Cli,
        };
        let kind = match question {
            Question::Check { .. } => "check",
            Question::Expiry { .. } => "expiry",
            Question::AccessOf { .. } => "access_of",
            Question::WhoHas { .. } => "who_has",
        };
        let tx = self.db.begin().await?;
        audit::record(
            &tx,
            self.clock.now(),
            Entry::new(
                &actor,
                "access_question",
                json!({
                    "question": kind,
                    "about": subject,
                    "resource": resource.map(|r| r.id.as_str()),
                }),
            ),
        )
        .await?;
        self.commit(tx, false).await
    }

    /// Gatehouse's record and the platform's word on `user`'s access to `resource`.
    async fn access_fact(
        &self,
        user: &SlackUserId,
        resource: &Resource,
    ) -> Result<AccessFact, WorkflowError> {
        let grant = store::requests::list_by_requester(self.db.reads(), user)
            .await?
            .into_iter()
            .filter(|r| r.resource == resource.id)
            .filter(|r| LIVE.contains(&r.status))
            .max_by_key(|r| r.id.get());
        // A live grant is checked as it was granted (its record's connector, identity and
        // unit), whatever the catalog says of the resource now.
        let record = match &grant {
            Some(g) => store::grants::live_for_request(self.db.reads(), g.id.get()).await?,
            None => None,
        };
        let (connector, unit) = match &record {
            Some(r) => (r.connector()?, r.unit()?),
            None => (resource.connector.clone(), resource.grant.clone()),
        };
        let platform_connector = self
            .catalog
            .connectors
            .get(&connector)
            .is_some_and(|c| c.kind != ConnectorKind::Manual);
        let identity = match record
            .as_ref()
            .map(|r| r.identity.clone())
            .or_else(|| grant.as_ref().and_then(|g| g.identity.clone()))
        {
            Some(i) => Some(i),
            None if platform_connector => self
                .linked_identity(user, &connector)
                .await?
                .map(|l| l.platform_id),
            None => None,
        };
        let platform = if !platform_connector {
            Live::CannotCheck {
                why: "changes to it are made by hand, so there is no platform to ask".into(),
            }
        } else if let Some(identity) = &identity {
            self.live_check(&connector, &unit, identity).await
        } else {
            Live::CannotCheck {
                why: format!(
                    "no user on `{}` is linked to them, so the platform cannot be asked",
                    resource.connector
                ),
            }
        };
        Ok(fact(user, resource, identity, grant.as_ref(), platform))
    }

    async fn live_check(
        &self,
        connector: &crate::domain::ConnectorId,
        unit: &crate::domain::Unit,
        identity: &str,
    ) -> Live {
        // From the questions' own budget: a burst of "who has X" never delays a revocation.
        let asked = self
            .provisioner
            .check_for_question(connector, identity, unit);
        match tokio::time::timeout(LIVE_CHECK_LIMIT, asked).await {
            Ok(Ok(Some(h))) if h.held() => Live::Held {
                direct: h.direct,
                through: h.through,
            },
            Ok(Ok(Some(_))) => Live::NotHeld,
            Ok(Ok(None)) => Live::CannotCheck {
                why: "its connector cannot be asked".into(),
            },
            Ok(Err(e)) => Live::NoAnswer {
                error: e.to_string(),
            },
            Err(_) => Live::NoAnswer {
                error: format!(
                    "the platform did not answer within {} s",
                    LIVE_CHECK_LIMIT.as_secs()
                ),
            },
        }
    }

    /// Everything `user` has access to that the asker may see: what Gatehouse granted, and on
    /// each platform where they are linked, what the platform says for every resource.
    async fn access_of(&self, asker: &Asker, user: &SlackUserId) -> Result<Answer, WorkflowError> {
        let c = self.db.reads();
        let granted: Vec<Request> = store::requests::list_by_requester(c, user)
            .await?
            .into_iter()
            .filter(|r| LIVE.contains(&r.status))
            .collect();
        let linked: Vec<String> = store::links::of_user(c, user.as_str())
            .await?
            .into_iter()
            .map(|l| l.connector_id)
            .collect();
        let mut candidates = Vec::new();
        let mut hidden = 0;
        for r in &self.catalog.resources {
            let relevant = granted.iter().any(|g| g.resource == r.id)
                || linked.iter().any(|c| c == r.connector.as_str());
            if !relevant {
                continue;
            }
            if self.may_ask(asker, Some(user), Some(r)).await.is_err() {
                hidden += 1;
                continue;
            }
            candidates.push(r);
        }
        let facts =
            futures::future::join_all(candidates.iter().map(|r| self.access_fact(user, r))).await;
        let mut items = Vec::new();
        for f in facts {
            let f = f?;
            if f.has_access || f.grant.is_some() || f.drift.is_some() {
                items.push(f);
            }
        }
        Ok(Answer::AccessOf {
            user: user.to_string(),
            items,
            hidden,
        })
    }

    /// Everyone with access to `resource`: Gatehouse's grants, and the linked people the
    /// platform says hold it.
    async fn who_has(&self, resource: &Resource) -> Result<Answer, WorkflowError> {
        let c = self.db.reads();
        let mut people: Vec<SlackUserId> = Vec::new();
        for status in LIVE {
            for r in store::requests::list_by_status(c, status).await? {
                if r.resource == resource.id && !people.contains(&r.requester) {
                    people.push(r.requester);
                }
            }
        }
        for l in store::links::of_connector(c, resource.connector.as_str()).await? {
            if let Ok(u) = SlackUserId::parse(&l.slack_user)
                && !people.contains(&u)
            {
                people.push(u);
            }
        }
        let facts =
            futures::future::join_all(people.iter().map(|u| self.access_fact(u, resource))).await;
        let mut holders = Vec::new();
        for f in facts {
            let f = f?;
            if f.has_access || f.drift.is_some() {
                holders.push(f);
            }
        }
        Ok(Answer::WhoHas {
            resource: resource_ref(resource),
            holders,
        })
    }
}

fn resource_ref(r: &Resource) -> ResourceRef {
    ResourceRef {
        id: r.id.to_string(),
        name: r.name.clone(),
        connector: r.connector.to_string(),
    }
}

/// Puts the record and the platform's word together, naming any drift between them.
fn fact(
    user: &SlackUserId,
    resource: &Resource,
    identity: Option<String>,
    grant: Option<&Request>,
    platform: Live,
) -> AccessFact {
    let active = grant.is_some_and(|g| g.status == Status::Active);
    let drift = match (&platform, grant) {
        (Live::NotHeld, Some(g)) if active => Some(format!(
            "Gatehouse granted it (request #{}), but the platform no longer has it",
            g.id.get()
        )),
        (Live::Held { direct: true, .. }, None) => {
            Some("the platform gives it directly, but not through a Gatehouse grant".into())
        }
        _ => None,
    };
    let has_access = match &platform {
        Live::Held { .. } => true,
        Live::NotHeld => false,
        Live::NoAnswer { .. } | Live::CannotCheck { .. } => active,
    };
    AccessFact {
        user: user.to_string(),
        resource: resource_ref(resource),
        identity,
        grant: grant.map(|g| GrantFact {
            request: g.id.get(),
            status: g.status.as_str().to_owned(),
            approved_by: g.decided_by.clone(),
            active_since: g.active_since,
            expires_at: g.expires_at,
        }),
        platform,
        has_access,
        drift,
    }
}
