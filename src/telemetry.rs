//! Logging setup: human-readable by default, JSON lines for log collectors.
//!
//! Every span that touches a request carries `request_id` (the workflow's entry points and the
//! job worker open one), so one request's story can be followed through a busy log.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::LogFormat;

/// Installs the global subscriber once; later calls are ignored.
pub fn init(format: LogFormat, filter: &str) {
    install(format, filter, LevelFilter::TRACE);
}

/// As `init`, but never below warnings, whatever the filter says: for commands whose output is
/// their answer (`check`, `access`, `audit`…), so that only warnings and errors join it.
pub fn init_quiet(format: LogFormat, filter: &str) {
    install(format, filter, LevelFilter::WARN);
}

/// `most`: the most detailed level written, over the filter.
fn install(format: LogFormat, filter: &str, most: LevelFilter) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, never in a file or a collector.
        .with_ansi(std::io::stderr().is_terminal());
    let _ = match format {
        LogFormat::Pretty => builder.finish().with(most).try_init(),
        LogFormat::Json => builder.json().finish().with(most).try_init(),
    };
}
