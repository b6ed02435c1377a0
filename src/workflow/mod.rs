//! The use cases: submit, approve, deny, cancel, provision, revoke, expire, extend, retry.
//! Each decision is one transaction that writes the new status, its audit row and the jobs it
//! causes, so a crash at any point loses nothing and repeats nothing harmful.

mod admin_grant;
mod answers;
mod approvals;
mod break_glass;
mod by_hand;
mod catalog_edits;
mod decisions;
mod endings;
mod errors;
mod extension;
mod grant_record;
mod identities;
mod identity_choice;
mod linking;
mod platform_readiness;
mod ports;
mod provisioning;
mod queries;
mod reconcile;
mod requesters;
mod requests;
mod reviewers;
mod revocation;
mod runner;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;

use crate::audit::{self, Actor, Entry};
use crate::clock::SharedClock;
use crate::config::{Catalog, Resource};
use crate::domain::{ConnectorId, Event, GroupId, Principal, RequestId, SlackUserId, transition};
use crate::jobs::{self, JobSpec};
use crate::store::requests::{Changes, Request};
use crate::store::roles::{self, AppRole};
use crate::store::{self, Db, Tx};

pub use crate::domain::{Audience, Notice};
pub use crate::platform::{
    Applied, ExternalError, Holding, PlatformIdentity, Provisioner, Readiness, Target, Undo,
};
pub use admin_grant::{AdminGrant, AdminGranted};
pub use answers::{AccessFact, Answer, Asker, GrantFact, LIVE_CHECK_LIMIT, Live, ResourceRef};
pub use break_glass::BREAK_GLASS;
pub use by_hand::Task as ByHandTask;
pub use catalog_edits::{CatalogEdits, Edited, catalog_edits};
pub use errors::{Field, WorkflowError};
pub use extension::Answer as ExtensionAnswer;
pub use identities::IdentityPicker;
pub use linking::PersonAccess;
pub use platform_readiness::{
    PlatformReport, READINESS_LIMIT, ResourceReadiness, Verdict, platform_readiness,
};
pub use ports::{
    Delivery, Directory, Membership, MessageRef, NoGroups, NoticeContext, Notifier, Progress,
};
pub use queries::FoundIdentity;
pub use reconcile::Drift;
pub use requests::{Start, Submission, Submitted, Via};
pub use reviewers::Scope;

/// On-call services by the catalog's `[oncall.<id>]`.
pub type OnCallServices = std::collections::HashMap<String, Arc<dyn crate::oncall::OnCall>>;

/// How an automatic approval's note begins (the rule follows), so that people are shown
/// Gatehouse and the rule as the decider.
pub const AUTO_APPROVED: &str = "auto-approved";

/// How `workflow` reaches the rest of the app.
pub struct Workflow {
    db: Db,
    catalog: Arc<Catalog>,
    clock: SharedClock,
    admins: Vec<Principal>,
    directory: Arc<dyn Directory>,
    provisioner: Arc<dyn Provisioner>,
    notifier: Option<Arc<dyn Notifier>>,
    max_attempts: u32,
    reconcile_every: std::time::Duration,
    wake: Arc<Notify>,
    metrics: Arc<crate::metrics::Metrics>,
    on_call: OnCallServices,
    /// The last `check_platforms` report, for App Home.
    platforms: std::sync::Mutex<Option<PlatformReport>>,
}

pub struct WorkflowDeps {
    pub db: Db,
    pub catalog: Arc<Catalog>,
    pub clock: SharedClock,
    /// Admins from the environment; the catalog's are added.
    pub admins: Vec<Principal>,
    pub directory: Arc<dyn Directory>,
    pub provisioner: Arc<dyn Provisioner>,
    /// None: nobody is told anything (no Slack configured); no notification jobs are queued.
    pub notifier: Option<Arc<dyn Notifier>>,
    pub max_attempts: u32,
    /// How often each platform is compared with the live grants.
    pub reconcile_every: std::time::Duration,
    /// Notified after a commit that added jobs.
    pub wake: Arc<Notify>,
    /// Provisioning and revocation latencies are recorded here.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// On-call services by `[oncall.<id>]`, for auto-approval rules that name one.
    pub on_call: OnCallServices,
}

