//! The catalog file (`gatehouse.toml`): connectors, resources, reviewers and admins.
//! Parsed strictly (unknown keys are errors) and validated as a whole, reporting every problem.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::error::{ConfigError, ConfigErrors};
use crate::domain::{ConnectorId, DurationRules, GrantDuration, Principal, ResourceId};

/// The platform a connector talks to, with its settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectorKind {
    /// No platform: an admin does the change by hand when Gatehouse asks, and confirms it.
    Manual,
    /// A PostgreSQL server; access is role membership. `url` names the connection secret.
    Postgres { url: super::SecretRef },
    /// A MySQL or MariaDB server; access is a role granted to an account.
    Mysql { url: super::SecretRef },
}

impl ConnectorKind {
    pub fn name(&self) -> &'static str {
        match self {
            ConnectorKind::Manual => "manual",
            ConnectorKind::Postgres { .. } => "postgres",
            ConnectorKind::Mysql { .. } => "mysql",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectorConfig {
    pub id: ConnectorId,
    pub kind: ConnectorKind,
}

/// Something people can ask access to.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    pub id: ResourceId,
    pub name: String,
    pub description: Option<String>,
    pub connector: ConnectorId,
    /// What the connector grants (a role, a group, a dataset and its role…), checked by the connector.
    pub grant: serde_json::Value,
    pub reviewers: Vec<Principal>,
    pub durations: DurationRules,
    pub reason_required: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Catalog {
    pub path: PathBuf,
    pub admins: Vec<Principal>,
    pub connectors: BTreeMap<ConnectorId, ConnectorConfig>,
    pub resources: Vec<Resource>,
}

impl Catalog {
    pub fn resource(&self, id: &ResourceId) -> Option<&Resource> {
        self.resources.iter().find(|r| &r.id == id)
    }

    pub fn load(path: &Path) -> Result<Catalog, ConfigErrors> {
        let source = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::file(
                path,
                format!(
                    "cannot read the catalog ({e}); copy gatehouse.example.toml to {} or set GATEHOUSE_CONFIG",
                    path.display()
                ),
            )
        })?;
        Catalog::parse(path, &source)
    }

