//! The `gatehouse` binary as a newcomer meets it: clear errors that name the file, line and
//! key, or the missing setting.

use std::process::{Command, Output};

fn gatehouse(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    cmd.args(args).current_dir(dir);
    for var in [
        "DATABASE_URL",
        "GATEHOUSE_CONFIG",
        "SLACK_BOT_TOKEN",
        "SLACK_APP_TOKEN",
        "ACCESS_REQUESTS_CHANNEL",
        "GATEHOUSE_ADMINS",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn check_config_accepts_the_example_catalog() {
    let dir = tempfile::tempdir().unwrap();
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/gatehouse.example.toml");
    std::fs::copy(example, dir.path().join("gatehouse.toml")).unwrap();
    let out = gatehouse(dir.path(), &["check-config"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("gatehouse.toml: 1 connector(s), 2 resource(s), 1 admin(s)"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "analytics-ro (Analytics warehouse (read-only)) via manual: default 8h, max 3d"
        )
    );
}

#[test]
fn a_malformed_catalog_is_reported_with_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("catalog.toml"),
        "[connectors.manual]\nkind = \"manual\"\n\n[[resources]]\nid = \"x\"\nname = \"X\"\nconnector = \"manual\"\nmax_duration = \"forever\"\n",
    )
    .unwrap();
    let out = gatehouse(
        dir.path(),
        &["check-config"],
        &[("GATEHOUSE_CONFIG", "catalog.toml")],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("catalog.toml:8: [[resources]] max_duration: `forever` is not a duration; write it like 30m, 8h or 7d"),
        "{err}"
    );
}

#[test]
fn a_missing_catalog_says_how_to_make_one() {
    let dir = tempfile::tempdir().unwrap();
    let out = gatehouse(dir.path(), &["check-config"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("gatehouse.toml: cannot read the catalog"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("copy gatehouse.example.toml"));
}

#[test]
fn serve_without_slack_tokens_names_the_missing_setting() {
    let dir = tempfile::tempdir().unwrap();
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/gatehouse.example.toml");
    std::fs::copy(example, dir.path().join("gatehouse.toml")).unwrap();
    let out = gatehouse(dir.path(), &["serve"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("SLACK_BOT_TOKEN is not set"),
        "{}",
        stderr(&out)
    );

    let out = gatehouse(
        dir.path(),
        &["serve"],
        &[("SLACK_BOT_TOKEN", "xoxp-user-token-secret-123")],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("SLACK_BOT_TOKEN: is not a bot token"),
        "{}",
        stderr(&out)
    );
    assert!(
        !stderr(&out).contains("secret-123"),
        "the token is never printed"
    );
}

#[test]
fn migrate_creates_the_schema_and_can_run_twice() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("g.db").display());
    for _ in 0..2 {
        let out = gatehouse(dir.path(), &["migrate"], &[("DATABASE_URL", &url)]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "database is up to date"
        );
    }
    let out = gatehouse(dir.path(), &["audit", "verify"], &[("DATABASE_URL", &url)]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("audit log intact: 0 rows"));
}

#[test]
fn bad_export_dates_say_how_to_write_them() {
    let dir = tempfile::tempdir().unwrap();
    let out = gatehouse(
        dir.path(),
        &["audit", "export", "--since", "last tuesday"],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("write 2026-11-01 or 2026-11-01T09:00:00Z"),
        "{}",
        stderr(&out)
    );
}
