//! The unit of access a resource grants, written in the catalog as `grant = { role = "…" }`.
//! The key names the unit, so what a grant changes on the platform is never implied.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What a resource gives on its platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawUnit", untagged)]
pub enum Unit {
    /// Membership of a role (PostgreSQL, MySQL/MariaDB, Redshift, Snowflake).
    Role { role: String },
    /// Membership of a group (Redshift's groups; later Tableau, Looker, Databricks…).
    Group { group: String },
    /// A change an admin makes by hand (the `manual` connector), in the admin's words.
    Task { task: String },
    /// An entry in a dataset's access list (BigQuery): `READER`, `WRITER`, `OWNER` or an IAM role.
    Dataset { dataset: String, role: String },
    /// A role in a workspace (Power BI): `Viewer`, `Contributor`, `Member` or `Admin`.
    WorkspaceRole { workspace: String, role: String },
    /// A permission on a document (Sigma: a workbook, folder or workspace by its id), such as
    /// `view`, `explore` or `edit`.
    Document {
        document: String,
        permission: String,
    },
    /// Read access to a table (Databricks Unity Catalog, by its three-level name): every
    /// privilege a read needs, on the catalog, the schema and the table.
    Table { table: String },
    /// A role on one table (BigQuery table IAM, `project.dataset.table`), such as
    /// `roles/bigquery.dataViewer`.
    TableRole { table: String, role: String },
}

/// The kinds of unit, for saying which a connector can grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitKind {
    Role,
    Group,
    Task,
    Dataset,
    WorkspaceRole,
    Document,
    Table,
    TableRole,
}

impl UnitKind {
    /// The catalog's key for this unit.
    pub fn word(self) -> &'static str {
        match self {
            UnitKind::Role => "role",
            UnitKind::Group => "group",
            UnitKind::Task => "task",
            UnitKind::Dataset => "dataset",
            UnitKind::WorkspaceRole => "workspace role",
            UnitKind::Document => "document",
            UnitKind::Table => "table",
            UnitKind::TableRole => "table role",
        }
    }

    /// How the catalog writes this unit, for messages that show the fix.
    pub fn example(self) -> &'static str {
        match self {
            UnitKind::Role => "grant = { role = \"analytics_ro\" }",
            UnitKind::Group => "grant = { group = \"analysts\" }",
            UnitKind::Task => "grant = { task = \"Add the person to the ANALYSTS group\" }",
            UnitKind::Dataset => "grant = { dataset = \"my-project.sales\", role = \"READER\" }",
            UnitKind::WorkspaceRole => "grant = { workspace = \"Finance\", role = \"Viewer\" }",
            UnitKind::Document => "grant = { document = \"<workbook id>\", permission = \"view\" }",
            UnitKind::Table => "grant = { table = \"main.sales.orders\" }",
            UnitKind::TableRole => {
                "grant = { table = \"my-project.sales.orders\", role = \"roles/bigquery.dataViewer\" }"
            }
        }
    }
}

impl Unit {
    pub fn kind(&self) -> UnitKind {
        match self {
            Unit::Role { .. } => UnitKind::Role,
            Unit::Group { .. } => UnitKind::Group,
            Unit::Task { .. } => UnitKind::Task,
            Unit::Dataset { .. } => UnitKind::Dataset,
            Unit::WorkspaceRole { .. } => UnitKind::WorkspaceRole,
            Unit::Document { .. } => UnitKind::Document,
            Unit::Table { .. } => UnitKind::Table,
            Unit::TableRole { .. } => UnitKind::TableRole,
        }
    }

