//! Gatehouse's Prometheus metrics. One `Metrics` per app, handed to the pieces that count (the
//! workflow, the Slack client, the connectors' watch), never a process-global: two apps in one
//! test process each see only their own numbers. Counters and histograms are recorded where
//! things happen; the gauges read from the database are set at scrape time (`ops::http`).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use chrono::{DateTime, Utc};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Metric, Registry};

use crate::domain::Status;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PlatformLabels {
    platform: String,
    connector: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConnectorErrorLabels {
    platform: String,
    connector: String,
    class: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabels {
    method: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SlackErrorLabels {
    method: &'static str,
    error: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    kind: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EnvelopeLabels {
    envelope: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WaitLabels {
    cause: &'static str,
}

type Latency = Family<PlatformLabels, Histogram, fn() -> Histogram>;

/// 10 ms to about 11 min: a local database answers in milliseconds, a REST platform with a
/// lock or a retry in seconds to minutes.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.01, 2.0, 17))
}

/// 0.25 ms to about 4 s: an ack is due within Slack's 3 seconds, and should take a few ms.
fn ack_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_25, 2.0, 15))
}

/// Why Gatehouse waited before calling Slack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitCause {
    /// Our own pacing to Slack's published limits.
    Pacing,
    /// Slack answered 429 with Retry-After: the job waits that long before trying again.
    RetryAfter,
}

/// How a connector call failed, without its words (which may name hosts or accounts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Worth another attempt: a timeout, a 5xx, a lock conflict.
    Retryable,
    /// The platform asked us to slow down (429 with Retry-After).
    Throttled,
    /// Another attempt would fail the same way: a missing privilege, an unknown role.
    Permanent,
}

impl ErrorClass {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Retryable => "retryable",
            ErrorClass::Throttled => "throttled",
            ErrorClass::Permanent => "permanent",
        }
    }

    pub fn of(e: &crate::platform::ExternalError) -> Self {
        match e {
            crate::platform::ExternalError::Retryable {
                retry_after: Some(_),
                ..
            } => ErrorClass::Throttled,
            crate::platform::ExternalError::Retryable { .. } => ErrorClass::Retryable,
            crate::platform::ExternalError::Permanent(_) => ErrorClass::Permanent,
        }
    }
}

/// When Gatehouse last talked to a connector's platform, and how that went.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct ConnectorCheck {
    pub platform: String,
    /// The last call that got an answer.
    pub last_ok: Option<DateTime<Utc>>,
    /// The last call that failed, and how (never the platform's words).
    pub last_error: Option<DateTime<Utc>>,
    pub last_error_class: Option<&'static str>,
}

pub struct Metrics {
    registry: Registry,
    requests: Family<StateLabels, Gauge>,
    provisioning: Latency,
    revocation: Latency,
    queue_depth: Gauge,
    oldest_due: Gauge<f64, AtomicU64>,
    slack_calls: Family<MethodLabels, Counter>,
    slack_errors: Family<SlackErrorLabels, Counter>,
    waits: Family<WaitLabels, Counter>,
    waited: Family<WaitLabels, Counter<f64, AtomicU64>>,
    connector_errors: Family<ConnectorErrorLabels, Counter>,
    jobs: Family<JobLabels, Counter>,
    acks: Family<EnvelopeLabels, Histogram, fn() -> Histogram>,
    checks: Mutex<BTreeMap<String, ConnectorCheck>>,
}

