//! Asking for access: what a person submits (`Submission`, `Start`, `Via`), reading it against
//! the catalog (the resource named, "did you mean", the start, on-call), and `submit` /
//! `request_access`, which open the request (or ask to extend access already held).
//! Decisions on it are in `decisions`; ending it in `endings`.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::errors::MAX_REASON;
use super::{Workflow, WorkflowError};
use crate::audit::{self, Actor, Entry};
use crate::domain::{GrantDuration, ResourceId, SlackUserId, Status};
use crate::domain::{auto_approval, start};
use crate::jobs::JobSpec;
use crate::store::requests::{NewRequest, Request};
use crate::store::{self, StoreError};

/// A person's request, as typed in Slack (or on the command line).
#[derive(Debug, Clone)]
pub struct Submission<'a> {
    pub requester: &'a SlackUserId,
    /// As typed; matched against the catalog's ids.
    pub resource: &'a str,
    /// None: the resource's default.
    pub duration: Option<GrantDuration>,
    pub reason: Option<&'a str>,
    /// The platform identity to grant, when the requester named one.
    pub identity: Option<&'a str>,
    /// None: as soon as it is approved.
    pub start: Option<Start>,
}

/// When access is to start, as the person gave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// A moment picked in the form: Slack's date-time picker already gives one.
    At(DateTime<Utc>),
    /// Words typed on one line (`from tomorrow 9:00`), read in the writer's time zone.
    Words(start::When),
}

/// What became of someone's request for access.
#[derive(Debug)]
pub enum Submitted {
    /// A new request, waiting for its reviewers.
    New(Request),
    /// They already hold this access: their grant `request` is to be extended by `more`, which
    /// its reviewers decide (a request for what one holds is never a second grant).
    Extension {
        request: Request,
        more: GrantDuration,
    },
}

/// How a decision was made, for the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Reaction,
    Button,
    CommandLine,
    /// An admin granted the access directly (`/access-admin grant`).
    AdminGrant,
    /// Emergency access, granted at once and reviewed after.
    BreakGlass,
}

impl Via {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Via::Reaction => "reaction",
            Via::Button => "button",
            Via::CommandLine => "cli",
            Via::AdminGrant => "admin_grant",
            Via::BreakGlass => "break_glass",
        }
    }
}

impl Workflow {
    /// The catalog's resource with the id someone typed; a "did you mean" when there is none.
    pub(super) fn resource_named(
        &self,
        typed: &str,
    ) -> Result<&crate::config::Resource, WorkflowError> {
        let unknown = || WorkflowError::UnknownResource {
            name: typed.trim().to_owned(),
            suggestion: self.suggest(typed),
        };
        let id = ResourceId::parse(typed.trim()).map_err(|_| unknown())?;
        self.catalog.resource(&id).ok_or_else(unknown)
    }

