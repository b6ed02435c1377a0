//! The story the demo plays, acting as each person through slack-sim: a request by form, a
//! refused self-approval, the reviewer's ✅, the grant (by an admin by hand, or on the real
//! PostgreSQL server), the reminder, the expiry and the removal.

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use chrono::TimeDelta;
use serde_json::{Value, json};
use slack_sim::{ButtonTarget, Message, SimHandle};

use crate::App;
use crate::clock::ManualClock;
use crate::domain::{ConnectorId, RequestId, Status};

use super::postgres::DemoRoles;
use super::transcript::{Transcript, shown};
use super::workspace::{
    ADMIN, CHANNEL, MANUAL_RESOURCE, PG_CONNECTOR, PG_RESOURCE, REQUESTER, REVIEWER,
};

/// Longest wait for any one thing Gatehouse does in the story.
const PATIENCE: Duration = Duration::from_secs(20);

pub struct Story<'a> {
    pub app: &'a App,
    pub sim: &'a SimHandle,
    pub clock: &'a ManualClock,
    pub pg: Option<&'a mut DemoRoles>,
    pub transcript: Transcript,
}

/// Polls `check` until it yields a value; an error naming `what` after PATIENCE.
async fn wait<T, F, Fut>(what: &str, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(v) = check().await {
            return Ok(v);
        }
        if Instant::now() >= deadline {
            bail!("the demo stalled: no {what} after {} s", PATIENCE.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn selected(kind: &str, value: &str) -> Value {
    json!({ "type": kind, "selected_option": { "text": { "type": "plain_text", "text": value }, "value": value } })
}

fn typed(value: Option<&str>) -> Value {
    json!({ "type": "plain_text_input", "value": value })
}

impl Story<'_> {
    async fn status(&self) -> Option<Status> {
        self.app
            .workflow()
            .request(RequestId::new(1))
            .await
            .ok()
            .map(|r| r.status)
    }

    /// Waits for request #1 to reach `want`; with `run_jobs`, running the jobs due at each look
    /// (what a jump of the clock made due).
    async fn wait_status(&self, want: Status, run_jobs: bool) -> anyhow::Result<()> {
        wait(&format!("request #1 {want}"), || async {
            if run_jobs {
                let _ = self.app.run_due_jobs().await;
            }
            (self.status().await == Some(want)).then_some(())
        })
        .await
    }

    /// Waits for a DM to `user` saying `needle`; `run_jobs` as for [`Story::wait_status`].
    async fn dm(&self, user: &str, needle: &str, run_jobs: bool) -> anyhow::Result<()> {
        wait(&format!("DM saying “{needle}”"), || async {
            if run_jobs {
                let _ = self.app.run_due_jobs().await;
            }
            self.sim
                .dms(user)
                .iter()
                .any(|m| shown(m).contains(needle))
                .then_some(())
        })
        .await
    }

    async fn thread_reply(&self, parent: &str, needle: &str) -> anyhow::Result<Message> {
        wait(&format!("thread reply saying “{needle}”"), || async {
            self.sim
                .thread(CHANNEL, parent)
                .into_iter()
                .skip(1)
                .rfind(|m| shown(m).contains(needle))
        })
        .await
    }

    /// Runs due jobs and waits until Gatehouse has stopped calling Slack for a moment, so
    /// that a step shows everything it caused.
    async fn settle(&self) -> anyhow::Result<()> {
        let mut last = usize::MAX;
        let mut quiet_since = Instant::now();
        let deadline = Instant::now() + PATIENCE;
        loop {
            let ran = self
                .app
                .run_due_jobs()
                .await
                .context("running Gatehouse's due jobs")?;
            let calls = self.sim.api_calls().len();
            if calls != last || ran > 0 {
                last = calls;
                quiet_since = Instant::now();
            } else if quiet_since.elapsed() >= Duration::from_millis(300) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    async fn show(&mut self) -> anyhow::Result<()> {
        self.settle().await?;
        self.transcript.show_new();
        Ok(())
    }

    async fn click(&self, user: &str, msg: &Message, action: &str) -> anyhow::Result<()> {
        let target = ButtonTarget::Message {
            channel: CHANNEL.into(),
            ts: msg.ts.clone(),
        };
        self.sim
            .click_button(user, target, action, None, None)
            .await
            .map_err(|e| anyhow!("clicking {action}: {e}"))?;
        Ok(())
    }

    async fn react(&self, user: &str, ts: &str) -> anyhow::Result<()> {
        self.sim
            .add_reaction(user, CHANNEL, ts, "white_check_mark")
            .await
            .map_err(|e| anyhow!("adding a ✅: {e}"))?;
        Ok(())
    }

    /// Ada does what the manual connector's thread reply (the one saying `asks`) asks of her
    /// (`change`, in a step's words; `did`, what she does) and presses Done in the thread.
    async fn by_hand(
        &mut self,
        card_ts: &str,
        asks: &str,
        change: &str,
        did: &str,
    ) -> anyhow::Result<()> {
        let task = self.thread_reply(card_ts, asks).await?;
        self.show().await?;
        let ada = ADMIN;
        self.transcript.scene(
            &format!("{} {change} by hand and presses Done", ada.name),
            &format!("{} {did}, then presses Done in the thread.", ada.name),
        );
        self.click(ada.id, &task, "by_hand_done").await
    }

    /// Maya is told (a DM saying `needle`), and with PostgreSQL the server is asked whether
    /// she `holds` the role now.
    async fn told(&mut self, needle: &str, holds: bool) -> anyhow::Result<()> {
        self.dm(REQUESTER.id, needle, false).await?;
        self.show().await?;
        self.ask_server(holds).await
    }

    /// What the PostgreSQL server says about the membership, as one line of the transcript.
    async fn ask_server(&mut self, expect: bool) -> anyhow::Result<()> {
        let Some(pg) = self.pg.as_deref_mut() else {
            return Ok(());
        };
        let holds = pg
            .holds()
            .await
            .map_err(|e| anyhow!("asking PostgreSQL: {e}"))?;
        let line = format!(
            "PostgreSQL ({}) answers: SELECT pg_has_role('{}', '{}', 'MEMBER') → {holds}",
            pg.place, pg.login, pg.role
        );
        self.transcript.say(&line);
        if holds != expect {
            bail!("the server says {holds}, but the story expected {expect}");
        }
        Ok(())
    }

    /// Plays the whole story; returns the one-line summary.
    pub async fn play(mut self) -> anyhow::Result<String> {
        let started = Instant::now();
        let (maya, ravi, ada) = (REQUESTER, REVIEWER, ADMIN);
        let on_pg = self.pg.is_some();
        let resource = if on_pg { PG_RESOURCE } else { MANUAL_RESOURCE };

        if let Some(pg) = self.pg.as_deref() {
            let login = pg.login.clone();
            let connector =
                ConnectorId::parse(PG_CONNECTOR).map_err(|e| anyhow!("{PG_CONNECTOR}: {e}"))?;
            self.app
                .workflow()
                .sync_identities(&connector)
                .await
                .map_err(|e| anyhow!("listing the PostgreSQL server's users: {e}"))?;
            self.transcript.step(&format!(
                "{} links {}'s Slack account to her PostgreSQL login",
                ada.name, maya.name
            ));
            let text = format!("link <@{}> {PG_CONNECTOR} {login}", maya.id);
            self.transcript
                .say(&format!("{} types: /access-admin {text}", ada.name));
            self.sim
                .slash_command(ada.id, CHANNEL, "/access-admin", &text)
                .await
                .map_err(|e| anyhow!("/access-admin: {e}"))?;
            self.show().await?;
        }

        self.transcript.scene(
            &format!("{} asks for access with /request-access", maya.name),
            &format!(
                "{} types /request-access in #access-requests, with nothing after it.",
                maya.name
            ),
        );
        self.sim
            .slash_command(maya.id, CHANNEL, "/request-access", "")
            .await
            .map_err(|e| anyhow!("/request-access: {e}"))?;
        let form = wait("request form", || async { self.sim.top_modal(maya.id) }).await?;
        self.show().await?;
        let view_id = form["id"]
            .as_str()
            .ok_or_else(|| anyhow!("the request form has no id"))?
            .to_owned();
        let query = if on_pg { "ware" } else { "analy" };
        let found = self
            .sim
            .block_suggestion(maya.id, &view_id, "resource", "resource", query)
            .await
            .map_err(|e| anyhow!("searching the catalog: {e}"))?;
        let offered: Vec<String> = found
            .payload
            .as_ref()
            .and_then(|p| p["options"].as_array())
            .map(|o| {
                o.iter()
                    .filter_map(|o| o["text"]["text"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        self.transcript.say(&format!(
            "She types “{query}” in Resource; the form offers: {}.",
            offered.join(", ")
        ));
        let reason = "Quarterly revenue report";
        self.transcript.say(&format!(
            "She picks {resource}, 8h, types the reason “{reason}” and presses Submit."
        ));
        let values = json!({
            "resource": { "resource": selected("external_select", resource) },
            "duration": { "duration": selected("static_select", "8h") },
            "duration_custom": { "duration_custom": typed(None) },
            "reason": { "reason": typed(Some(reason)) },
        });
        let out = self
            .sim
            .submit_view(maya.id, &view_id, values)
            .await
            .map_err(|e| anyhow!("submitting the form: {e}"))?;
        if let Some(errors) = out.errors {
            bail!("the form refused the request: {errors}");
        }
        let card = wait("channel message for request #1", || async {
            self.sim
                .messages(CHANNEL)
                .into_iter()
                .find(|m| shown(m).contains("Access request #1"))
        })
        .await?;
        self.show().await?;

        self.transcript.scene(
            &format!("{} tries to approve her own request with ✅", maya.name),
            &format!("{} adds ✅ to the request.", maya.name),
        );
        self.react(maya.id, &card.ts).await?;
        wait("note refusing the self-approval", || async {
            (!self.sim.ephemerals(maya.id).is_empty()).then_some(())
        })
        .await?;
        self.show().await?;
        if self.status().await != Some(Status::Pending) {
            bail!("the requester's own ✅ changed the request");
        }
        self.transcript
            .say("Nothing else changes: the request still waits for a reviewer.");

        self.transcript.scene(
            &format!("{} approves with ✅", ravi.name),
            &format!("{} adds ✅ to the request.", ravi.name),
        );
        self.react(ravi.id, &card.ts).await?;
        if !on_pg {
            let did = "adds Maya to ANALYTICS_RO in the warehouse";
            self.by_hand(&card.ts, "By hand", "makes the change", did)
                .await?;
        }
        self.wait_status(Status::Active, false).await?;
        self.told("You now have access", true).await?;

        self.transcript.scene(
            "7 hours later: the reminder before the end",
            "(The demo's clock jumps 7 hours; Gatehouse runs the jobs now due.)",
        );
        self.clock.advance(TimeDelta::hours(7));
        self.dm(maya.id, "Need more time?", true).await?;
        self.show().await?;

        self.transcript.scene(
            "1 hour later: the access expires and is removed",
            "(The clock jumps 1 more hour, to the end of the 8 hours.)",
        );
        self.clock.advance(TimeDelta::hours(1));
        if on_pg {
            self.wait_status(Status::Expired, true).await?;
        } else {
            self.app
                .run_due_jobs()
                .await
                .context("running Gatehouse's due jobs")?;
            let did = "takes Maya out of ANALYTICS_RO";
            self.by_hand(&card.ts, "undo this", "removes it", did)
                .await?;
            self.wait_status(Status::Expired, false).await?;
        }
        self.told("has expired and was removed", false).await?;

        let dms: usize = [maya, ravi, ada]
            .iter()
            .map(|p| self.sim.dms(p.id).len())
            .sum();
        let where_ = if on_pg {
            "granted and removed on PostgreSQL"
        } else {
            "granted and removed by hand (manual connector)"
        };
        Ok(format!(
            "Summary: request #1 ({resource}, 8h) — asked by form, self-approval refused, approved by {}, {where_}, reminded, expired; {} steps, {} channel messages and replies, {dms} DMs, in {:.1} s.",
            ravi.name,
            self.transcript.steps(),
            self.sim
                .messages(CHANNEL)
                .iter()
                .map(|m| 1 + m.replies.len())
                .sum::<usize>(),
            started.elapsed().as_secs_f64()
        ))
    }
}