/// One step of a request's life, applied by `Workflow::apply`.
struct Step<'a> {
    actor: &'a Actor,
    event: Event,
    changes: Changes,
    details: serde_json::Value,
    jobs: Vec<(JobSpec, DateTime<Utc>)>,
}

impl<'a> Step<'a> {
    /// `event` by `actor`, changing nothing but the status, with no details and no jobs.
    fn new(actor: &'a Actor, event: Event) -> Self {
        Step {
            actor,
            event,
            changes: Changes::default(),
            details: serde_json::json!({}),
            jobs: Vec::new(),
        }
    }

    fn changes(self, changes: Changes) -> Self {
        Step { changes, ..self }
    }

    fn details(self, details: serde_json::Value) -> Self {
        Step { details, ..self }
    }

    fn jobs(self, jobs: Vec<(JobSpec, DateTime<Utc>)>) -> Self {
        Step { jobs, ..self }
    }
}

impl Workflow {
    pub fn new(deps: WorkflowDeps) -> Self {
        let mut admins = deps.admins;
        for a in &deps.catalog.admins {
            if !admins.contains(a) {
                admins.push(a.clone());
            }
        }
        Workflow {
            db: deps.db,
            catalog: deps.catalog,
            clock: deps.clock,
            admins,
            directory: deps.directory,
            provisioner: deps.provisioner,
            notifier: deps.notifier,
            max_attempts: deps.max_attempts,
            reconcile_every: deps.reconcile_every,
            wake: deps.wake,
            metrics: deps.metrics,
            on_call: deps.on_call,
            platforms: std::sync::Mutex::new(None),
        }
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    pub fn metrics(&self) -> &Arc<crate::metrics::Metrics> {
        &self.metrics
    }

    /// The platform kind of a connector (`postgres`, `looker`…), for metrics labels.
    pub(crate) fn platform_of(&self, connector: &ConnectorId) -> &'static str {
        self.catalog
            .connectors
            .get(connector)
            .map(|c| c.kind.name())
            .unwrap_or("unknown")
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub async fn request(&self, id: RequestId) -> Result<Request, WorkflowError> {
        store::requests::get(self.db.reads(), id)
            .await?
            .ok_or(WorkflowError::NotFound(id))
    }

    /// When to remind the holder of `req`, whose access ends at `expires_at`.
    fn reminder_at(&self, req: &Request, expires_at: DateTime<Utc>) -> DateTime<Utc> {
        let before = self
            .catalog
            .resource(&req.resource)
            .map(|r| r.remind_before)
            .unwrap_or(crate::domain::GrantDuration::minutes(60));
        reminder_at(before, req.duration, expires_at)
    }

    fn resource_of(&self, req: &Request) -> Result<&Resource, WorkflowError> {
        self.catalog
            .resource(&req.resource)
            .ok_or_else(|| WorkflowError::ResourceGone(req.resource.clone()))
    }

    /// The request's resource, or, once the catalog no longer has it, what its grant record
    /// says of it: requests made before an edit are still told about and ended.
    /// Read through `c`: inside a decision's transaction, its own (SQLite has one connection).
    async fn resource_or_record(
        &self,
        c: &impl store::Conn,
        req: &Request,
    ) -> Result<std::borrow::Cow<'_, Resource>, WorkflowError> {
        if let Some(r) = self.catalog.resource(&req.resource) {
            return Ok(std::borrow::Cow::Borrowed(r));
        }
        let recorded = store::grants::latest_for_request(c, req.id.get()).await?;
        let (connector, unit) = match recorded {
            Some(g) => (g.connector()?, g.unit()?),
            None => (
                req.connector.clone(),
                crate::domain::Unit::Task {
                    task: format!("access to {}", req.resource),
                },
            ),
        };
        Ok(std::borrow::Cow::Owned(Resource::removed(
            req.resource.clone(),
            connector,
            unit,
        )))
    }