    /// The on-call schedules named by `rules` that `person` is on call in now. A service that
    /// cannot answer counts as "not on call": the request waits for a reviewer instead.
    pub(super) async fn on_call_now(
        &self,
        person: &SlackUserId,
        rules: &[auto_approval::AutoRule],
    ) -> Vec<String> {
        let named: Vec<&String> = rules.iter().filter_map(|r| r.on_call.as_ref()).collect();
        if named.is_empty() {
            return Vec::new();
        }
        let email = match self.directory.email_of(person).await {
            Ok(Some(e)) => e,
            Ok(None) => return Vec::new(),
            Err(e) => {
                tracing::warn!(error = %e, "cannot look up the requester's email for an on-call rule; a reviewer decides");
                return Vec::new();
            }
        };
        let mut on = Vec::new();
        for id in named {
            let Some(service) = self.on_call.get(id) else {
                tracing::warn!(oncall = %id, "no on-call service is set up under this name; a reviewer decides");
                continue;
            };
            match service.on_call_now(&email).await {
                Ok(true) => on.push(id.clone()),
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(oncall = %id, error = %e, "cannot ask who is on call; a reviewer decides")
                }
            }
        }
        on
    }

    /// The moment `start` names, read in `writer`'s time zone (UTC when Slack does not say);
    /// None when access is to start as soon as it is approved.
    pub async fn starts_at(
        &self,
        writer: &SlackUserId,
        start: Option<Start>,
    ) -> Result<Option<DateTime<Utc>>, WorkflowError> {
        let now = self.clock.now();
        let at = match start {
            None => return Ok(None),
            Some(Start::At(at)) => start::check(at, now)?,
            Some(Start::Words(when)) => {
                let zone = match self.directory.time_zone_of(writer).await {
                    Ok(z) => z,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot look up the time zone; reading the start in UTC");
                        None
                    }
                };
                let tz = zone
                    .and_then(|z| z.parse::<chrono_tz::Tz>().ok())
                    .unwrap_or(chrono_tz::Tz::UTC);
                start::check(when.resolve(now, tz)?, now)?
            }
        };
        Ok(at)
    }

    /// The closest catalog id to what someone typed, for "did you mean".
    pub(super) fn suggest(&self, typed: &str) -> Option<ResourceId> {
        let typed = typed.trim().to_lowercase();
        self.catalog
            .resources
            .iter()
            .map(|r| {
                let by_id = strsim::normalized_levenshtein(&typed, r.id.as_str());
                let by_name = strsim::normalized_levenshtein(&typed, &r.name.to_lowercase());
                (by_id.max(by_name), &r.id)
            })
            .filter(|(score, _)| *score >= 0.5)
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, id)| id.clone())
    }

    /// A request for access as people make it: a new request, or, for access they already
    /// hold, a request to extend it.
    pub async fn request_access(&self, s: Submission<'_>) -> Result<Submitted, WorkflowError> {
        let existing = match self.submit(s.clone()).await {
            Ok(r) => return Ok(Submitted::New(r)),
            Err(WorkflowError::AlreadyOpen { existing, resource }) => (existing, resource),
            Err(e) => return Err(e),
        };
        let held = self.request(existing.0).await?;
        if held.status != Status::Active {
            return Err(WorkflowError::AlreadyOpen {
                existing: existing.0,
                resource: existing.1,
            });
        }
        // Access held now and asked for again from later: more time is asked for without a
        // start, so say so rather than guess how the two should join.
        if s.start.is_some() {
            return Err(WorkflowError::HeldAlready {
                resource: existing.1,
                existing: existing.0,
            });
        }
        let more = self.resource_of(&held)?.durations.resolve(s.duration)?;
        let request = self.ask_extension(held.id, s.requester, more).await?;
        Ok(Submitted::Extension { request, more })
    }

    #[tracing::instrument(name = "request", skip_all, fields(request_id = tracing::field::Empty))]
    pub async fn submit(&self, s: Submission<'_>) -> Result<Request, WorkflowError> {
        let resource = self.resource_named(s.resource)?;
        let id = resource.id.clone();
        let duration = resource.durations.resolve(s.duration)?;
        let reason = s.reason.map(str::trim).filter(|r| !r.is_empty());
        if resource.reason_required && reason.is_none() {
            return Err(WorkflowError::ReasonRequired(id));
        }
        if let Some(r) = reason
            && r.chars().count() > MAX_REASON
        {
            return Err(WorkflowError::ReasonTooLong(r.chars().count()));
        }
        let identity = s.identity.map(str::trim).filter(|i| !i.is_empty());
        // An account named when asking is held to what a reviewer may choose: the requester's
        // own, never someone else's nor a role whose members would all get the access.
        if let Some(account) = identity {
            if account.chars().count() > 255 {
                return Err(WorkflowError::BadIdentity);
            }
            let requester = super::identity_choice::Chooser::Requester;
            self.may_grant_to(
                &resource.connector,
                s.requester,
                s.requester,
                account,
                requester,
            )
            .await?;
        }
        let starts_at = self.starts_at(s.requester, s.start).await?;
        self.require_requester(s.requester, resource).await?;

        let now = self.clock.now();
        let new = NewRequest {
            requester: s.requester,
            resource: &resource.id,
            connector: &resource.connector,
            duration,
            reason,
            identity,
            starts_at,
        };
        let actor = Actor::User(s.requester.clone());
        let details = json!({ "identity": identity, "starts_at": starts_at });
        let (tx, request) = self.open_request(new, &actor, details, now).await?;
        let first = if resource.auto_approve.is_empty() {
            let lapse = JobSpec::Lapse {
                request: request.id,
            };
            let lapse_at = super::nudge_at(&request, resource.lapse_after);
            let notices = self.submitted_jobs(request.id, resource);
            notices
                .into_iter()
                .map(|n| (n, now))
                .chain([(lapse, lapse_at)])
                .collect()
        } else {
            // Auto-approval asks Slack and on-call services, which the submission's ack must
            // not wait for: its job checks the rules, then approves or posts the card.
            let check = JobSpec::AutoApproval {
                request: request.id,
            };
            vec![(check, now)]
        };
        crate::jobs::enqueue_first(&tx, &first, self.max_attempts, now).await?;
        self.commit(tx, true).await?;
        tracing::info!(request = %request.id, resource = %resource.id, "request submitted");
        Ok(request)
    }

    /// Opens a transaction, inserts the request and its `requested` audit row (`details` added
    /// to the resource, duration and reason), and names the request in the current span. A
    /// request already open for the same person and resource is refused, naming it.
    pub(super) async fn open_request(
        &self,
        new: NewRequest<'_>,
        actor: &Actor,
        details: serde_json::Value,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(store::Tx, Request), WorkflowError> {
        let tx = self.db.begin_foreground().await?;
        let request = match store::requests::insert(&tx, new, now).await {
            Ok(r) => r,
            Err(e) if e.is_unique_violation() => {
                // SQLite has one connection: let it go before looking the open request up.
                drop(tx);
                return Err(self.already_open(new.requester, new.resource).await);
            }
            Err(e) => return Err(e.into()),
        };
        tracing::Span::current().record("request_id", request.id.get());
        let mut all = json!({
            "resource": new.resource,
            "duration": new.duration,
            "reason": new.reason,
        });
        if let (Some(all), Some(extra)) = (all.as_object_mut(), details.as_object()) {
            all.extend(extra.clone());
        }
        audit::record(
            &tx,
            now,
            Entry::new(actor, "requested", all).about(request.id),
        )
        .await?;
        Ok((tx, request))
    }

    pub(super) async fn already_open(
        &self,
        requester: &SlackUserId,
        resource: &ResourceId,
    ) -> WorkflowError {
        match store::requests::find_open(self.db.reads(), requester, resource).await {
            Ok(Some(existing)) => WorkflowError::AlreadyOpen {
                resource: resource.clone(),
                existing: existing.id,
            },
            Ok(None) => WorkflowError::Store(StoreError::Corrupt(
                "an open request was reported but cannot be found".into(),
            )),
            Err(e) => e.into(),
        }
    }
}
