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