    /// The user groups that matter (named as reviewers or admins anywhere) that `user` is in.
    async fn groups_of(&self, user: &SlackUserId) -> Result<Vec<GroupId>, WorkflowError> {
        let mut candidates: Vec<GroupId> = Vec::new();
        // The environment's admins, then everyone the catalog names.
        let mut named: Vec<Principal> = self.admins.clone();
        named.extend(self.catalog.named_principals());
        let added = roles::all(self.db.reads())
            .await?
            .into_iter()
            .map(|g| g.principal);
        for p in named.into_iter().chain(added) {
            if let Principal::Group(g) = p
                && !candidates.contains(&g)
            {
                candidates.push(g);
            }
        }
        let mut mine = Vec::new();
        for g in candidates {
            let members = self
                .directory
                .members_of(&g)
                .await
                .map_err(WorkflowError::Directory)?;
            if members.contains(user) {
                mine.push(g);
            }
        }
        Ok(mine)
    }

    /// "The reviewers of R", the one set every decision uses: the catalog's `reviewers`, every
    /// approval stage's reviewers, and those added from Slack.
    async fn reviewers_of(
        &self,
        tx: &impl store::Conn,
        resource: &Resource,
    ) -> Result<Vec<Principal>, WorkflowError> {
        let mut all = resource.all_reviewers();
        for g in roles::holders(tx, AppRole::Reviewer, resource.id.as_str()).await? {
            if !all.contains(&g.principal) {
                all.push(g.principal);
            }
        }
        Ok(all)
    }

    async fn admins(&self, tx: &impl store::Conn) -> Result<Vec<Principal>, WorkflowError> {
        let mut all = self.admins.clone();
        for g in roles::holders(tx, AppRole::Admin, roles::ALL_RESOURCES).await? {
            if !all.contains(&g.principal) {
                all.push(g.principal);
            }
        }
        Ok(all)
    }

    /// Refuses unless `by` is an admin (from the environment, the catalog, or added from Slack).
    async fn require_admin(&self, by: &SlackUserId) -> Result<(), WorkflowError> {
        let groups = self.groups_of(by).await?;
        let admins = self.admins(self.db.reads()).await?;
        crate::domain::policy::may_administer(
            crate::domain::policy::Who {
                user: by,
                groups: &groups,
            },
            &admins,
        )?;
        Ok(())
    }

    /// The request as one decision sees it: its row is locked until `tx` ends, so deciders
    /// take turns (one decider per request) and each sees the last one's effect.
    async fn load(&self, tx: &Tx, id: RequestId) -> Result<Request, WorkflowError> {
        store::requests::get_for_update(tx, id)
            .await?
            .ok_or(WorkflowError::NotFound(id))
    }

    /// Moves `current` through `step.event`, guarded by the status and version read, and writes
    /// its audit row and jobs in `tx`. Nothing is written when the move is illegal.
    async fn apply(
        &self,
        tx: &Tx,
        current: &Request,
        step: Step<'_>,
    ) -> Result<Request, WorkflowError> {
        let to = transition(current.status, step.event)?;
        let now = self.clock.now();
        if !store::requests::update_guarded(tx, current, to, step.changes, now).await? {
            return Err(WorkflowError::Conflict(current.id));
        }
        let mut details = step.details;
        if let Some(map) = details.as_object_mut() {
            map.insert("from".into(), current.status.as_str().into());
            map.insert("to".into(), to.as_str().into());
        }
        audit::record(
            tx,
            now,
            Entry::new(step.actor, step.event.action(), details).about(current.id),
        )
        .await?;
        // Jobs run in lanes (`JobSpec::lane`): the requester's DM, the card and the platform's
        // work do not wait for one another; within a lane, in the order queued here.
        if let Some(notice) = notice_for(step.event) {
            let now_granted = notice == Notice::Approved && self.granted_at_once(current, now);
            for spec in self.notice_jobs(current.id, notice) {
                // Approved and granted is one DM to its requester, the grant's.
                let said_by_the_grant = matches!(
                    spec,
                    JobSpec::Notify {
                        audience: Audience::Requester,
                        ..
                    }
                ) && now_granted;
                if !said_by_the_grant {
                    jobs::enqueue(tx, &spec, now, self.max_attempts, now).await?;
                }
            }
        }
        for (spec, at) in &step.jobs {
            jobs::enqueue(tx, spec, *at, self.max_attempts, now).await?;
        }
        self.load(tx, current.id).await
    }

