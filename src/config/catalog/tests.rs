//! Unit tests of the catalog: parsing, defaults, and the messages every mistake gets (line,
//! key, and the fix). They go through `Catalog::parse`/`Catalog::load` and read the result; they
//! must not reach into the reading or checking internals.

use std::collections::BTreeSet;
use std::path::Path;

use super::super::link::LinkRule;
use super::Catalog;
use crate::domain::approval::Need;
use crate::domain::{ResourceId, Unit};

fn parse(src: &str) -> Result<Catalog, String> {
    Catalog::parse(Path::new("gatehouse.toml"), src).map_err(|e| e.to_string())
}

const GOOD: &str = r#"
admins = ["U0ADMIN"]

[defaults]
default_duration = "4h"
max_duration = "3d"

[connectors.manual]
kind = "manual"

[[resources]]
id = "analytics-ro"
name = "Analytics (read-only)"
connector = "manual"
reviewers = ["U0REVIEW", "S0DATA"]
grant = { task = "add to the analytics_ro role" }

[[resources]]
id = "finance"
name = "Finance warehouse"
connector = "manual"
max_duration = "1d"
reason_required = false
"#;

#[test]
fn a_good_catalog_loads_with_defaults_applied() {
    let c = parse(GOOD).unwrap();
    assert_eq!(c.admins.len(), 1);
    assert_eq!(c.resources.len(), 2);
    let a = c
        .resource(&ResourceId::parse("analytics-ro").unwrap())
        .unwrap();
    assert_eq!(a.durations.default.to_string(), "4h");
    assert_eq!(a.durations.max.to_string(), "3d");
    assert_eq!(a.durations.min.to_string(), "15m");
    assert!(a.reason_required);
    assert_eq!(a.reviewers.len(), 2);
    assert_eq!(
        a.grant,
        Unit::Task {
            task: "add to the analytics_ro role".into()
        }
    );
    let f = c.resource(&ResourceId::parse("finance").unwrap()).unwrap();
    assert_eq!(f.durations.max.to_string(), "1d");
    assert!(!f.reason_required);
}

#[test]
fn an_unknown_key_names_its_line() {
    let src = GOOD.replace("reason_required = false", "reason_requird = false");
    let err = parse(&src).unwrap_err();
    assert!(
        err.contains(
            "gatehouse.toml:23: [[resources]] reason_requird: unknown field `reason_requird`"
        ),
        "{err}"
    );
}

#[test]
fn a_bad_duration_names_its_line_and_how_to_fix_it() {
    let src = GOOD.replace("max_duration = \"1d\"", "max_duration = \"1 day\"");
    let err = parse(&src).unwrap_err();
    assert!(
        err.contains("gatehouse.toml:22: [[resources]] max_duration:"),
        "{err}"
    );
    assert!(err.contains("write it like 30m, 8h or 7d"), "{err}");
}

#[test]
fn every_semantic_problem_is_reported_at_once() {
    let src = r#"
[connectors.manual]
kind = "manual"

[[resources]]
id = "a"
name = "A"
connector = "snowflake-prod"

[[resources]]
id = "a"
name = "A again"
connector = "manual"
default_duration = "2d"
max_duration = "1d"
"#;
    let err = parse(src).unwrap_err();
    assert!(err.contains("3 problems"), "{err}");
    assert!(
        err.contains("gatehouse.toml:8: [[resources]] connector: unknown connector `snowflake-prod`; define [connectors.snowflake-prod] or use one of: manual"),
        "{err}"
    );
    assert!(
        err.contains("gatehouse.toml:11: [[resources]] id: resource `a` is defined twice"),
        "{err}"
    );
    assert!(
        err.contains(
            "gatehouse.toml:15: [[resources]] max_duration: the default (2d) must lie between"
        ),
        "{err}"
    );
}

