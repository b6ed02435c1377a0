//! Unity Catalog read access to a table: `USE_CATALOG` on its catalog, `USE_SCHEMA` on its
//! schema and `SELECT` on the table, each granted to the user's principal name by
//! `PATCH /api/2.1/unity-catalog/permissions/{type}/{full_name}` only when not already held
//! directly. The grant's receipt lists exactly what it added, so a revocation takes away only
//! that (and nothing another live grant still needs); without a receipt only `SELECT` goes.

use reqwest::{Method, StatusCode, header};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::Databricks;
use crate::connectors::{Added, ConnectorError, Holding, Undo, http};
use crate::domain::Unit;

const ALL: &str = "ALL_PRIVILEGES";

/// A table's three-level name, split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct TableName {
    pub(super) catalog: String,
    pub(super) schema: String,
    pub(super) table: String,
}

impl TableName {
    /// `catalog.schema.table`, three non-empty parts.
    pub(super) fn parse(name: &str) -> Result<TableName, ConnectorError> {
        let parts: Vec<&str> = name.split('.').collect();
        match parts.as_slice() {
            [c, s, t] if [c, s, t].iter().all(|p| !p.trim().is_empty()) => Ok(TableName {
                catalog: (*c).to_owned(),
                schema: format!("{c}.{s}"),
                table: name.to_owned(),
            }),
            _ => Err(ConnectorError::Permanent(format!(
                "a Databricks table is named by its catalog, schema and table, like \
                 grant = {{ table = \"main.sales.orders\" }}; `{name}` is not"
            ))),
        }
    }

    /// What reading it takes, outermost first: (securable type, full name, privilege).
    fn needs(&self) -> [Privilege; 3] {
        [
            Privilege::new("catalog", &self.catalog, "USE_CATALOG"),
            Privilege::new("schema", &self.schema, "USE_SCHEMA"),
            Privilege::new("table", &self.table, "SELECT"),
        ]
    }
}

/// One privilege on one securable, as the receipt lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Privilege {
    securable_type: String,
    full_name: String,
    privilege: String,
}

impl Privilege {
    fn new(securable_type: &str, full_name: &str, privilege: &str) -> Privilege {
        Privilege {
            securable_type: securable_type.into(),
            full_name: full_name.into(),
            privilege: privilege.into(),
        }
    }

    /// The same grant: UC names are case-insensitive.
    fn same(&self, other: &Privilege) -> bool {
        self.securable_type == other.securable_type
            && self.privilege == other.privilege
            && self.full_name.to_lowercase() == other.full_name.to_lowercase()
    }

    fn words(&self) -> String {
        format!(
            "{} on {} `{}`",
            self.privilege, self.securable_type, self.full_name
        )
    }
}

/// What a table grant added, kept with the grant.
#[derive(Debug, Serialize, Deserialize)]
struct Receipt {
    added: Vec<Privilege>,
}

fn privileges_of(assignment: &Value) -> impl Iterator<Item = &Value> {
    assignment["privileges"].as_array().into_iter().flatten()
}

fn same_principal(a: &Value, principal: &str) -> bool {
    a["principal"]
        .as_str()
        .is_some_and(|p| p.eq_ignore_ascii_case(principal))
}

fn joined(ps: &[Privilege]) -> String {
    ps.iter()
        .map(Privilege::words)
        .collect::<Vec<_>>()
        .join(", ")
}

impl Databricks {
    /// The UC principal of a Gatehouse identity. Gatehouse stores Databricks users by SCIM id
    /// (what group membership needs and what identity sync lists), but UC grants to names: a
    /// user's userName (email), or a service principal's application id.
    pub(super) async fn principal(&self, id: &str) -> Result<String, ConnectorError> {
        for (resource, field) in [
            ("Users", "userName"),
            ("ServicePrincipals", "applicationId"),
        ] {
            let mut url = self.api.url(&[resource, id]);
            url.query_pairs_mut().append_pair("attributes", field);
            let (status, json) = self.api.call(Method::GET, url, None).await?;
            if status.is_success()
                && let Some(name) = super::text(&json, field)
            {
                return Ok(name);
            }
        }
        Err(ConnectorError::Permanent(format!(
            "Databricks has no user or service principal with id {id}"
        )))
    }

