//! Catalogs for the tests, put together from the parts nearly all of them share: Ada
//! administers, a connector or two, and resources that name their reviewers and ask for no
//! reason. What a test is about (break glass, auto-approval, approval stages…) follows its
//! resource as TOML lines, so the catalog still reads as the file an admin would write.
//!
//! The benchmarks use it too (`#[path]`), so it needs nothing else from the test support.

/// The by-hand connector `manual`, which hands each grant to a person as a task.
pub const MANUAL: &str = "\n[connectors.manual]\nkind = \"manual\"\n";

/// A break-glass setting: an hour at most, reviewed within half an hour.
pub const BREAK_GLASS: &str = "break_glass = { max = \"1h\", review_within = \"30m\" }\n";

/// Requests for 30 minutes or less are approved without a reviewer.
pub const AUTO_30M: &str = "auto_approve = [{ max_duration = \"30m\" }]\n";

/// PagerDuty's schedule PS1 as the on-call service `pd` (its token never read: tests hand
/// Gatehouse the service itself).
pub const PAGERDUTY: &str = r#"
[oncall.pd]
kind = "pagerduty"
token = { env = "GH_TEST_UNUSED_PD_TOKEN" }
schedule_ids = ["PS1"]
"#;

/// A catalog administered by `admin`, with `connectors` (TOML tables), then `resources`.
pub fn administered_by(admin: &str, connectors: &str, resources: &[String]) -> String {
    format!("admins = [\"{admin}\"]\n{connectors}{}", resources.concat())
}

/// A catalog Ada administers, with `connectors` (TOML tables), then `resources`.
pub fn with(connectors: &str, resources: &[String]) -> String {
    administered_by("UADA", connectors, resources)
}

/// A catalog Ada administers with the `manual` connector alone.
pub fn manual(resources: &[String]) -> String {
    with(MANUAL, resources)
}

/// The table of connector `id` of `kind`, then its `settings` (TOML lines).
pub fn connector(id: &str, kind: &str, settings: &str) -> String {
    format!("\n[connectors.{id}]\nkind = \"{kind}\"\n{settings}")
}

/// A PostgreSQL connector whose server's URL is in the environment variable `env`.
pub fn postgres(id: &str, env: &str) -> String {
    connector(id, "postgres", &format!("url = {{ env = \"{env}\" }}\n"))
}

/// The resources the tests ask for, by id, with the names people read in Slack.
const NAMES: &[(&str, &str)] = &[
    ("analytics-ro", "Analytics (read-only)"),
    ("finance", "Finance"),
    ("finance-pii", "Finance with PII"),
    ("finance-warehouse", "Finance warehouse"),
    ("keys", "Office keys"),
    ("ledger", "Ledger"),
    ("logs", "Logs"),
    ("payroll", "Payroll"),
    ("prod-db", "Production database"),
    ("prod-logs", "Production logs"),
    ("prod-traces", "Production traces"),
    ("regrants", "Regrants"),
    ("reports", "Reports"),
    ("secrets", "Secrets"),
    ("snowflake-analysts", "Snowflake analysts"),
    ("vault", "Vault"),
    ("warehouse", "Warehouse"),
    ("warehouse-analysts", "Warehouse analysts"),
    ("warehouse-ro", "Warehouse (read-only)"),
];

/// The name of resource `id`.
pub fn name(id: &str) -> &'static str {
    let named = NAMES.iter().find(|(known, _)| *known == id);
    let (_, name) = named.unwrap_or_else(|| panic!("name `{id}` in catalog::NAMES"));
    name
}

/// Resource `id`, which `connector` grants as `grant` (TOML: `{ role = "…" }`), reviewed by
/// `reviewers` (when none, an `approval` line must follow it), asked for without a reason.
pub fn resource(id: &str, connector: &str, grant: &str, reviewers: &[&str]) -> String {
    let name = name(id);
    let mut r = format!(
        "\n[[resources]]\nid = \"{id}\"\nname = \"{name}\"\nconnector = \"{connector}\"\ngrant = {grant}\n"
    );
    if !reviewers.is_empty() {
        let quoted: Vec<String> = reviewers.iter().map(|p| format!("\"{p}\"")).collect();
        r += &format!("reviewers = [{}]\n", quoted.join(", "));
    }
    r + "reason_required = false\n"
}

/// Resource `id`, which the `manual` connector grants as the task named by its id in capitals
/// (`prod-db`: `PROD_DB`), what the fake platform then holds.
pub fn task(id: &str, reviewers: &[&str]) -> String {
    task_on("manual", id, reviewers)
}

/// The same on the by-hand connector `connector`.
pub fn task_on(connector: &str, id: &str, reviewers: &[&str]) -> String {
    let grant = format!("{{ task = \"{}\" }}", id.to_uppercase().replace('-', "_"));
    resource(id, connector, &grant, reviewers)
}

/// Resource `id`, which the connector `warehouse` grants as the role `role`.
pub fn role(id: &str, role: &str, reviewers: &[&str]) -> String {
    role_on("warehouse", id, role, reviewers)
}

/// Resource `id`, which `connector` grants as the role `role`.
pub fn role_on(connector: &str, id: &str, role: &str, reviewers: &[&str]) -> String {
    let grant = format!("{{ role = \"{role}\" }}");
    resource(id, connector, &grant, reviewers)
}

/// `resource` asked for with a reason, as Gatehouse asks by default.
pub fn with_reason(resource: String) -> String {
    resource.replace("reason_required = false\n", "")
}

/// The ledger: the `desk` connector's people add the asker to its readers; `reviewer` decides.
pub fn desk_ledger(admin: &str, reviewer: &str) -> String {
    let grant = "{ task = \"Add them to the ledger readers\" }";
    let ledger = resource("ledger", "desk", grant, &[reviewer]);
    administered_by(admin, &connector("desk", "manual", ""), &[ledger])
}

/// The PostgreSQL connector `warehouse`, never called: the fake platform stands in for it.
pub fn stand_in_warehouse() -> String {
    postgres("warehouse", "UNUSED_BY_THE_FAKE_PLATFORM")
}

/// What Gatehouse says when it refuses `toml` as a catalog.
pub fn refusal(toml: &str) -> String {
    let parsed = gatehouse::config::Catalog::parse(std::path::Path::new("gatehouse.toml"), toml);
    parsed.map(drop).unwrap_err().to_string()
}

/// The PostgreSQL connector `warehouse` on the tests' server (GATEHOUSE_TEST_POSTGRES_URL).
pub fn test_server_warehouse() -> String {
    postgres("warehouse", "GATEHOUSE_TEST_POSTGRES_URL")
}

/// The TOML example that first follows `marker` in docs/configuration.md, parsed as a catalog
/// after `tables` (the connectors and on-call services it names): what an admin who copies it
/// gets. Fails the test, showing the catalog, when Gatehouse refuses it.
pub fn docs_example(marker: &str, tables: &str) -> gatehouse::config::Catalog {
    let doc = include_str!("../../../docs/configuration.md");
    let example = doc
        .split(marker)
        .nth(1)
        .and_then(|rest| rest.split("```toml\n").nth(1))
        .and_then(|block| block.split("```").next())
        .unwrap_or_else(|| panic!("the example after {marker:?} in docs/configuration.md"));
    let catalog = format!("{tables}\n{example}");
    gatehouse::config::Catalog::parse(std::path::Path::new("docs/configuration.md"), &catalog)
        .unwrap_or_else(|e| panic!("{e}\n{catalog}"))
}