#[test]
fn unknown_connector_kinds_and_bad_ids_are_refused() {
    let err = parse("[connectors.x]\nkind = \"oracle\"\n").unwrap_err();
    assert!(err.contains("unknown variant `oracle`"), "{err}");
    let err = parse("[connectors.x]\nkind = \"manual\"\npassword = \"hunter2\"\n").unwrap_err();
    assert!(err.contains("password"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    let err = parse("admins = [\"carol\"]\n").unwrap_err();
    assert!(
        err.contains("gatehouse.toml:1: admins: `carol` is neither"),
        "{err}"
    );
}

#[test]
fn the_unit_a_resource_grants_must_be_one_its_connector_grants() {
    let base = r#"
[connectors.pg]
kind = "postgres"
url = { env = "PG_URL" }
rate_per_second = 3
link = "local-part-lower"

[[resources]]
id = "r"
name = "R"
connector = "pg"
"#;
    let err = parse(base).unwrap_err();
    assert!(
        err.contains("resource `r` uses a postgres connector; say what it grants: grant = { role = \"analytics_ro\" }"),
        "{err}"
    );
    let err = parse(&format!("{base}grant = {{ group = \"g\" }}\n")).unwrap_err();
    assert!(
        err.contains("asks its postgres connector for a group, which it cannot grant; write grant = { role = "),
        "{err}"
    );
    let err = parse(&format!(
        "{base}grant = {{ role = \"a\", group = \"g\" }}\n"
    ))
    .unwrap_err();
    assert!(
        err.contains("gatehouse.toml:12: [[resources]] grant:"),
        "{err}"
    );
    assert!(err.contains("write exactly one of role"), "{err}");
    let c = parse(&format!("{base}grant = {{ role = \"analytics_ro\" }}\n")).unwrap();
    let pg = c.connectors.values().next().unwrap();
    assert_eq!(pg.rate_per_second.get(), 3);
    assert_eq!(pg.link.rule, LinkRule::LocalPartLower);
    assert_eq!(c.resources[0].grant.name(), "analytics_ro");
}

#[test]
fn link_domains_are_read_and_a_bad_one_names_its_connector_and_the_fix() {
    let with = |link: &str| {
        format!(
            "[connectors.pg]\nkind = \"postgres\"\nurl = {{ env = \"PG_URL\" }}\nlink = {link}\n"
        )
    };
    let c = parse(&with(
        r#"{ rule = "local-part", domains = ["Example.com", "eu.example.com"] }"#,
    ))
    .unwrap();
    let pg = c.connectors.values().next().unwrap();
    assert_eq!(pg.link.rule, LinkRule::LocalPart);
    assert_eq!(pg.link.domains, ["example.com", "eu.example.com"]);
    assert!(c.warnings().is_empty(), "{:?}", c.warnings());

    let err = parse(&with(
        r#"{ rule = "local-part", domains = ["@example.com"] }"#,
    ))
    .unwrap_err();
    assert!(err.contains("gatehouse.toml:1: [connectors.pg]"), "{err}");
    assert!(
        err.contains("connector `pg`: link domains: `@example.com` has an @ in it; write the part of the email after the @"),
        "{err}"
    );
    let err = parse(&with(r#"{ rule = "local-part", domains = [""] }"#)).unwrap_err();
    assert!(err.contains("an empty domain"), "{err}");
    let err = parse(&with(
        r#"{ rule = "local-part", domain = ["example.com"] }"#,
    ))
    .unwrap_err();
    assert!(err.contains("unknown field `domain`"), "{err}");
    let err = parse(&with(r#""local""#)).unwrap_err();
    assert!(err.contains("unknown variant `local`"), "{err}");

    // The plain form still parses; a local-part rule without domains is warned about.
    let c = parse(&with(r#""local-part-upper""#)).unwrap();
    let warnings = c.warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains(
            "[connectors.pg] link = \"local-part-upper\" links people from any email domain"
        ),
        "{}",
        warnings[0]
    );
    assert!(parse(&with(r#""email""#)).unwrap().warnings().is_empty());
}

#[test]
fn requesters_are_read_like_reviewers() {
    let src = r#"
[connectors.m]
kind = "manual"

[[resources]]
id = "payroll"
name = "Payroll"
connector = "m"
requesters = ["U0ANNA", "S0FINANCE"]
"#;
    let c = parse(src).unwrap();
    assert_eq!(c.resources[0].requesters.len(), 2);
    assert!(
        c.named_principals()
            .iter()
            .any(|p| p.as_str() == "S0FINANCE")
    );
    let err = parse(&src.replace("\"U0ANNA\"", "\"anna\"")).unwrap_err();
    assert!(err.contains("requesters"), "{err}");
}

#[test]
fn the_shipped_example_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("gatehouse.example.toml");
    let c = Catalog::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert!(!c.resources.is_empty());
}

#[test]
fn the_connectors_example_is_valid_and_shows_every_kind() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/connectors.toml");
    let c = Catalog::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let kinds: BTreeSet<&str> = c.connectors.values().map(|c| c.kind.name()).collect();
    assert_eq!(
        kinds,
        BTreeSet::from([
            "bigquery",
            "databricks",
            "looker",
            "manual",
            "mysql",
            "postgres",
            "powerbi",
            "redshift",
            "sigma",
            "snowflake",
            "tableau"
        ])
    );
    let used: BTreeSet<&str> = c.resources.iter().map(|r| r.connector.as_str()).collect();
    assert_eq!(
        used.len(),
        c.connectors.len(),
        "a resource for each connector"
    );
}

#[test]
fn a_missing_file_says_what_to_do() {
    let err = Catalog::load(Path::new("/nonexistent/gatehouse.toml"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("copy gatehouse.example.toml"), "{err}");
}

#[test]
fn approval_stages_are_read_in_order_and_an_unmeetable_one_is_refused_with_its_line() {
    let src = r#"
[connectors.db]
kind = "manual"

[[resources]]
id = "finance-pii"
name = "Finance with PII"
connector = "db"
approval = [
  { reviewers = ["S0FINANCE"] },
  { reviewers = ["U0ANNA", "U0BEN", "U0CARA"], need = 2 },
  { reviewers = ["U0SEC"], need = "all" },
]
"#;
    let c = parse(src).unwrap();
    let stages = &c.resources[0].approval;
    assert_eq!(
        stages.iter().map(|s| s.need).collect::<Vec<_>>(),
        [Need::Any, Need::AtLeast(2), Need::All]
    );
    assert_eq!(stages[1].reviewers.len(), 3);

    let bad = src.replace("need = 2 }", "need = 4 }");
    let err = parse(&bad).unwrap_err();
    assert!(
        err.contains("gatehouse.toml:11")
            && err.contains("approval stage 2 needs 4 approvals but only 3 people can approve"),
        "{err}"
    );
    let err = parse(&src.replace("need = \"all\"", "need = \"most\"")).unwrap_err();
    assert!(err.contains("`most` is not a number of approvals"), "{err}");
}
