//! Steps many tests take the same way: ask in the channel, ✅ a request, submit and approve
//! through the workflow.

use gatehouse::domain::{GrantDuration, RequestId, SlackUserId, Status};
use gatehouse::store::requests::Request;
use gatehouse::workflow::{Submission, Via};

use super::app::{TestApp, u};
use super::slack::{CHANNEL, SlackTestApp};

impl SlackTestApp {
    /// `who` runs `/request-access text` in the channel; returns the message of request `n`
    /// (the one this ask makes) once it is posted.
    pub async fn ask(&self, who: &str, text: &str, n: i64) -> slack_sim::Message {
        self.sim
            .slash_command(who, CHANNEL, "/request-access", text)
            .await
            .unwrap();
        self.request_message(n).await
    }

    /// `who` reacts ✅ to `msg` in the channel.
    pub async fn tick(&self, who: &str, msg: &slack_sim::Message) {
        self.sim
            .add_reaction(who, CHANNEL, &msg.ts, "white_check_mark")
            .await
            .unwrap();
    }
}

/// What a test asks for through the workflow: `resource` for `duration` (the resource's default
/// when None), with `reason`.
pub fn submission<'a>(
    who: &'a SlackUserId,
    resource: &'a str,
    duration: Option<&str>,
    reason: Option<&'a str>,
) -> Submission<'a> {
    Submission {
        requester: who,
        resource,
        duration: duration.map(|d| GrantDuration::parse(d).unwrap()),
        reason,
        identity: None,
        start: None,
    }
}

impl TestApp {
    /// `who` asks for `resource` for `duration` with `reason`; the request it opened.
    pub async fn submit(
        &self,
        who: &str,
        resource: &str,
        duration: Option<&str>,
        reason: Option<&str>,
    ) -> Request {
        let who = u(who);
        self.wf()
            .submit(submission(&who, resource, duration, reason))
            .await
            .unwrap()
    }

    /// `reviewer` approves request `req` by `via`; the request as approved.
    pub async fn approve(&self, req: &Request, reviewer: &str, via: Via) -> Request {
        self.wf().approve(req.id, &u(reviewer), via).await.unwrap()
    }

    /// The status of request `id`, as stored.
    pub async fn status(&self, id: RequestId) -> Status {
        self.wf().request(id).await.unwrap().status
    }

    /// The jobs of request `id` (every kind and status), as stored.
    pub async fn jobs_of(&self, id: RequestId) -> Vec<gatehouse::store::jobs::Job> {
        gatehouse::store::jobs::for_request(self.app.db().conn(), id.get())
            .await
            .unwrap()
    }
}