    /// Every page of `GET …/{path}/{type}/{name}?principal=…`'s privilege assignments.
    async fn assignments(
        &self,
        path: &str,
        securable_type: &str,
        full_name: &str,
        principal: &str,
    ) -> Result<Vec<Value>, ConnectorError> {
        self.assignments_or_refusal(path, securable_type, full_name, principal)
            .await?
            .map_err(|(status, said)| {
                http::failure("Databricks", status, &header::HeaderMap::new(), &said)
            })
    }

    /// [`Databricks::assignments`], with a 403 or 404 returned as the status and Databricks'
    /// words, for readiness to tell a missing right from a failure.
    pub(super) async fn assignments_or_refusal(
        &self,
        path: &str,
        securable_type: &str,
        full_name: &str,
        principal: &str,
    ) -> Result<Result<Vec<Value>, (StatusCode, String)>, ConnectorError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut url = self.api.uc_url(&[path, securable_type, full_name]);
            {
                let mut q = url.query_pairs_mut();
                q.append_pair("principal", principal)
                    .append_pair("max_results", "0");
                if let Some(t) = &token {
                    q.append_pair("page_token", t);
                }
            }
            let (status, page) = self.api.probe(url, false).await?;
            if !status.is_success() {
                return Ok(Err((status, super::api::platform_message(&page))));
            }
            out.extend(
                page["privilege_assignments"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default(),
            );
            // An empty page may still carry a token; only its absence ends the list.
            match page["next_page_token"].as_str().filter(|t| !t.is_empty()) {
                Some(t) if token.as_deref() != Some(t) => token = Some(t.to_owned()),
                _ => return Ok(Ok(out)),
            }
        }
    }

    /// The privileges `principal` holds directly on one securable.
    async fn direct_on(
        &self,
        securable_type: &str,
        full_name: &str,
        principal: &str,
    ) -> Result<Vec<String>, ConnectorError> {
        let rows = self
            .assignments("permissions", securable_type, full_name, principal)
            .await?;
        Ok(rows
            .iter()
            .filter(|a| same_principal(a, principal))
            .flat_map(privileges_of)
            .filter_map(|p| p.as_str().map(str::to_owned))
            .collect())
    }

    /// Which of the table's needs `principal` holds directly (ALL_PRIVILEGES counts as each).
    async fn held(&self, t: &TableName, principal: &str) -> Result<Vec<Privilege>, ConnectorError> {
        let mut held = Vec::new();
        for need in t.needs() {
            let have = self
                .direct_on(&need.securable_type, &need.full_name, principal)
                .await?;
            if have.iter().any(|p| *p == need.privilege || p == ALL) {
                held.push(need);
            }
        }
        Ok(held)
    }

    /// Only the exact privilege counts here: ALL_PRIVILEGES held instead is not ours to revoke.
    async fn holds_exactly(&self, p: &Privilege, principal: &str) -> Result<bool, ConnectorError> {
        let have = self
            .direct_on(&p.securable_type, &p.full_name, principal)
            .await?;
        Ok(have.contains(&p.privilege))
    }

    async fn change(
        &self,
        p: &Privilege,
        principal: &str,
        verb: &str,
    ) -> Result<(), ConnectorError> {
        let url = self
            .api
            .uc_url(&["permissions", &p.securable_type, &p.full_name]);
        let mut change = json!({ "principal": principal });
        change[verb] = json!([p.privilege]);
        let body = json!({ "changes": [change] });
        self.api.uc(Method::PATCH, url, Some(&body)).await?;
        Ok(())
    }

    /// Direct: all three privileges held directly. Through: SELECT (or ALL_PRIVILEGES) on the
    /// table that the effective permissions show coming from a group or a parent securable.
    pub(super) async fn check_table(
        &self,
        id: &str,
        name: &str,
    ) -> Result<Holding, ConnectorError> {
        let t = TableName::parse(name)?;
        let principal = self.principal(id).await?;
        let direct = self.held(&t, &principal).await?.len() == 3;
        let rows = self
            .assignments("effective-permissions", "table", &t.table, &principal)
            .await?;
        let mut through = Vec::new();
        for a in &rows {
            let own = same_principal(a, &principal);
            for p in privileges_of(a) {
                let privilege = p["privilege"].as_str().unwrap_or("");
                if privilege != "SELECT" && privilege != ALL {
                    continue;
                }
                let from = match (
                    p["inherited_from_type"].as_str(),
                    p["inherited_from_name"].as_str(),
                ) {
                    (Some(ty), Some(n)) => {
                        Some(format!("inherited from {} {n}", ty.to_lowercase()))
                    }
                    _ => None,
                };
                let words = match (own, from) {
                    (true, None) => continue,
                    (true, Some(from)) => format!("{privilege} {from}"),
                    (false, from) => {
                        let group = a["principal"].as_str().unwrap_or("?");
                        match from {
                            Some(from) => format!("{privilege} through group `{group}`, {from}"),
                            None => format!("{privilege} through group `{group}`"),
                        }
                    }
                };
                if !through.contains(&words) {
                    through.push(words);
                }
            }
        }
        Ok(Holding { direct, through })
    }

    /// Adds the privileges not already held directly, outermost first, and lists them.
    pub(super) async fn add_table(&self, id: &str, name: &str) -> Result<Added, ConnectorError> {
        let t = TableName::parse(name)?;
        let principal = self.principal(id).await?;
        let held = self.held(&t, &principal).await?;
        let missing: Vec<Privilege> = t
            .needs()
            .into_iter()
            .filter(|n| !held.iter().any(|h| h.same(n)))
            .collect();
        for p in &missing {
            self.change(p, &principal, "add").await?;
        }
        if missing.is_empty() {
            return Ok(Added {
                did: "already held".into(),
                receipt: None,
            });
        }
        let did = format!(
            "granted Databricks principal {principal} {} (PATCH \
             /api/2.1/unity-catalog/permissions)",
            joined(&missing)
        );
        let receipt = serde_json::to_string(&Receipt { added: missing })
            .map_err(|e| ConnectorError::Permanent(format!("cannot write the receipt: {e}")))?;
        Ok(Added {
            did,
            receipt: Some(receipt),
        })
    }

    /// Removes what the receipt lists (or, without one, only SELECT on the table) that is still
    /// held, except what a kept table needs: usage on its catalog and schema, and its SELECT.
    pub(super) async fn remove_table(
        &self,
        id: &str,
        name: &str,
        undo: Undo<'_>,
    ) -> Result<String, ConnectorError> {
        let t = TableName::parse(name)?;
        let listed = match undo.receipt {
            Some(r) => {
                serde_json::from_str::<Receipt>(r)
                    .map_err(|e| {
                        ConnectorError::Permanent(format!(
                            "the grant's receipt is not one this connector wrote ({e})"
                        ))
                    })?
                    .added
            }
            // Usage privileges may have been there before Gatehouse: not ours to take.
            None => vec![t.needs()[2].clone()],
        };
        let kept: Vec<Privilege> = undo
            .keep
            .iter()
            .filter_map(|u| match u {
                Unit::Table { table } => TableName::parse(table).ok(),
                _ => None,
            })
            .flat_map(|k| k.needs())
            .collect();
        let principal = self.principal(id).await?;
        let mut removed = Vec::new();
        for p in listed.iter().filter(|p| !kept.iter().any(|k| k.same(p))) {
            if self.holds_exactly(p, &principal).await? {
                self.change(p, &principal, "remove").await?;
                removed.push(p.clone());
            }
        }
        if removed.is_empty() {
            return Ok("already absent".into());
        }
        Ok(format!(
            "revoked from Databricks principal {principal} {} (PATCH \
             /api/2.1/unity-catalog/permissions)",
            joined(&removed)
        ))
    }
}
