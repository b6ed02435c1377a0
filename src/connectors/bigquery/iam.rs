//! A table's IAM policy: which table and role the unit names, and the policy's bindings changed
//! for one member. The policy is kept as Google's JSON, so fields Gatehouse does not know
//! (`auditConfigs`, a binding's `condition`, whatever comes later) go back exactly as read.

use serde_json::{Value, json};

use super::super::ConnectorError;
use crate::domain::Unit;

/// The table a unit names, as (project, dataset, table), and its role.
pub(super) struct TableRef<'a> {
    pub project: &'a str,
    pub dataset: &'a str,
    pub table: &'a str,
    pub role: &'a str,
}

impl std::fmt::Display for TableRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.project, self.dataset, self.table)
    }
}

fn bad_table(table: &str) -> ConnectorError {
    ConnectorError::Permanent(format!(
        "the BigQuery table `{table}` must be written `project.dataset.table` (with a role), e.g. \
         grant = {{ table = \"my-project.sales.orders\", role = \"roles/bigquery.dataViewer\" }}"
    ))
}

/// `project.dataset.table`, or the legacy `project:dataset.table`. Dataset and table ids hold
/// no dots, but a domain-scoped project id does (`example.com:proj`), so the split is at the
/// last two dots, and a project part with a dot must be domain-scoped (hold a colon).
pub(super) fn table_in(unit: &Unit) -> Result<TableRef<'_>, ConnectorError> {
    let Unit::TableRole { table: name, role } = unit else {
        return Err(ConnectorError::Permanent(format!(
            "not a BigQuery table role: {unit}"
        )));
    };
    let role = role.trim();
    let parts: Vec<&str> = name.trim().rsplitn(3, '.').map(str::trim).collect();
    let (project, dataset, table) = match parts.as_slice() {
        [t, d, p] if !p.contains('.') || p.contains(':') => (*p, *d, *t),
        // Legacy: `project:dataset.table`.
        [t, pd] => match pd.rsplit_once(':') {
            Some((p, d)) => (p.trim(), d.trim(), *t),
            None => return Err(bad_table(name)),
        },
        _ => return Err(bad_table(name)),
    };
    // A colon in the table id would read as the `:getIamPolicy` verb's separator.
    if [project, dataset, table, role].iter().any(|s| s.is_empty()) || table.contains(':') {
        return Err(bad_table(name));
    }
    Ok(TableRef {
        project,
        dataset,
        table,
        role,
    })
}

/// The member Gatehouse grants: the user by email, as dataset entries use `userByEmail`.
pub(super) fn member_of(email: &str) -> String {
    format!("user:{}", email.trim())
}

fn is_member(member: &str, email: &str) -> bool {
    member
        .strip_prefix("user:")
        .is_some_and(|m| m.trim().eq_ignore_ascii_case(email.trim()))
}

fn is_conditional(binding: &Value) -> bool {
    binding.get("condition").is_some_and(|c| !c.is_null())
}