/// Registers `metric` under `name` and hands it back: the registry keeps a clone, which shares
/// its counts.
fn registered<M: Metric + Clone>(registry: &mut Registry, name: &str, help: &str, metric: M) -> M {
    registry.register(name, help, metric.clone());
    metric
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("gatehouse");
        Metrics {
            requests: registered(
                &mut registry,
                "requests",
                "Access requests by state, read from the database at scrape time",
                Family::default(),
            ),
            provisioning: registered(
                &mut registry,
                "provisioning_seconds",
                "From the start of a grant job's run to the platform's answer, by platform",
                Family::new_with_constructor(latency_histogram),
            ),
            revocation: registered(
                &mut registry,
                "revocation_seconds",
                "From the start of a revocation job's run to the platform's answer, by platform",
                Family::new_with_constructor(latency_histogram),
            ),
            queue_depth: registered(
                &mut registry,
                "job_queue_depth",
                "Jobs due now and not done (queued or running)",
                Gauge::default(),
            ),
            oldest_due: registered(
                &mut registry,
                "job_oldest_due_age_seconds",
                "How long the oldest job due and not done has been due (0 when none is)",
                Gauge::default(),
            ),
            slack_calls: registered(
                &mut registry,
                "slack_api_calls",
                "Slack Web API calls made, by method",
                Family::default(),
            ),
            slack_errors: registered(
                &mut registry,
                "slack_api_errors",
                "Slack Web API calls that failed, by method and Slack's error code (or rate_limited, transport)",
                Family::default(),
            ),
            waits: registered(
                &mut registry,
                "rate_limit_waits",
                "Times Gatehouse waited before calling Slack: our own pacing, or a 429's Retry-After",
                Family::default(),
            ),
            waited: registered(
                &mut registry,
                "rate_limit_wait_seconds",
                "Seconds waited before calling Slack, by cause",
                Family::default(),
            ),
            connector_errors: registered(
                &mut registry,
                "connector_errors",
                "Connector calls that failed, by platform, connector and error class",
                Family::default(),
            ),
            jobs: registered(
                &mut registry,
                "jobs",
                "Job runs by kind and how they ended: done, rescheduled, retry, failed, released (given back at shutdown), taken_over (stopped: another worker holds the job)",
                Family::default(),
            ),
            acks: registered(
                &mut registry,
                "slack_ack_seconds",
                "From a Socket Mode envelope read to its ack handed to the socket's writer, by envelope type (slash_commands, interactive, events_api, other): Slack wants it within 3 s",
                Family::new_with_constructor(ack_histogram),
            ),
            checks: Mutex::new(BTreeMap::new()),
            registry,
        }
    }

    /// The text exposition format, as Prometheus scrapes it.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }

    /// Sets the requests gauge: every state appears, those without requests at 0.
    pub fn set_requests(&self, counts: &BTreeMap<Status, u64>) {
        for status in Status::ALL {
            let n = counts.get(&status).copied().unwrap_or(0);
            self.requests
                .get_or_create(&StateLabels {
                    state: status.as_str(),
                })
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }

    pub fn set_queue(&self, depth: u64, oldest_due: Duration) {
        self.queue_depth
            .set(i64::try_from(depth).unwrap_or(i64::MAX));
        self.oldest_due.set(oldest_due.as_secs_f64());
    }

    pub fn provisioned(&self, platform: &str, connector: &str, took: Duration) {
        self.provisioning
            .get_or_create(&PlatformLabels {
                platform: platform.to_owned(),
                connector: connector.to_owned(),
            })
            .observe(took.as_secs_f64());
    }

    pub fn revoked(&self, platform: &str, connector: &str, took: Duration) {
        self.revocation
            .get_or_create(&PlatformLabels {
                platform: platform.to_owned(),
                connector: connector.to_owned(),
            })
            .observe(took.as_secs_f64());
    }

    pub fn slack_call(&self, method: &'static str) {
        self.slack_calls
            .get_or_create(&MethodLabels { method })
            .inc();
    }

    /// `error` is Slack's code (`channel_not_found`) or a kind (`rate_limited`, `transport`).
    pub fn slack_error(&self, method: &'static str, error: &str) {
        self.slack_errors
            .get_or_create(&SlackErrorLabels {
                method,
                error: error.to_owned(),
            })
            .inc();
    }

    pub fn rate_limit_wait(&self, cause: WaitCause, waited: Duration) {
        let labels = WaitLabels {
            cause: match cause {
                WaitCause::Pacing => "pacing",
                WaitCause::RetryAfter => "retry_after",
            },
        };
        self.waits.get_or_create(&labels).inc();
        self.waited
            .get_or_create(&labels)
            .inc_by(waited.as_secs_f64());
    }

    /// A Socket Mode envelope of type `envelope` was acked `took` after it was read. The type
    /// comes from the wire: one Slack does not send is counted as `other`.
    pub fn acked(&self, envelope: &str, took: Duration) {
        let envelope = match envelope {
            "slash_commands" => "slash_commands",
            "interactive" => "interactive",
            "events_api" => "events_api",
            _ => "other",
        };
        self.acks
            .get_or_create(&EnvelopeLabels { envelope })
            .observe(took.as_secs_f64());
    }

    /// A job run ended: `outcome` is done, rescheduled, retry, failed, released or taken_over.
    pub fn job_ran(&self, kind: &str, outcome: &'static str) {
        self.jobs
            .get_or_create(&JobLabels {
                kind: kind.to_owned(),
                outcome,
            })
            .inc();
    }

    /// A connector's platform answered.
    pub fn connector_ok(&self, platform: &str, connector: &str, at: DateTime<Utc>) {
        if let Ok(mut checks) = self.checks.lock() {
            let c = checks.entry(connector.to_owned()).or_default();
            c.platform = platform.to_owned();
            c.last_ok = Some(at);
        }
    }

    /// A connector's call failed.
    pub fn connector_error(
        &self,
        platform: &str,
        connector: &str,
        class: ErrorClass,
        at: DateTime<Utc>,
    ) {
        self.connector_errors
            .get_or_create(&ConnectorErrorLabels {
                platform: platform.to_owned(),
                connector: connector.to_owned(),
                class: class.as_str(),
            })
            .inc();
        if let Ok(mut checks) = self.checks.lock() {
            let c = checks.entry(connector.to_owned()).or_default();
            c.platform = platform.to_owned();
            c.last_error = Some(at);
            c.last_error_class = Some(class.as_str());
        }
    }

    /// Each connector's last answer, by connector id.
    pub fn connector_checks(&self) -> BTreeMap<String, ConnectorCheck> {
        self.checks.lock().map(|c| c.clone()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_names_every_metric_with_the_prefix() {
        let m = Metrics::new();
        m.set_requests(&BTreeMap::from([(Status::Active, 2)]));
        m.provisioned("postgres", "warehouse", Duration::from_millis(30));
        m.slack_call("chat.postMessage");
        m.rate_limit_wait(WaitCause::RetryAfter, Duration::from_secs(2));
        shows(
            &m,
            &[
                "gatehouse_requests{state=\"active\"} 2",
                "gatehouse_requests{state=\"pending\"} 0",
                "gatehouse_provisioning_seconds_count{platform=\"postgres\",connector=\"warehouse\"} 1",
                "gatehouse_slack_api_calls_total{method=\"chat.postMessage\"} 1",
                "gatehouse_rate_limit_waits_total{cause=\"retry_after\"} 1",
                "gatehouse_rate_limit_wait_seconds_total{cause=\"retry_after\"} 2.0",
            ],
        );
    }

    /// Fails unless the exposition of `m` has each of `lines`; returns it.
    fn shows(m: &Metrics, lines: &[&str]) -> String {
        let text = m.encode().unwrap();
        for line in lines {
            assert!(text.lines().any(|l| l == *line), "{line} in:\n{text}");
        }
        text
    }

    #[test]
    fn an_ack_is_counted_under_its_envelope_type_and_a_type_slack_never_sends_under_other() {
        let m = Metrics::new();
        m.acked("events_api", Duration::from_micros(600));
        m.acked("interactive", Duration::from_millis(3));
        for forged in ["x\"}evil", "", "slash_commands "] {
            m.acked(forged, Duration::from_millis(20));
        }
        let text = shows(
            &m,
            &[
                "gatehouse_slack_ack_seconds_count{envelope=\"events_api\"} 1",
                "gatehouse_slack_ack_seconds_bucket{le=\"0.001\",envelope=\"events_api\"} 1",
                "gatehouse_slack_ack_seconds_bucket{le=\"0.0005\",envelope=\"events_api\"} 0",
                "gatehouse_slack_ack_seconds_bucket{le=\"0.002\",envelope=\"interactive\"} 0",
                "gatehouse_slack_ack_seconds_bucket{le=\"0.004\",envelope=\"interactive\"} 1",
                "gatehouse_slack_ack_seconds_count{envelope=\"other\"} 3",
            ],
        );
        assert!(!text.contains("evil"), "{text}");
    }
}
