//! The tamper-evident audit log: append-only rows, each hashing its content and the previous
//! row's hash. `verify` finds the first row changed or removed; `export` writes a time range.

use std::io::Write;

use chrono::{DateTime, SecondsFormat, Utc};
use sha2::{Digest, Sha256};

use crate::domain::{RequestId, SlackUserId};
use crate::store::audit::{self as rows, StoredEvent};
use crate::store::{Conn, Db, StoreResult};

pub use migration::AUDIT_GENESIS as GENESIS;

/// Who did it: a person in Slack, or Gatehouse itself (jobs, timers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    User(SlackUserId),
    System,
    /// The operator at the command line.
    Cli,
}

impl std::fmt::Display for Actor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Actor::User(u) => write!(f, "{u}"),
            Actor::System => f.write_str("gatehouse"),
            Actor::Cli => f.write_str("command-line"),
        }
    }
}

impl Actor {
    /// The actor a stored row names, as `Display` wrote it; None for anything else.
    pub fn read(stored: &str) -> Option<Actor> {
        match stored {
            "gatehouse" => Some(Actor::System),
            "command-line" => Some(Actor::Cli),
            other => SlackUserId::parse(other).ok().map(Actor::User),
        }
    }
}

/// One thing a compliance reviewer may ask about.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    pub actor: &'a Actor,
    pub action: &'a str,
    pub request: Option<RequestId>,
    pub details: serde_json::Value,
}

impl<'a> Entry<'a> {
    /// `actor` did `action` (about no request in particular), with `details`.
    pub fn new(actor: &'a Actor, action: &'a str, details: serde_json::Value) -> Self {
        Entry {
            actor,
            action,
            request: None,
            details,
        }
    }

    /// The same entry, about request `id`.
    pub fn about(self, id: RequestId) -> Self {
        Entry {
            request: Some(id),
            ..self
        }
    }
}

fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// SHA-256 over an unambiguous encoding (a JSON array) of the row's content and the previous hash.
pub fn hash_of(
    seq: i64,
    at: DateTime<Utc>,
    actor: &str,
    action: &str,
    request_id: Option<i64>,
    details: &str,
    prev_hash: &str,
) -> String {
    let content = serde_json::json!([
        seq,
        timestamp(at),
        actor,
        action,
        request_id,
        details,
        prev_hash
    ]);
    hex::encode(Sha256::digest(content.to_string().as_bytes()))
}

/// Appends an entry inside the caller's transaction, so it commits with the change it records.
pub async fn record(c: &impl Conn, at: DateTime<Utc>, entry: Entry<'_>) -> StoreResult<i64> {
    let (last_seq, last_hash) = rows::lock_head(c).await?;
    let seq = last_seq + 1;
    let actor = entry.actor.to_string();
    let details = entry.details.to_string();
    let request_id = entry.request.map(RequestId::get);
    let hash = hash_of(
        seq,
        at,
        &actor,
        entry.action,
        request_id,
        &details,
        &last_hash,
    );
    rows::append(
        c,
        &StoredEvent {
            seq,
            at,
            actor,
            action: entry.action.to_owned(),
            request_id,
            details,
            prev_hash: last_hash,
            hash,
        },
    )
    .await?;
    Ok(seq)
}

/// What `verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Intact {
        rows: i64,
        head: String,
    },
    /// The first row at which the chain breaks, and how.
    Broken {
        seq: i64,
        problem: String,
    },
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Verdict::Intact { rows, head } => {
                write!(f, "audit log intact: {rows} rows, head hash {head}")
            }
            Verdict::Broken { seq, problem } => {
                write!(f, "audit log broken at row {seq}: {problem}")
            }
        }
    }
}

const PAGE: u64 = 1000;

