//! A dataset's access list: which entry the unit names, and which entries match a user.

use serde_json::Value;

use super::super::ConnectorError;
use crate::domain::Unit;

/// The dataset a unit names, as (project, dataset), and its role. Dataset ids hold only
/// letters, digits and underscores, while domain-scoped project ids hold dots
/// (`example.com:proj`), so the split is at the last dot.
pub(super) fn dataset_in(unit: &Unit) -> Result<(&str, &str, &str), ConnectorError> {
    let Unit::Dataset { dataset, role } = unit else {
        return Err(ConnectorError::Permanent(format!(
            "BigQuery grants dataset access or a table role, not a {}; write grant = {{ dataset = \"my-project.sales\", role = \"READER\" }} or grant = {{ table = \"my-project.sales.orders\", role = \"roles/bigquery.dataViewer\" }}",
            unit.kind().word()
        )));
    };
    match dataset.rsplit_once('.') {
        Some((p, d)) if !p.trim().is_empty() && !d.trim().is_empty() && !role.trim().is_empty() => {
            Ok((p.trim(), d.trim(), role.trim()))
        }
        _ => Err(ConnectorError::Permanent(format!(
            "the BigQuery dataset `{dataset}` must be written `project.dataset` (with a role), e.g. \
             grant = {{ dataset = \"my-project.sales\", role = \"READER\" }}"
        ))),
    }
}

/// A role in one spelling: the legacy dataset roles and their IAM names are the same role.
pub(super) fn same_role(a: &str, b: &str) -> bool {
    fn norm(r: &str) -> String {
        match r.trim().to_ascii_lowercase().as_str() {
            "roles/bigquery.dataviewer" => "reader".into(),
            "roles/bigquery.dataeditor" => "writer".into(),
            "roles/bigquery.dataowner" => "owner".into(),
            other => other.to_owned(),
        }
    }
    norm(a) == norm(b)
}

/// Whether `entry` is the user's plain entry of that role: one with an IAM `condition` (until a
/// date, say) is not the access Gatehouse grants, and is never taken for it nor removed.
pub(super) fn is_entry_of(entry: &Value, email: &str, role: &str) -> bool {
    entry.get("condition").is_none()
        && entry["userByEmail"]
            .as_str()
            .is_some_and(|u| u.eq_ignore_ascii_case(email.trim()))
        && entry["role"].as_str().is_some_and(|r| same_role(r, role))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn unit(dataset: &str) -> Unit {
        Unit::Dataset {
            dataset: dataset.into(),
            role: "READER".into(),
        }
    }

    #[test]
    fn a_dataset_is_split_into_project_and_dataset() {
        assert_eq!(
            dataset_in(&unit("my-project.sales")).unwrap(),
            ("my-project", "sales", "READER")
        );
        assert_eq!(
            dataset_in(&unit("example.com:proj.sales")).unwrap(),
            ("example.com:proj", "sales", "READER")
        );
        for bad in ["sales", ".sales", "proj."] {
            let err = dataset_in(&unit(bad)).unwrap_err();
            assert!(err.to_string().contains("`project.dataset`"), "{err}");
        }
        let err = dataset_in(&Unit::Role { role: "x".into() }).unwrap_err();
        assert!(err.to_string().contains("dataset access"), "{err}");
    }

    #[test]
    fn legacy_and_iam_role_names_are_the_same_role() {
        assert!(same_role("READER", "roles/bigquery.dataViewer"));
        assert!(same_role("writer", "WRITER"));
        assert!(!same_role("READER", "WRITER"));
        let e = json!({"role": "READER", "userByEmail": "Alice@Example.com"});
        assert!(is_entry_of(&e, "alice@example.com", "READER"));
        assert!(!is_entry_of(&e, "alice@example.com", "OWNER"));
    }
}