    /// The jobs that keep an active grant honest: its revocation at expiry, and the reminder
    /// before it when there is someone to remind (a notifier).
    fn expiry_jobs(
        &self,
        current: &Request,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Vec<(JobSpec, DateTime<Utc>)> {
        let id = current.id;
        let mut jobs = vec![(JobSpec::Revoke { request: id }, expires_at)];
        let remind = self.reminder_at(current, expires_at);
        if self.notifier.is_some() && remind > now {
            jobs.push((JobSpec::Remind { request: id }, remind));
        }
        jobs
    }

    /// Whether an approval of `r` is granted as soon as the platform answers, so that its
    /// requester hears once, when the access is theirs ("you now have access", naming who
    /// approved), or when granting fails, or when a reviewer must choose the account. Not when it
    /// waits for its start or for an admin's hands: then "approved" is news of its own.
    fn granted_at_once(&self, r: &Request, now: DateTime<Utc>) -> bool {
        r.starts_at.is_none_or(|at| at <= now) && !self.provisioner.by_hand(&r.connector)
    }

    /// Queues the deliveries of `notice`, one job per audience, when there is a notifier.
    async fn enqueue_notices(
        &self,
        tx: &Tx,
        id: RequestId,
        notice: Notice,
    ) -> Result<(), WorkflowError> {
        let now = self.clock.now();
        for spec in self.notice_jobs(id, notice) {
            jobs::enqueue(tx, &spec, now, self.max_attempts, now).await?;
        }
        Ok(())
    }

    /// The jobs that tell of a new request that waits for its reviewers: its card, and for a
    /// resource with `notify_reviewers = "dm"` a DM to each who can approve it.
    fn submitted_jobs(&self, id: RequestId, resource: &Resource) -> Vec<JobSpec> {
        let mut jobs = self.notice_jobs(id, Notice::Submitted);
        if !jobs.is_empty() && resource.notify_reviewers == crate::config::NotifyReviewers::Dm {
            jobs.push(JobSpec::Notify {
                request: id,
                notice: Notice::Submitted,
                audience: Audience::Reviewers,
            });
        }
        jobs
    }

    /// The jobs that tell each audience of `notice` (none without Slack).
    fn notice_jobs(&self, id: RequestId, notice: Notice) -> Vec<JobSpec> {
        if self.notifier.is_none() {
            return Vec::new();
        }
        notice
            .audiences()
            .iter()
            .map(|audience| JobSpec::Notify {
                request: id,
                notice,
                audience: *audience,
            })
            .collect()
    }

    /// The request whose channel message this is, if any.
    pub async fn request_by_message(
        &self,
        channel: &str,
        ts: &str,
    ) -> Result<Option<Request>, WorkflowError> {
        Ok(store::requests::find_by_message(self.db.reads(), channel, ts).await?)
    }

    /// The whole of a step that needs nothing else read or written: loads request `id` for
    /// update in `tx`, lets `decide` refuse or choose the step from what it holds, applies the
    /// step and commits.
    async fn transition<'a>(
        &self,
        tx: Tx,
        id: RequestId,
        decide: impl FnOnce(&Request) -> Result<Step<'a>, WorkflowError>,
    ) -> Result<Request, WorkflowError> {
        let current = self.load(&tx, id).await?;
        let step = decide(&current)?;
        let updated = self.apply(&tx, &current, step).await?;
        self.commit(tx, true).await?;
        Ok(updated)
    }

    /// A reviewer's decision as they will hear of it: logged when it stands, else explained by
    /// the status that won the race (`explain_conflict`).
    async fn settle(
        &self,
        id: RequestId,
        event: Event,
        by: &SlackUserId,
        via: Via,
        result: Result<Request, WorkflowError>,
    ) -> Result<Request, WorkflowError> {
        match result {
            Ok(r) => {
                tracing::info!(by = %by, via = via.as_str(), "request {}", event.action());
                Ok(r)
            }
            Err(e) => Err(self.explain_conflict(id, event, e).await),
        }
    }

