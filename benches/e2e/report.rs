//! Percentiles and the printed lines, each figure beside its target.

use std::time::Duration;

/// The p-th percentile (nearest rank) of sorted values.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

pub fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// `p50 …, p99 …, max …` of the values (sorted here).
pub fn spread(values: &mut [Duration]) -> String {
    values.sort_unstable();
    format!(
        "p50 {}, p99 {}, max {}",
        ms(percentile(values, 0.50)),
        ms(percentile(values, 0.99)),
        ms(values.last().copied().unwrap_or_default())
    )
}

pub fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "MISSED" }
}

/// The line for one latency after ✅/Approve, `what`, measured for `values.len()` of the `of`
/// approvals: its spread, and whether its p99 is under `target` (and, when `all` is asked, every
/// approval was measured).
pub fn after_approval(
    backend: &str,
    what: &str,
    values: &mut [Duration],
    of: usize,
    target: Duration,
    all: bool,
) -> String {
    let spread = spread(values);
    let met = percentile(values, 0.99) < target && (!all || values.len() == of);
    format!(
        "{backend}: ✅/Approve → {what}: {spread} ({} of {of} approvals) — target p99 < {} ms: {}",
        values.len(),
        target.as_millis(),
        verdict(met)
    )
}

/// The `gatehouse_slack_ack_seconds` histogram in a `/metrics` exposition, every envelope type
/// together: (upper bound in seconds, acks at most that long), in the exposition's order.
pub fn ack_buckets(exposition: &str) -> Vec<(f64, u64)> {
    let mut sums: Vec<(f64, u64)> = Vec::new();
    for line in exposition.lines() {
        let Some(rest) = line.strip_prefix("gatehouse_slack_ack_seconds_bucket{le=\"") else {
            continue;
        };
        let Some((le, rest)) = rest.split_once('"') else {
            continue;
        };
        let (Ok(le), Some(Ok(n))) = (
            le.parse::<f64>(),
            rest.rsplit_once(' ').map(|(_, n)| n.parse::<u64>()),
        ) else {
            continue;
        };
        match sums.iter_mut().find(|(bound, _)| *bound == le) {
            Some((_, total)) => *total += n,
            None => sums.push((le, n)),
        }
    }
    sums
}

/// "≤ 1 ms 97.0 %, ≤ 2 ms …": the share of acks within each bound from `from` to `to` seconds.
pub fn ack_shares(buckets: &[(f64, u64)], from: f64, to: f64) -> String {
    let all = buckets.iter().map(|b| b.1).max().unwrap_or(0).max(1) as f64;
    buckets
        .iter()
        .filter(|(le, _)| (from..=to).contains(le))
        .map(|(le, n)| format!("≤ {} ms {:.1} %", le * 1000.0, 100.0 * *n as f64 / all))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `GET /metrics` from the process's HTTP address: one HTTP/1.0 exchange, which is all it takes.
pub async fn get_metrics(addr: &str) -> std::io::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: gatehouse\r\n\r\n")
        .await?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await?;
    Ok(answer)
}
