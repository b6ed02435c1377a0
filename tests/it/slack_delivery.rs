//! Each Slack message is delivered once even though notice jobs run at least once: a process
//! killed after Slack accepted a message, but before the job was marked done, runs the job
//! again, and the retry finds what the first attempt posted (by its metadata key) instead of
//! posting it twice.

use gatehouse::domain::Status;
use gatehouse::store::Conn;
use gatehouse::store::jobs::Job;

use crate::support::scenario::in_slack_on_every_backend;
use crate::support::slack::{CHANNEL, SlackTestApp, eventually, shown};

fn key_of(m: &slack_sim::Message) -> Option<String> {
    m.metadata.as_ref().and_then(|md| {
        (md["event_type"] == "gatehouse_delivery")
            .then(|| md["event_payload"]["key"].as_str().map(str::to_owned))
            .flatten()
    })
}

/// Reads of a conversation's history by deliveries (the start-up check that Gatehouse is in
/// the Access Requests channel, one message with `limit=1`, is not one).
fn history_reads(t: &SlackTestApp) -> usize {
    t.sim
        .api_calls_of("conversations.history")
        .iter()
        .filter(|c| c.args["limit"] != "1")
        .count()
        + t.sim.api_calls_of("conversations.replies").len()
}

/// Runs the job again after a simulated kill and waits until that second attempt is done.
async fn rerun_after_kill(t: &SlackTestApp, job: &Job) {
    t.crash_after_running(job.id).await;
    t.run_jobs().await;
    eventually("the second attempt", 30, || async {
        gatehouse::store::jobs::get(t.app.db().conn(), job.id)
            .await
            .unwrap()
            .filter(|j| j.attempts == 2 && j.status == gatehouse::store::jobs::JobStatus::Done)
    })
    .await;
}

async fn submit_and_approve(t: &SlackTestApp) -> slack_sim::Message {
    t.granted("UALICE", "analytics-ro 1h numbers", 1, "UBOB")
        .await
}

#[tokio::test]
async fn first_attempts_read_no_history_and_every_message_carries_its_delivery_key() {
    in_slack_on_every_backend(async |t, db| {
        let card = submit_and_approve(t).await;
        let submitted = t.done_notify_job(1, "submitted", "channel").await;
        // Approved and granted at once: the requester's one DM is the grant's.
        let granted = t.done_notify_job(1, "active", "requester").await;
        assert_eq!(
            history_reads(t),
            0,
            "{}: no extra call in the normal path",
            db.name
        );
        assert_eq!(key_of(&card), Some(format!("{}:card", submitted.id)));
        let dm = t.dms_saying("UALICE", "You now have access").remove(0);
        assert_eq!(key_of(&dm), Some(format!("{}:dm:UALICE", granted.id)));
    })
    .await;
}

#[tokio::test]
async fn a_dm_whose_job_was_killed_after_posting_is_not_sent_again() {
    in_slack_on_every_backend(async |t, db| {
        submit_and_approve(t).await;
        let job = t.done_notify_job(1, "active", "requester").await;
        rerun_after_kill(t, &job).await;
        assert!(history_reads(t) > 0, "{}: the retry looked", db.name);
        let dms = t.dms_saying("UALICE", "You now have access").len();
        assert_eq!(dms, 1, "{}", db.name);
    })
    .await;
}

#[tokio::test]
async fn a_card_posted_before_a_kill_is_found_and_kept_as_the_requests_message() {
    in_slack_on_every_backend(async |t, db| {
        let card = t.ask("UALICE", "analytics-ro 1h numbers", 1).await;
        let job = t.done_notify_job(1, "submitted", "channel").await;
        // Killed after chat.postMessage, before the card's place was stored.
        t.app
            .db()
            .conn()
            .execute_unprepared(
                "UPDATE requests SET slack_channel = NULL, slack_ts = NULL WHERE id = 1",
            )
            .await
            .unwrap();
        rerun_after_kill(t, &job).await;
        assert_eq!(t.sim.messages(CHANNEL).len(), 1, "{}: one card", db.name);
        let stored = t.request(1).await;
        assert_eq!(
            (stored.slack_channel.as_deref(), stored.slack_ts.as_deref()),
            (Some(CHANNEL), Some(card.ts.as_str())),
            "{}",
            db.name
        );

        // The thread note of a later step, likewise.
        t.tick("UBOB", &card).await;
        t.wait_for(1, Status::Active).await;
        let approved = t.done_notify_job(1, "approved", "channel").await;
        t.done_notify_job(1, "active", "channel").await;
        let notes = t.sim.thread(CHANNEL, &card.ts).len();
        rerun_after_kill(t, &approved).await;
        assert_eq!(t.sim.thread(CHANNEL, &card.ts).len(), notes, "{}", db.name);
        assert_eq!(t.sim.messages(CHANNEL).len(), 1, "{}", db.name);
    })
    .await;
}

#[tokio::test]
async fn reviewers_told_before_a_failure_halfway_are_not_told_again_on_the_retry() {
    in_slack_on_every_backend(async |t, db| {
        t.platform.fail_next(1, false);
        // Bob is DMed first (reviewers go in order), then Slack fails Rita's DM once.
        t.sim.sim().fail_next_post("URITA", "internal_error");
        submit_and_approve_failing(t).await;
        let told = |user: &'static str| {
            let t = &t;
            async move {
                t.sim
                    .dms(user)
                    .iter()
                    .filter(|m| shown(m).contains("failed (request #1)"))
                    .count()
            }
        };
        eventually("Bob's DM", 30, || async {
            (told("UBOB").await == 1).then_some(())
        })
        .await;
        let job = eventually("the reviewers' job to wait for a retry", 30, || async {
            gatehouse::store::jobs::for_request(t.app.db().conn(), 1)
                .await
                .unwrap()
                .into_iter()
                .find(|j| j.payload.contains("\"reviewers\"") && j.last_error.is_some())
        })
        .await;
        assert_eq!(told("URITA").await, 0);
        // Past the backoff: the retry runs.
        t.later(chrono::Duration::minutes(2)).await;
        t.run_jobs().await;
        eventually("Rita's DM", 30, || async {
            (told("URITA").await == 1).then_some(())
        })
        .await;
        let done = gatehouse::store::jobs::get(t.app.db().conn(), job.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(done.attempts, 2, "{}", db.name);
        assert_eq!(told("UBOB").await, 1, "{}: Bob once", db.name);
        assert_eq!(told("URITA").await, 1, "{}: Rita once", db.name);
    })
    .await;
}

async fn submit_and_approve_failing(t: &SlackTestApp) {
    let msg = t.ask("UALICE", "analytics-ro 1h numbers", 1).await;
    t.tick("UBOB", &msg).await;
    t.wait_for(1, Status::Failed).await;
}