    /// The platform name of the role, group, dataset or workspace (the task's text for a
    /// manual one).
    pub fn name(&self) -> &str {
        match self {
            Unit::Role { role } => role,
            Unit::Group { group } => group,
            Unit::Task { task } => task,
            Unit::Dataset { dataset, .. } => dataset,
            Unit::WorkspaceRole { workspace, .. } => workspace,
            Unit::Document { document, .. } => document,
            Unit::Table { table } | Unit::TableRole { table, .. } => table,
        }
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unit::Role { role } => write!(f, "role `{role}`"),
            Unit::Group { group } => write!(f, "group `{group}`"),
            Unit::Task { task } => write!(f, "task “{task}”"),
            Unit::Dataset { dataset, role } => write!(f, "`{role}` on dataset `{dataset}`"),
            Unit::WorkspaceRole { workspace, role } => {
                write!(f, "`{role}` role in workspace `{workspace}`")
            }
            Unit::Document {
                document,
                permission,
            } => write!(f, "`{permission}` permission on document `{document}`"),
            Unit::Table { table } => write!(f, "read access to table `{table}`"),
            Unit::TableRole { table, role } => write!(f, "`{role}` on table `{table}`"),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUnit {
    role: Option<String>,
    group: Option<String>,
    /// Sigma calls its groups teams; `team` is another name for `group`.
    team: Option<String>,
    task: Option<String>,
    dataset: Option<String>,
    workspace: Option<String>,
    document: Option<String>,
    permission: Option<String>,
    table: Option<String>,
}

impl TryFrom<RawUnit> for Unit {
    type Error = String;

    fn try_from(raw: RawUnit) -> Result<Self, String> {
        let group = match (raw.group, raw.team) {
            (Some(_), Some(_)) => {
                return Err("write either group = \"…\" or team = \"…\", not both".into());
            }
            (g, t) => g.or(t),
        };
        if let (Some(document), Some(permission)) = (&raw.document, &raw.permission) {
            let only = raw.role.is_none()
                && group.is_none()
                && raw.task.is_none()
                && raw.dataset.is_none()
                && raw.workspace.is_none();
            if only && !document.trim().is_empty() && !permission.trim().is_empty() {
                return Ok(Unit::Document {
                    document: document.clone(),
                    permission: permission.clone(),
                });
            }
        }
        if raw.document.is_some() || raw.permission.is_some() {
            return Err(
                "a document grant is written { document = \"<id>\", permission = \"view\" }, \
                 both named and nothing else"
                    .into(),
            );
        }
        let unit = match (
            raw.role,
            group,
            raw.task,
            raw.dataset,
            raw.workspace,
            raw.table,
        ) {
            (Some(role), None, None, None, None, None) => Unit::Role { role },
            (None, Some(group), None, None, None, None) => Unit::Group { group },
            (None, None, Some(task), None, None, None) => Unit::Task { task },
            (Some(role), None, None, Some(dataset), None, None) => Unit::Dataset { dataset, role },
            (Some(role), None, None, None, Some(workspace), None) => {
                Unit::WorkspaceRole { workspace, role }
            }
            (None, None, None, None, None, Some(table)) => Unit::Table { table },
            (Some(role), None, None, None, None, Some(table)) => Unit::TableRole { table, role },
            _ => {
                return Err("`grant` names one unit of access: write exactly one of \
                     role = \"…\", group = \"…\", task = \"…\", table = \"…\", \
                     { dataset = \"…\", role = \"…\" }, { workspace = \"…\", role = \"…\" } \
                     or { table = \"…\", role = \"…\" }"
                    .into());
            }
        };
        let role_empty = match &unit {
            Unit::Dataset { role, .. }
            | Unit::WorkspaceRole { role, .. }
            | Unit::TableRole { role, .. } => role.trim().is_empty(),
            _ => false,
        };
        if unit.name().trim().is_empty() || role_empty {
            return Err(format!(
                "the {} in `grant` is empty; name it, as in {}",
                unit.kind().word(),
                unit.kind().example()
            ));
        }
        Ok(unit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<Unit, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn the_key_names_the_unit() {
        assert_eq!(
            parse(r#"{"role":"analytics_ro"}"#).unwrap(),
            Unit::Role {
                role: "analytics_ro".into()
            }
        );
        assert_eq!(parse(r#"{"group":"g"}"#).unwrap().kind(), UnitKind::Group);
        assert_eq!(
            parse(r#"{"team":"Finance"}"#).unwrap(),
            Unit::Group {
                group: "Finance".into()
            }
        );
        let unit = parse(r#"{"task":"do it"}"#).unwrap();
        assert_eq!(serde_json::to_string(&unit).unwrap(), r#"{"task":"do it"}"#);
        let unit = parse(r#"{"dataset":"p.sales","role":"READER"}"#).unwrap();
        assert_eq!(unit.kind(), UnitKind::Dataset);
        assert_eq!(unit.to_string(), "`READER` on dataset `p.sales`");
        let unit = parse(r#"{"document":"wb-1","permission":"view"}"#).unwrap();
        assert_eq!(unit.kind(), UnitKind::Document);
        assert!(parse(r#"{"document":"wb-1"}"#).is_err());
        assert!(parse(r#"{"document":"wb-1","permission":"view","role":"x"}"#).is_err());
        let unit = parse(r#"{"workspace":"Finance","role":"Viewer"}"#).unwrap();
        assert_eq!(unit.kind(), UnitKind::WorkspaceRole);
        assert_eq!(
            serde_json::to_string(&unit).unwrap(),
            r#"{"workspace":"Finance","role":"Viewer"}"#
        );
        let unit = parse(r#"{"table":"main.sales.orders"}"#).unwrap();
        assert_eq!(unit.kind(), UnitKind::Table);
        assert_eq!(unit.to_string(), "read access to table `main.sales.orders`");
        let unit =
            parse(r#"{"table":"p.sales.orders","role":"roles/bigquery.dataViewer"}"#).unwrap();
        assert_eq!(unit.kind(), UnitKind::TableRole);
        assert_eq!(
            serde_json::to_string(&unit).unwrap(),
            r#"{"table":"p.sales.orders","role":"roles/bigquery.dataViewer"}"#
        );
    }

    #[test]
    fn two_units_none_or_an_unknown_key_are_refused() {
        for bad in [
            r#"{"role":"a","group":"b"}"#,
            "{}",
            r#"{"rol":"a"}"#,
            r#"{"dataset":"p.d"}"#,
            r#"{"dataset":"p.d","workspace":"w","role":"r"}"#,
            r#"{"workspace":"w","role":" "}"#,
            r#"{"table":"a.b.c","dataset":"p.d"}"#,
            r#"{"table":"a.b.c","role":" "}"#,
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        let empty = parse(r#"{"role":" "}"#).unwrap_err();
        assert!(empty.contains("role in `grant` is empty"), "{empty}");
    }
}
