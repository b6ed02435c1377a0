//! The audit chain: tampering is found and named; exports cover exactly the asked range.

use chrono::Duration;
use gatehouse::audit::{self, ExportFormat, Verdict};
use gatehouse::workflow::Via;
use sea_orm::ConnectionTrait;

use crate::support::scenario::on_every_backend;
use crate::support::scenario::submission;
use crate::support::{TestApp, TestDb, u};

/// Five requests, one approved and provisioned: 8 audit rows, an hour apart per request.
async fn history(t: &TestApp) {
    for who in ["UALICE", "UDAVE", "UERIN", "UFRED", "UGINA"] {
        t.wf()
            .submit(submission(
                &u(who),
                "analytics-ro",
                Some("1h"),
                Some("weekly report"),
            ))
            .await
            .unwrap();
        t.clock.advance(Duration::hours(1));
    }
    let first = gatehouse::domain::RequestId::new(1);
    t.wf()
        .approve(first, &u("UBOB"), Via::Reaction)
        .await
        .unwrap();
    t.run_jobs().await;
}

async fn exec(t: &TestApp, sql: &str) {
    t.app.db().conn().execute_unprepared(sql).await.unwrap();
}

/// Asserts that verifying the chain on `db` finds it broken first at row `seq`, for `problem`.
async fn found_broken(t: &TestApp, db: &TestDb, seq: i64, problem: &str) {
    let verdict = audit::verify(t.app.db()).await.unwrap();
    let broken = Verdict::Broken {
        seq,
        problem: problem.into(),
    };
    assert_eq!(verdict, broken, "{}", db.name);
}

#[tokio::test]
async fn editing_one_row_in_the_database_is_found_and_named() {
    on_every_backend(async |t, db| {
        history(t).await;
        assert!(matches!(
            audit::verify(t.app.db()).await.unwrap(),
            Verdict::Intact { rows: 8, .. }
        ));
        exec(t, "UPDATE audit_events SET actor = 'UEVE' WHERE seq = 6").await;
        found_broken(
            t,
            db,
            6,
            "row 6 was changed: its content no longer matches its hash",
        )
        .await;
    })
    .await;
}

#[tokio::test]
async fn a_rewritten_row_with_a_fresh_hash_is_still_found() {
    on_every_backend(async |t, db| {
        history(t).await;
        // The forger recomputes row 3's own hash, but row 4 still points at the old one.
        let rows = gatehouse::store::audit::page(t.app.db().conn(), 2, 1)
            .await
            .unwrap();
        let r = &rows[0];
        let forged = audit::hash_of(
            r.seq,
            r.at,
            "UEVE",
            &r.action,
            r.request_id,
            &r.details,
            &r.prev_hash,
        );
        exec(
            t,
            &format!("UPDATE audit_events SET actor = 'UEVE', hash = '{forged}' WHERE seq = 3"),
        )
        .await;
        found_broken(
            t,
            db,
            3,
            "row 3 was changed or replaced: row 4 does not follow from it",
        )
        .await;
    })
    .await;
}

#[tokio::test]
async fn removed_rows_are_found_in_the_middle_and_at_the_end() {
    on_every_backend(async |t, db| {
        history(t).await;
        exec(t, "DELETE FROM audit_events WHERE seq = 8").await;
        found_broken(t, db, 8, "row 8, the last, was removed").await;
        exec(t, "DELETE FROM audit_events WHERE seq IN (2, 3)").await;
        found_broken(t, db, 2, "rows 2 to 3 were removed").await;
    })
    .await;
}

#[tokio::test]
async fn the_cli_verify_exits_non_zero_naming_the_changed_row() {
    let db = TestDb::sqlite();
    let t = TestApp::start(&db).await;
    history(&t).await;
    let run = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
            .args(["audit", "verify"])
            .env("DATABASE_URL", &db.url)
            .env_remove("GATEHOUSE_CONFIG")
            .current_dir(std::env::temp_dir())
            .output()
            .unwrap()
    };
    let ok = run();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(
        String::from_utf8_lossy(&ok.stdout).starts_with("audit log intact: 8 rows, head hash ")
    );

    exec(
        &t,
        "UPDATE audit_events SET details = '{\"reason\":\"nothing to see\"}' WHERE seq = 4",
    )
    .await;
    let broken = run();
    assert_eq!(broken.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&broken.stderr).trim(),
        "audit log broken at row 4: row 4 was changed: its content no longer matches its hash"
    );
    t.stop().await;
}

#[tokio::test]
async fn export_writes_the_range_as_json_lines_or_csv() {
    on_every_backend(async |t, db| {
        let start = t.clock.now();
        history(t).await;
        // Rows 2 and 3 were written at start+1h and start+2h.
        let (since, until) = (
            Some(start + Duration::hours(1)),
            Some(start + Duration::hours(3)),
        );
        let mut out = Vec::new();
        let n = audit::export(t.app.db(), since, until, ExportFormat::Jsonl, &mut out)
            .await
            .unwrap();
        assert_eq!(n, 2, "{}", db.name);
        let lines: Vec<serde_json::Value> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["seq"], 2);
        assert_eq!(lines[0]["actor"], "UDAVE");
        assert_eq!(lines[0]["action"], "requested");
        assert_eq!(lines[0]["details"]["reason"], "weekly report");
        assert_eq!(lines[1]["prev_hash"], lines[0]["hash"]);

        let mut out = Vec::new();
        let n = audit::export(t.app.db(), None, None, ExportFormat::Csv, &mut out)
            .await
            .unwrap();
        assert_eq!(n, 8);
        let mut reader = csv::Reader::from_reader(out.as_slice());
        assert_eq!(
            reader.headers().unwrap().iter().collect::<Vec<_>>(),
            [
                "seq",
                "at",
                "actor",
                "action",
                "request_id",
                "details",
                "prev_hash",
                "hash"
            ]
        );
        let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(records.len(), 8);
        assert_eq!(&records[5][3], "approved");
        assert_eq!(&records[5][2], "UBOB");
    })
    .await;
}