fn members(binding: &Value) -> impl Iterator<Item = &str> {
    binding["members"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

/// The bindings of `role` without a condition: the only ones Gatehouse changes.
fn ours<'a>(policy: &'a Value, role: &'a str) -> impl Iterator<Item = &'a Value> {
    policy["bindings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(move |b| b["role"].as_str() == Some(role) && !is_conditional(b))
}

/// Whether an unconditional binding of `role` lists the user.
pub(super) fn holds(policy: &Value, role: &str, email: &str) -> bool {
    ours(policy, role).any(|b| members(b).any(|m| is_member(m, email)))
}

/// Other members of the policy that may give the user `role`, in words: conditional bindings
/// naming the user (not Gatehouse's to change), groups (not expanded), the user's domain, and
/// everyone.
pub(super) fn through(policy: &Value, role: &str, email: &str, on: &str) -> Vec<String> {
    let domain = email.rsplit_once('@').map(|(_, d)| d.trim());
    let mut out = Vec::new();
    let bindings = policy["bindings"].as_array().into_iter().flatten();
    for b in bindings.filter(|b| b["role"].as_str() == Some(role)) {
        for m in members(b) {
            if is_conditional(b) {
                if is_member(m, email) {
                    let title = b["condition"]["title"].as_str().unwrap_or("untitled");
                    out.push(format!(
                        "a conditional binding (`{title}`) gives {m} {role} on `{on}`"
                    ));
                }
                continue;
            }
            if let Some(g) = m.strip_prefix("group:") {
                out.push(format!(
                    "the group {g} holds {role} on `{on}` (Gatehouse does not expand groups, so \
                     whether {email} is a member is not checked)"
                ));
            } else if let Some(d) = m.strip_prefix("domain:")
                && domain.is_some_and(|u| u.eq_ignore_ascii_case(d))
            {
                out.push(format!("the domain {d} holds {role} on `{on}`"));
            } else if matches!(m, "allUsers" | "allAuthenticatedUsers") {
                out.push(format!("{m} holds {role} on `{on}`"));
            }
        }
    }
    out
}

/// Adds the user to the unconditional binding of `role`, made if missing. False when there.
pub(super) fn add(policy: &mut Value, role: &str, email: &str) -> bool {
    if holds(policy, role, email) {
        return false;
    }
    if !policy.is_object() {
        *policy = json!({});
    }
    if !policy["bindings"].is_array() {
        policy["bindings"] = json!([]);
    }
    let member = Value::String(member_of(email));
    let Some(bindings) = policy["bindings"].as_array_mut() else {
        return false;
    };
    let binding = bindings
        .iter_mut()
        .find(|b| b["role"].as_str() == Some(role) && !is_conditional(b));
    match binding {
        Some(b) => match b["members"].as_array_mut() {
            Some(ms) => ms.push(member),
            None => b["members"] = json!([member]),
        },
        None => bindings.push(json!({ "role": role, "members": [member] })),
    }
    true
}

/// Drops the user from the unconditional bindings of `role`, and a binding it leaves empty
/// (Google refuses bindings without members). False when the user was not there.
pub(super) fn remove(policy: &mut Value, role: &str, email: &str) -> bool {
    let Some(bindings) = policy["bindings"].as_array_mut() else {
        return false;
    };
    let mut changed = false;
    for b in bindings
        .iter_mut()
        .filter(|b| b["role"].as_str() == Some(role) && !is_conditional(b))
    {
        if let Some(ms) = b["members"].as_array_mut() {
            let before = ms.len();
            ms.retain(|m| !m.as_str().is_some_and(|m| is_member(m, email)));
            changed |= ms.len() != before;
        }
    }
    if changed {
        bindings.retain(|b| {
            is_conditional(b)
                || b["role"].as_str() != Some(role)
                || b["members"].as_array().is_some_and(|m| !m.is_empty())
        });
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    const VIEWER: &str = "roles/bigquery.dataViewer";

    fn unit(table: &str) -> Unit {
        Unit::TableRole {
            table: table.into(),
            role: VIEWER.into(),
        }
    }

    fn parts(t: &str) -> (String, String, String) {
        let u = unit(t);
        let r = table_in(&u).unwrap();
        (r.project.into(), r.dataset.into(), r.table.into())
    }

    #[test]
    fn a_table_is_split_into_project_dataset_and_table() {
        let want = |p: &str, d: &str, t: &str| (p.to_owned(), d.to_owned(), t.to_owned());
        assert_eq!(parts("acme.sales.orders"), want("acme", "sales", "orders"));
        assert_eq!(parts("acme:sales.orders"), want("acme", "sales", "orders"));
        assert_eq!(
            parts("example.com:proj.sales.orders"),
            want("example.com:proj", "sales", "orders")
        );
        for bad in [
            "orders",
            "sales.orders",
            "a.b.c.d",
            ".sales.orders",
            "acme..orders",
            "acme.sales.",
            "acme.sales.t:setIamPolicy",
            ":sales.orders",
        ] {
            let err = table_in(&unit(bad)).err().unwrap();
            assert!(
                err.to_string().contains("`project.dataset.table`"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn only_the_unconditional_binding_of_the_role_changes() {
        let cond = json!({ "role": VIEWER, "members": ["user:bob@x.com"],
            "condition": { "title": "until-june", "expression": "request.time < timestamp('2030-06-01T00:00:00Z')" } });
        let mut p = json!({ "version": 3, "etag": "BwX1", "auditConfigs": [{ "service": "allServices" }],
            "bindings": [cond.clone(), { "role": "roles/bigquery.dataEditor", "members": ["user:carol@x.com"] }] });
        assert!(
            !holds(&p, VIEWER, "bob@x.com"),
            "a conditional binding is not ours"
        );
        assert_eq!(through(&p, VIEWER, "bob@x.com", "t").len(), 1);
        assert!(add(&mut p, VIEWER, "Bob@x.com"));
        assert!(!add(&mut p, VIEWER, "bob@x.com"));
        assert_eq!(p["bindings"][0], cond);
        assert_eq!(
            p["bindings"][2],
            json!({ "role": VIEWER, "members": ["user:Bob@x.com"] })
        );
        assert!(remove(&mut p, VIEWER, "bob@X.com"));
        assert!(!remove(&mut p, VIEWER, "bob@x.com"));
        assert_eq!(
            p["bindings"].as_array().unwrap().len(),
            2,
            "the emptied binding is dropped"
        );
        assert_eq!(p["bindings"][0], cond);
        assert_eq!(p["auditConfigs"], json!([{ "service": "allServices" }]));
        // An empty policy (no bindings at all) gets its first binding.
        let mut empty = json!({ "version": 1, "etag": "ACAB" });
        assert!(add(&mut empty, VIEWER, "a@x.com"));
        assert_eq!(
            empty["bindings"],
            json!([{ "role": VIEWER, "members": ["user:a@x.com"] }])
        );
        assert!(!remove(&mut json!({ "etag": "ACAB" }), VIEWER, "a@x.com"));
    }
}