/// Walks the whole chain in order and checks every link and the head.
pub async fn verify(db: &Db) -> StoreResult<Verdict> {
    let c = db.conn();
    let (head_seq, head_hash) = rows::head(c).await?;
    let mut expected = 1i64;
    let mut prev = GENESIS.to_owned();
    loop {
        let page = rows::page(c, expected - 1, PAGE).await?;
        if page.is_empty() {
            break;
        }
        for e in page {
            if e.seq != expected {
                let problem = if e.seq == expected + 1 {
                    format!("row {expected} was removed (the next row is {})", e.seq)
                } else {
                    format!("rows {expected} to {} were removed", e.seq - 1)
                };
                return Ok(Verdict::Broken {
                    seq: expected,
                    problem,
                });
            }
            let recomputed = hash_of(
                e.seq,
                e.at,
                &e.actor,
                &e.action,
                e.request_id,
                &e.details,
                &e.prev_hash,
            );
            if recomputed != e.hash {
                return Ok(Verdict::Broken {
                    seq: e.seq,
                    problem: format!(
                        "row {} was changed: its content no longer matches its hash",
                        e.seq
                    ),
                });
            }
            if e.prev_hash != prev {
                return Ok(Verdict::Broken {
                    seq: e.seq - 1,
                    problem: format!(
                        "row {} was changed or replaced: row {} does not follow from it",
                        e.seq - 1,
                        e.seq
                    ),
                });
            }
            prev = e.hash;
            expected += 1;
        }
    }
    let last = expected - 1;
    if head_seq > last {
        return Ok(Verdict::Broken {
            seq: last + 1,
            problem: if head_seq == last + 1 {
                format!("row {head_seq}, the last, was removed")
            } else {
                format!("rows {} to {head_seq}, the last, were removed", last + 1)
            },
        });
    }
    if head_seq != last || head_hash != prev {
        return Ok(Verdict::Broken {
            seq: last,
            problem: "the chain's recorded head does not match its last row".into(),
        });
    }
    Ok(Verdict::Intact {
        rows: last,
        head: prev,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Jsonl,
    Csv,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("cannot write the export: {0}")]
    Io(#[from] std::io::Error),
    #[error("cannot write the export: {0}")]
    Csv(#[from] csv::Error),
}

/// Writes the rows with `since <= at < until` (either bound optional); returns how many.
pub async fn export(
    db: &Db,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    format: ExportFormat,
    out: &mut dyn Write,
) -> Result<u64, ExportError> {
    enum Sink<'a> {
        Csv(Box<csv::Writer<&'a mut dyn Write>>),
        Jsonl(&'a mut dyn Write),
    }
    let mut sink = match format {
        ExportFormat::Csv => {
            let mut w = csv::Writer::from_writer(out);
            w.write_record([
                "seq",
                "at",
                "actor",
                "action",
                "request_id",
                "details",
                "prev_hash",
                "hash",
            ])?;
            Sink::Csv(Box::new(w))
        }
        ExportFormat::Jsonl => Sink::Jsonl(out),
    };
    let mut after = 0;
    let mut n = 0;
    loop {
        let page = rows::page_in_range(db.conn(), since, until, after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for e in page {
            n += 1;
            let request_id = e.request_id.map(|r| r.to_string()).unwrap_or_default();
            match &mut sink {
                Sink::Csv(w) => w.write_record([
                    &e.seq.to_string(),
                    &timestamp(e.at),
                    &e.actor,
                    &e.action,
                    &request_id,
                    &e.details,
                    &e.prev_hash,
                    &e.hash,
                ])?,
                Sink::Jsonl(out) => {
                    let details: serde_json::Value = serde_json::from_str(&e.details)
                        .unwrap_or_else(|_| serde_json::Value::String(e.details.clone()));
                    let line = serde_json::json!({
                        "seq": e.seq,
                        "at": timestamp(e.at),
                        "actor": e.actor,
                        "action": e.action,
                        "request_id": e.request_id,
                        "details": details,
                        "prev_hash": e.prev_hash,
                        "hash": e.hash,
                    });
                    writeln!(out, "{line}")?;
                }
            }
        }
    }
    match &mut sink {
        Sink::Csv(w) => w.flush()?,
        Sink::Jsonl(out) => out.flush()?,
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_stored_actor_reads_back_as_written() {
        for actor in [
            Actor::System,
            Actor::Cli,
            Actor::User(SlackUserId::parse("UADA").unwrap()),
        ] {
            assert_eq!(Actor::read(&actor.to_string()), Some(actor));
        }
        assert_eq!(Actor::read("someone else"), None);
    }

    #[test]
    fn the_hash_covers_every_field() {
        let at = Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap();
        let base = hash_of(1, at, "U1", "approved", Some(7), "{}", GENESIS);
        assert_eq!(base.len(), 64);
        assert_ne!(
            base,
            hash_of(2, at, "U1", "approved", Some(7), "{}", GENESIS)
        );
        assert_ne!(
            base,
            hash_of(
                1,
                at + chrono::Duration::microseconds(1),
                "U1",
                "approved",
                Some(7),
                "{}",
                GENESIS
            )
        );
        assert_ne!(
            base,
            hash_of(1, at, "U2", "approved", Some(7), "{}", GENESIS)
        );
        assert_ne!(base, hash_of(1, at, "U1", "denied", Some(7), "{}", GENESIS));
        assert_ne!(base, hash_of(1, at, "U1", "approved", None, "{}", GENESIS));
        assert_ne!(
            base,
            hash_of(1, at, "U1", "approved", Some(7), "{\"a\":1}", GENESIS)
        );
        assert_ne!(
            base,
            hash_of(1, at, "U1", "approved", Some(7), "{}", &"1".repeat(64))
        );
        // Field boundaries cannot be shifted: "U1" + "approved" is not "U1a" + "pproved".
        assert_ne!(
            base,
            hash_of(1, at, "U1a", "pproved", Some(7), "{}", GENESIS)
        );
    }
}