    /// Queues `job(connector)` of each connector at `at`, unless one is queued already for
    /// sooner: for the jobs that repeat on their own, scheduled again at every start.
    async fn schedule_each(
        &self,
        connectors: &[ConnectorId],
        at: DateTime<Utc>,
        job: impl Fn(ConnectorId) -> JobSpec,
    ) -> Result<(), WorkflowError> {
        if connectors.is_empty() {
            return Ok(());
        }
        let now = self.clock.now();
        let tx = self.db.begin().await?;
        for c in connectors {
            let spec = job(c.clone());
            jobs::enqueue_unless_sooner(&tx, &spec, at, self.max_attempts, now).await?;
        }
        self.commit(tx, true).await
    }

    /// Commits, then wakes the job worker if the step added jobs.
    async fn commit(&self, tx: Tx, woke_jobs: bool) -> Result<(), WorkflowError> {
        tx.commit().await.map_err(store::StoreError::from)?;
        if woke_jobs {
            self.wake.notify_one();
        }
        Ok(())
    }

    /// After a guarded write lost a race: explain with the status that won, when it forbids the event.
    async fn explain_conflict(
        &self,
        id: RequestId,
        event: Event,
        err: WorkflowError,
    ) -> WorkflowError {
        if !matches!(err, WorkflowError::Conflict(_)) {
            return err;
        }
        match self.request(id).await {
            Ok(now) => match transition(now.status, event) {
                Err(illegal) => WorkflowError::Illegal(illegal),
                Ok(_) => err,
            },
            Err(_) => err,
        }
    }
}

/// When to remind the holder before `expires_at`: `before` it (the resource's `remind_before`),
/// or halfway through shorter grants.
pub fn reminder_at(
    before: crate::domain::GrantDuration,
    duration: crate::domain::GrantDuration,
    expires_at: DateTime<Utc>,
) -> DateTime<Utc> {
    let window = before.to_chrono().min(duration.to_chrono() / 2);
    expires_at - window
}

/// Whether an `auto_approve` rule, not a person, approved the request.
pub fn was_auto_approved(r: &crate::store::requests::Request) -> bool {
    r.decided_by.is_none()
        && r.decision_note
            .as_deref()
            .is_some_and(|n| n.starts_with(AUTO_APPROVED))
}

/// When a request nobody reviewed lapses: `lapse_after` from when it was made (or sent back to
/// its reviewers, when another identity was chosen), and never before the start it asked for
/// (reviewers may take until then).
pub fn lapse_at(
    r: &crate::store::requests::Request,
    lapse_after: crate::domain::GrantDuration,
) -> DateTime<Utc> {
    let asked = r.decided_at.map_or(r.created_at, |d| d.max(r.created_at));
    let due = asked + lapse_after.to_chrono();
    r.starts_at.map_or(due, |start| due.max(start))
}

/// When a pending request's reviewers are reminded that it is about to lapse: an hour before,
/// or a quarter of its time to decide before when that is under four hours.
pub fn nudge_at(
    r: &crate::store::requests::Request,
    lapse_after: crate::domain::GrantDuration,
) -> DateTime<Utc> {
    let lead = (lapse_after.to_chrono() / 4).min(chrono::TimeDelta::hours(1));
    lapse_at(r, lapse_after) - lead
}

/// What people hear about each step; steps in between (provisioning started, revoking) are quiet.
fn notice_for(event: Event) -> Option<Notice> {
    match event {
        Event::Approve => Some(Notice::Approved),
        Event::Deny => Some(Notice::Denied),
        Event::Cancel => Some(Notice::Cancelled),
        Event::Lapse => Some(Notice::Lapsed),
        Event::Provisioned => Some(Notice::Active),
        Event::ProvisioningFailed => Some(Notice::ProvisioningFailed),
        Event::Extend => Some(Notice::Extended),
        Event::RevocationDone(crate::domain::EndReason::Expired) => Some(Notice::Expired),
        Event::RevocationDone(crate::domain::EndReason::Revoked) | Event::Close => {
            Some(Notice::Revoked)
        }
        Event::Reopen => Some(Notice::IdentityChosen),
        Event::StartProvisioning | Event::Retry | Event::Expire | Event::Revoke => None,
    }
}
