//! The fake's Unity Catalog routes: direct permissions read and changed per securable, and
//! effective permissions with what a principal inherits from parent securables and from its
//! groups. Shapes follow docs.databricks.com/api (uc-grants): `{"privilege_assignments":
//! [{"principal", "privileges": [...]}], "next_page_token"?}`; errors `{"error_code","message"}`.
//! Adding a held privilege or removing a missing one changes nothing.

use std::collections::HashMap;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::FakeState;
use crate::support::rest_fake::Req;

pub(super) fn uc_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({ "error_code": code, "message": message });
    (status, axum::Json(body)).into_response()
}

/// What each securable type accepts (the subset Gatehouse's tests touch, and a few more).
fn applicable(securable_type: &str) -> &'static [&'static str] {
    match securable_type {
        "catalog" => &[
            "USE_CATALOG",
            "USE_SCHEMA",
            "SELECT",
            "MODIFY",
            "BROWSE",
            "MANAGE",
            "ALL_PRIVILEGES",
        ],
        "schema" => &["USE_SCHEMA", "SELECT", "MODIFY", "MANAGE", "ALL_PRIVILEGES"],
        "table" => &["SELECT", "MODIFY", "MANAGE", "ALL_PRIVILEGES"],
        _ => &[],
    }
}

/// The securable and its parents, itself first: a table's schema and catalog.
fn chain(securable_type: &str, full_name: &str) -> Vec<(String, String)> {
    let parts: Vec<&str> = full_name.split('.').collect();
    let mut out = vec![(securable_type.to_owned(), full_name.to_owned())];
    if securable_type == "table" && parts.len() == 3 {
        out.push(("schema".into(), format!("{}.{}", parts[0], parts[1])));
    }
    if matches!(securable_type, "table" | "schema") && parts.len() >= 2 {
        out.push(("catalog".into(), parts[0].to_owned()));
    }
    out
}

