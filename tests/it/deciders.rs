//! One decider per request: people deciding on one request at the same instant are served one
//! after the other (the request's row is locked on PostgreSQL; SQLite has one writer), so a
//! "need 2" stage met by two approvals at once is approved, once, and never left pending, and
//! an approval racing a denial or a cancellation ends with exactly one of them.

use std::sync::Arc;

use gatehouse::domain::{RequestId, Status};
use gatehouse::store;
use gatehouse::workflow::Via;
use tokio::sync::Barrier;

use crate::support::scenario::submission;
use crate::support::{TestApp, backends, catalog, u};

/// Vault: two of Bob, Rita, Fiona and Carl.
fn catalog() -> String {
    let two = r#"approval = [{ reviewers = ["UBOB", "URITA", "UFIONA", "UCARL"], need = 2 }]"#;
    catalog::manual(&[catalog::task("vault", &[]) + two])
}

const REVIEWERS: [&str; 4] = ["UBOB", "URITA", "UFIONA", "UCARL"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Racer {
    Approve(usize),
    Deny,
    Cancel,
}

async fn ask(t: &TestApp, requester: &str) -> RequestId {
    t.wf()
        .submit(submission(&u(requester), "vault", None, None))
        .await
        .unwrap()
        .id
}

/// Everyone in `racers` decides on request `id` at the same instant (each on its own task,
/// released together).
async fn race(t: &Arc<TestApp>, id: RequestId, requester: &str, racers: &[Racer]) {
    let start = Arc::new(Barrier::new(racers.len()));
    let mut tasks = Vec::new();
    for racer in racers.iter().copied() {
        let (t, start, requester) = (t.clone(), start.clone(), requester.to_owned());
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            match racer {
                Racer::Approve(i) => t
                    .wf()
                    .approve(id, &u(REVIEWERS[i]), Via::Reaction)
                    .await
                    .map(drop),
                Racer::Deny => t
                    .wf()
                    .deny(id, &u("UCARL"), Via::Button, Some("not now"))
                    .await
                    .map(drop),
                Racer::Cancel => t.wf().cancel(id, &u(&requester)).await.map(drop),
            }
        }));
    }
    for task in tasks {
        // Losers are refused (already approved, denied…); what counts is the end state.
        let _ = task.await.unwrap();
    }
}

async fn outcome(t: &TestApp, id: RequestId) -> (Status, Vec<String>, usize) {
    let status = t.wf().request(id).await.unwrap().status;
    let decided: Vec<String> = t
        .audit_actions(id)
        .await
        .into_iter()
        .filter(|a| ["approved", "denied", "cancelled"].contains(&a.as_str()))
        .collect();
    let provisions = store::jobs::for_request(t.app.db().conn(), id.get())
        .await
        .unwrap()
        .iter()
        .filter(|j| j.kind == "provision")
        .count();
    (status, decided, provisions)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reviewers_approving_a_need_two_stage_at_the_same_instant_approve_it_once() {
    for db in backends().await {
        let t = Arc::new(TestApp::start_with(&db, &catalog()).await);
        for round in 0..10 {
            let requester = format!("UASKER{round}");
            let id = ask(&t, &requester).await;
            let racers: Vec<Racer> = (0..2 + round % 3).map(Racer::Approve).collect();
            race(&t, id, &requester, &racers).await;
            let (status, decided, provisions) = outcome(&t, id).await;
            let cell = format!("{} round {round}, {} approvers", db.name, racers.len());
            assert_eq!(status, Status::Approved, "never stranded: {cell}");
            assert_eq!(decided, ["approved"], "{cell}");
            assert_eq!(provisions, 1, "{cell}");
            let counted = store::approvals::of_request(t.app.db().conn(), id)
                .await
                .unwrap();
            assert_eq!(counted.len(), 2, "two approvals met the stage: {cell}");
        }
        Arc::into_inner(t).unwrap().stop().await;
        db.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_approval_racing_a_denial_or_a_cancellation_ends_with_exactly_one_outcome() {
    for db in backends().await {
        let t = Arc::new(TestApp::start_with(&db, &catalog()).await);
        for round in 0..10 {
            let requester = format!("UASKER{round}");
            let id = ask(&t, &requester).await;
            // Carl denies while Bob and Rita approve; or the requester cancels meanwhile.
            let other = if round % 2 == 0 {
                Racer::Deny
            } else {
                Racer::Cancel
            };
            race(
                &t,
                id,
                &requester,
                &[Racer::Approve(0), Racer::Approve(1), other],
            )
            .await;
            let (status, decided, provisions) = outcome(&t, id).await;
            let cell = format!("{} round {round}, approvals and {other:?}", db.name);
            match status {
                Status::Approved => {
                    assert_eq!(decided, ["approved"], "{cell}");
                    assert_eq!(provisions, 1, "{cell}");
                }
                Status::Denied => {
                    assert_eq!(decided, ["denied"], "{cell}");
                    assert_eq!(provisions, 0, "{cell}");
                }
                // Cancelling approved access not yet granted is the requester's right.
                Status::Cancelled => {
                    assert_eq!(decided.last().map(String::as_str), Some("cancelled"));
                    assert!(decided.len() <= 2, "{cell}: {decided:?}");
                }
                other => panic!("{cell}: ended {other}, audit {decided:?}"),
            }
        }
        Arc::into_inner(t).unwrap().stop().await;
        db.close().await;
    }
}