    /// `path` only labels errors; `source` is the file's text.
    pub fn parse(path: &Path, source: &str) -> Result<Catalog, ConfigErrors> {
        let raw: RawCatalog = toml::from_str(source).map_err(|e| {
            let at = e.span().map(|s| s.start).unwrap_or(0);
            ConfigError::at(path, source, at, e.message().to_owned())
        })?;
        validate(path, source, raw)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCatalog {
    #[serde(default)]
    admins: Vec<Principal>,
    #[serde(default)]
    defaults: RawDefaults,
    #[serde(default)]
    connectors: BTreeMap<Spanned<String>, RawConnector>,
    #[serde(default)]
    resources: Vec<RawResource>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawDefaults {
    min_duration: Option<Spanned<GrantDuration>>,
    default_duration: Option<Spanned<GrantDuration>>,
    max_duration: Option<Spanned<GrantDuration>>,
    reason_required: Option<bool>,
}

#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
enum RawConnector {
    Manual {},
    Postgres { url: super::SecretRef },
    Mysql { url: super::SecretRef },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawResource {
    id: Spanned<ResourceId>,
    name: String,
    description: Option<String>,
    connector: Spanned<String>,
    grant: Option<toml::Table>,
    #[serde(default)]
    reviewers: Vec<Principal>,
    min_duration: Option<Spanned<GrantDuration>>,
    default_duration: Option<Spanned<GrantDuration>>,
    max_duration: Option<Spanned<GrantDuration>>,
    reason_required: Option<bool>,
}

/// Built-in bounds when neither the resource nor `[defaults]` say otherwise.
const BUILTIN_MIN: GrantDuration = GrantDuration::minutes(15);
const BUILTIN_DEFAULT: GrantDuration = GrantDuration::minutes(8 * 60);
const BUILTIN_MAX: GrantDuration = GrantDuration::minutes(7 * 24 * 60);

fn validate(path: &Path, source: &str, raw: RawCatalog) -> Result<Catalog, ConfigErrors> {
    let mut errors = Vec::new();
    let err_at = |at: usize, msg: String| ConfigError::at(path, source, at, msg);

    let mut connectors = BTreeMap::new();
    for (name, raw_conn) in raw.connectors {
        match ConnectorId::parse(name.get_ref()) {
            Ok(id) => {
                let kind = match raw_conn {
                    RawConnector::Manual {} => ConnectorKind::Manual,
                    RawConnector::Postgres { url } => ConnectorKind::Postgres { url },
                    RawConnector::Mysql { url } => ConnectorKind::Mysql { url },
                };
                connectors.insert(id.clone(), ConnectorConfig { id, kind });
            }
            Err(e) => errors.push(err_at(name.span().start, e.to_string())),
        }
    }

    let d = &raw.defaults;
    let pick = |own: &Option<Spanned<GrantDuration>>,
                default: &Option<Spanned<GrantDuration>>,
                fallback: GrantDuration|
     -> (GrantDuration, Option<usize>) {
        own.as_ref()
            .or(default.as_ref())
            .map(|s| (*s.get_ref(), Some(s.span().start)))
            .unwrap_or((fallback, None))
    };

    let mut seen = BTreeSet::new();
    let mut resources = Vec::new();
    for r in raw.resources {
        let id = r.id.get_ref().clone();
        if !seen.insert(id.clone()) {
            errors.push(err_at(
                r.id.span().start,
                format!("resource `{id}` is defined twice; give each resource its own id"),
            ));
        }
        let connector = match ConnectorId::parse(r.connector.get_ref()) {
            Ok(c) if connectors.contains_key(&c) => Some(c),
            _ => {
                let known: Vec<_> = connectors.keys().map(|c| c.to_string()).collect();
                errors.push(err_at(
                    r.connector.span().start,
                    format!(
                        "unknown connector `{}`; define [connectors.{}] or use one of: {}",
                        r.connector.get_ref(),
                        r.connector.get_ref(),
                        if known.is_empty() {
                            "(none defined yet)".to_owned()
                        } else {
                            known.join(", ")
                        }
                    ),
                ));
                None
            }
        };
        let (min, _) = pick(&r.min_duration, &d.min_duration, BUILTIN_MIN);
        let (default, default_at) = pick(&r.default_duration, &d.default_duration, BUILTIN_DEFAULT);
        let (max, max_at) = pick(&r.max_duration, &d.max_duration, BUILTIN_MAX);
        let durations = match DurationRules::new(min, default, max) {
            Ok(rules) => Some(rules),
            Err(msg) => {
                let at = max_at.or(default_at).unwrap_or(r.id.span().start);
                errors.push(err_at(at, format!("{msg}; adjust the durations of `{id}`")));
                None
            }
        };
        if r.name.trim().is_empty() {
            errors.push(err_at(
                r.id.span().start,
                format!("resource `{id}` has an empty name; give it one people will recognise"),
            ));
        }
        let grant = match r.grant.map(serde_json::to_value) {
            None => serde_json::Value::Object(Default::default()),
            Some(Ok(v)) => v,
            Some(Err(e)) => {
                errors.push(err_at(
                    r.id.span().start,
                    format!("unreadable `grant`: {e}"),
                ));
                serde_json::Value::Null
            }
        };
        if let Some(c) = connector.as_ref().and_then(|c| connectors.get(c))
            && matches!(
                c.kind,
                ConnectorKind::Postgres { .. } | ConnectorKind::Mysql { .. }
            )
            && grant
                .get("role")
                .and_then(serde_json::Value::as_str)
                .is_none_or(str::is_empty)
        {
            errors.push(err_at(
                r.id.span().start,
                format!("resource `{id}` uses a {} connector; say which role it grants: grant = {{ role = \"analytics_ro\" }}", c.kind.name()),
            ));
        }
        if let (Some(connector), Some(durations)) = (connector, durations) {
            resources.push(Resource {
                id,
                name: r.name.trim().to_owned(),
                description: r.description.filter(|s| !s.trim().is_empty()),
                connector,
                grant,
                reviewers: r.reviewers,
                durations,
                reason_required: r.reason_required.or(d.reason_required).unwrap_or(true),
            });
        }
    }

    if !errors.is_empty() {
        return Err(ConfigErrors(errors));
    }
    Ok(Catalog {
        path: path.to_owned(),
        admins: raw.admins,
        connectors,
        resources,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(a.grant["task"], "add to the analytics_ro role");
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
    fn the_shipped_example_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("gatehouse.example.toml");
        let c = Catalog::load(&path).unwrap_or_else(|e| panic!("{e}"));
        assert!(!c.resources.is_empty());
    }

    #[test]
    fn a_missing_file_says_what_to_do() {
        let err = Catalog::load(Path::new("/nonexistent/gatehouse.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("copy gatehouse.example.toml"), "{err}");
    }
}