fn capitalised(word: &str) -> String {
    let mut c = word.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

impl FakeState {
    fn principal_named(&self, name: &str) -> bool {
        self.users.iter().any(|u| u.user_name == name)
            || self.groups.iter().any(|g| g.display_name == name)
            || self.service_principals.iter().any(|s| s.1 == name)
    }

    /// The display names of the groups `name` (a userName or application id) is a member of.
    fn groups_of(&self, name: &str) -> Vec<String> {
        let id = self
            .users
            .iter()
            .find(|u| u.user_name == name)
            .map(|u| u.id.clone())
            .or_else(|| {
                let sp = self.service_principals.iter().find(|s| s.1 == name);
                sp.map(|s| s.0.clone())
            });
        let Some(id) = id else {
            return Vec::new();
        };
        self.groups
            .iter()
            .filter(|g| self.members.contains(&(g.id.clone(), id.clone())))
            .map(|g| g.display_name.clone())
            .collect()
    }

    fn direct(&self, ty: &str, name: &str, principal: &str) -> Vec<String> {
        self.uc_grants
            .iter()
            .filter(|g| g.0 == ty && g.1 == name && g.2 == principal)
            .map(|g| g.3.clone())
            .collect()
    }

    fn principals_on(&self, ty: &str, name: &str) -> Vec<String> {
        let mut out: Vec<String> = self
            .uc_grants
            .iter()
            .filter(|g| g.0 == ty && g.1 == name)
            .map(|g| g.2.clone())
            .collect();
        out.dedup();
        out
    }

    fn assignments(&self, ty: &str, name: &str, principal: Option<&str>) -> Vec<Value> {
        let principals = match principal {
            Some(p) => vec![p.to_owned()],
            None => self.principals_on(ty, name),
        };
        principals
            .into_iter()
            .map(|p| (self.direct(ty, name, &p), p))
            .filter(|(privileges, _)| !privileges.is_empty())
            .map(|(privileges, p)| json!({ "principal": p, "privileges": privileges }))
            .collect()
    }

    fn effective(&self, ty: &str, name: &str, principal: Option<&str>) -> Vec<Value> {
        let principals = match principal {
            Some(p) => {
                let mut all = vec![p.to_owned()];
                all.extend(self.groups_of(p));
                all
            }
            None => {
                let mut all: Vec<String> = chain(ty, name)
                    .iter()
                    .flat_map(|(t, n)| self.principals_on(t, n))
                    .collect();
                all.sort();
                all.dedup();
                all
            }
        };
        let mut out = Vec::new();
        for p in principals {
            let mut privileges = Vec::new();
            for (i, (t, n)) in chain(ty, name).into_iter().enumerate() {
                for privilege in self.direct(&t, &n, &p) {
                    privileges.push(if i == 0 {
                        json!({ "privilege": privilege })
                    } else {
                        json!({ "privilege": privilege,
                            "inherited_from_type": t.to_uppercase(), "inherited_from_name": n })
                    });
                }
            }
            if !privileges.is_empty() {
                out.push(json!({ "principal": p, "privileges": privileges }));
            }
        }
        out
    }

    /// One page of assignments from `page_token` (an offset here), `uc_page_size` long.
    fn page(&self, rows: Vec<Value>, q: &HashMap<String, String>) -> Response {
        let Some(size) = self.uc_page_size else {
            return axum::Json(json!({ "privilege_assignments": rows })).into_response();
        };
        let from: usize = q
            .get("page_token")
            .and_then(|t| t.strip_prefix("offset-"))
            .and_then(|t| t.parse().ok())
            .unwrap_or(0);
        let page: Vec<Value> = rows.iter().skip(from).take(size).cloned().collect();
        let mut body = json!({ "privilege_assignments": page });
        if from + size < rows.len() {
            body["next_page_token"] = json!(format!("offset-{}", from + size));
        }
        axum::Json(body).into_response()
    }

    /// A Unity Catalog call, `prefix` segments into the path.
    pub(super) fn serve_uc(&mut self, r: &Req, prefix: usize) -> Response {
        let ((method, p), q, body) = (r.route(prefix), &r.q, &r.body[..]);
        if let ([plural @ ("tables" | "schemas" | "catalogs"), name], "GET") =
            (p.as_slice(), method)
        {
            return self.securable_info(plural.trim_end_matches('s'), name);
        }
        let (verb, ty, name) = match p.as_slice() {
            [verb @ ("permissions" | "effective-permissions"), ty, name] => (*verb, *ty, *name),
            _ => {
                return uc_error(
                    StatusCode::NOT_FOUND,
                    "ENDPOINT_NOT_FOUND",
                    "No API found for this path",
                );
            }
        };
        if applicable(ty).is_empty() {
            return uc_error(
                StatusCode::BAD_REQUEST,
                "INVALID_PARAMETER_VALUE",
                &format!("Invalid securable type '{ty}'"),
            );
        }
        if !self.securables.contains(&(ty.to_owned(), name.to_owned())) {
            return uc_error(
                StatusCode::NOT_FOUND,
                "RESOURCE_DOES_NOT_EXIST",
                &format!("{} '{name}' does not exist.", capitalised(ty)),
            );
        }
        let principal = q.get("principal").map(String::as_str);
        match (method, verb) {
            ("GET", "permissions") => self.page(self.assignments(ty, name, principal), q),
            ("GET", "effective-permissions") => self.page(self.effective(ty, name, principal), q),
            ("PATCH", "permissions") => self.update(ty, name, body),
            _ => uc_error(
                StatusCode::NOT_FOUND,
                "ENDPOINT_NOT_FOUND",
                "No API found for this method",
            ),
        }
    }

    /// `GET /api/2.1/unity-catalog/{tables|schemas|catalogs}/{full_name}`: the securable's info
    /// with its `owner` (TableInfo, SchemaInfo, CatalogInfo in docs.databricks.com/api/workspace/
    /// tables/get and its siblings); a missing one is `TABLE_DOES_NOT_EXIST` and the like.
    fn securable_info(&self, ty: &str, name: &str) -> Response {
        let key = (ty.to_owned(), name.to_owned());
        if !self.securables.contains(&key) {
            return uc_error(
                StatusCode::NOT_FOUND,
                &format!("{}_DOES_NOT_EXIST", ty.to_uppercase()),
                &format!("{} '{name}' does not exist.", capitalised(ty)),
            );
        }
        let owner = self
            .uc_owners
            .get(&key)
            .map_or(super::OTHER_OWNER, String::as_str);
        let short = name.rsplit('.').next().unwrap_or(name);
        axum::Json(json!({ "name": short, "full_name": name, "owner": owner,
            "metastore_id": "11111111-2222-3333-4444-555555555555" }))
        .into_response()
    }

    /// `{"changes": [{"principal", "add": [...], "remove": [...]}]}`, checked whole first.
    fn update(&mut self, ty: &str, name: &str, body: &[u8]) -> Response {
        let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let Some(changes) = parsed["changes"].as_array() else {
            return uc_error(
                StatusCode::BAD_REQUEST,
                "INVALID_PARAMETER_VALUE",
                "changes is required",
            );
        };
        let mut apply = Vec::new();
        for change in changes {
            let principal = change["principal"].as_str().unwrap_or("");
            if !self.principal_named(principal) {
                return uc_error(
                    StatusCode::BAD_REQUEST,
                    "INVALID_PARAMETER_VALUE",
                    &format!("Could not find principal with name {principal}."),
                );
            }
            for (add, key) in [(true, "add"), (false, "remove")] {
                for privilege in change[key].as_array().into_iter().flatten() {
                    let privilege = privilege.as_str().unwrap_or("");
                    if !applicable(ty).contains(&privilege) {
                        return uc_error(
                            StatusCode::BAD_REQUEST,
                            "INVALID_PARAMETER_VALUE",
                            &format!("Privilege {privilege} is not applicable to this entity"),
                        );
                    }
                    apply.push((add, principal.to_owned(), privilege.to_owned()));
                }
            }
        }
        for (add, principal, privilege) in apply {
            let key = (ty.to_owned(), name.to_owned(), principal, privilege);
            if add {
                self.uc_grants.insert(key);
            } else {
                self.uc_grants.remove(&key);
            }
        }
        axum::Json(json!({ "privilege_assignments": self.assignments(ty, name, None) }))
            .into_response()
    }
}
