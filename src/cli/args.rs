//! The command line's grammar: every command, argument and flag, and how dates and request
//! numbers are read (what `gatehouse --help` shows).

use std::path::PathBuf;

use chrono::{DateTime, NaiveDate, Utc};
use clap::{Parser, Subcommand, ValueEnum};

use gatehouse::domain::RequestId;
/// Time-bound access to data platforms, requested and approved in Slack.
///
/// Settings come from the environment (and a `.env` file in the working directory); the
/// catalog of resources from the file GATEHOUSE_CONFIG names (default gatehouse.toml).
/// The version and the commit it was built from (`build.rs`), as `--version` prints them.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("GATEHOUSE_COMMIT"),
    ")"
);

#[derive(Parser)]
#[command(name = "gatehouse", version = VERSION)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Connect to Slack and the database and handle requests until stopped.
    Serve,
    /// Ask this process's own /healthz (on GATEHOUSE_HTTP_ADDR): exit 0 when it is up. For a
    /// container's health check.
    Healthcheck,
    /// Create or update the database schema, then exit.
    Migrate,
    /// Check the environment and the catalog, print what was found, then exit. When the
    /// database can be read, also compare the catalog with the live grants: list those whose
    /// resource changed, and fail as `serve` would if a removed connector still holds some.
    CheckConfig {
        /// Also ask each platform, for every resource, whether the role, group, dataset… exists
        /// and Gatehouse's account may grant and revoke it; exit 1 if any cannot be.
        #[arg(long)]
        platforms: bool,
    },
    /// End a person's access now, as the operator (a connector about to leave the catalog, an
    /// incident): the platform change is made before the command returns, and the holder is
    /// told in Slack when Slack is configured.
    Revoke {
        /// The request's number (12 or #12).
        #[arg(value_parser = parse_request_id)]
        id: RequestId,
        /// Why, for the holder and the audit log (required).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Identities ingested from the platforms.
    Identities {
        #[command(subcommand)]
        command: IdentitiesCommand,
    },
    /// Verify or export the audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Does USER have access to RESOURCE, and why? Asks the platform too (within 3 s).
    Check {
        /// A Slack user ID (U…), or a platform user's name or email that someone is linked to.
        user: String,
        /// A resource's id or name, or the platform role, group or dataset it grants.
        resource: String,
        /// Print JSON for scripts instead of sentences.
        #[arg(long)]
        json: bool,
    },
    /// Everything a person has access to (--user), or everyone with access to a resource
    /// (--resource).
    Access {
        #[arg(
            long,
            conflicts_with = "resource",
            required_unless_present = "resource"
        )]
        user: Option<String>,
        #[arg(long)]
        resource: Option<String>,
        /// Print JSON for scripts instead of sentences.
        #[arg(long)]
        json: bool,
    },
    /// See Gatehouse work in one command, with no accounts: a simulated Slack workspace and
    /// Gatehouse in this process, on a SQLite file in a temporary directory (removed at the
    /// end), play one access request from the form to its expiry and print what each person
    /// sees. Uses a real PostgreSQL server when one answers (roles named gatehouse_demo_…,
    /// dropped at the end), the manual connector otherwise. Needs no .env, gatehouse.toml or
    /// Slack account, and ignores the settings in them.
    Demo {
        /// After the story, keep the simulated Slack and Gatehouse running and print how to act
        /// as each person with curl, until Ctrl-C.
        #[arg(long)]
        interactive: bool,
        /// The simulated Slack's port on 127.0.0.1 (default: a free one).
        #[arg(long)]
        port: Option<u16>,
        /// The PostgreSQL server to use when it answers within 1 s.
        #[arg(
            long,
            env = "GATEHOUSE_DEMO_POSTGRES_URL",
            default_value = gatehouse::demo::DEFAULT_POSTGRES_URL,
            hide_env_values = true
        )]
        postgres_url: String,
    },
}

#[derive(Subcommand)]
pub enum IdentitiesCommand {
    /// List every platform connector's users, roles and groups now and store them.
    Sync,
}

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Check every row's hash and link; exits 1 naming the first row changed or removed.
    Verify,
    /// Write the rows of a time range as JSON lines or CSV.
    Export {
        /// First instant included: 2026-11-01 or 2026-11-01T09:00:00Z.
        #[arg(long, value_parser = parse_instant)]
        since: Option<DateTime<Utc>>,
        /// First instant excluded.
        #[arg(long, value_parser = parse_instant)]
        until: Option<DateTime<Utc>>,
        #[arg(long, value_enum, default_value_t = Format::Jsonl)]
        format: Format,
        /// Write here instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Jsonl,
    Csv,
}

fn parse_instant(s: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d")
        && let Some(t) = d.and_hms_opt(0, 0, 0)
    {
        return Ok(t.and_utc());
    }
    Err(format!(
        "`{s}` is not a date or time; write 2026-11-01 or 2026-11-01T09:00:00Z"
    ))
}

fn parse_request_id(s: &str) -> Result<RequestId, String> {
    s.parse()
        .map_err(|e: gatehouse::domain::ids::InvalidId| e.to_string())
}
