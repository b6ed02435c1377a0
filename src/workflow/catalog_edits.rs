//! What a catalog edit means for access that is live now. Grants end as they were granted
//! (their records say how), so an edit never changes them silently: resources whose unit or
//! connector changed, or that were removed, are listed at start; a connector removed while it
//! still holds live grants stops the start, since nothing could take those grants away.

use std::fmt;

use crate::config::Catalog;
use crate::domain::{ResourceId, Unit};
use crate::store::{self, Conn, StoreError};

/// Live grants that no longer match the catalog.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CatalogEdits {
    /// Grants of resources whose grant or connector changed, or that were removed: they end as
    /// granted. Notes to show.
    pub changed: Vec<Edited>,
    /// Connectors the catalog no longer has, with the live grants (request ids) made through them.
    pub stranded: Vec<(String, Vec<i64>)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edited {
    pub resource: String,
    pub count: i64,
    pub connector: String,
    /// What the grants give, in words (`role \`FIN_OLD\``).
    pub granted: String,
    /// What the catalog says now; None when the resource is gone.
    pub now: Option<String>,
}

impl fmt::Display for Edited {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let grants = if self.count == 1 { "grant" } else { "grants" };
        let now = match &self.now {
            Some(now) => format!("the catalog now says {now}"),
            None => "the resource is no longer in the catalog".to_owned(),
        };
        write!(
            f,
            "{} live {grants} of `{}` grant {} on `{}` ({now}); they end as granted",
            self.count, self.resource, self.granted, self.connector
        )
    }
}

impl CatalogEdits {
    /// Why the start must stop, and the two ways out; None when nothing is stranded.
    pub fn refusal(&self) -> Option<String> {
        if self.stranded.is_empty() {
            return None;
        }
        let each = self
            .stranded
            .iter()
            .map(|(connector, ids)| {
                let ids = ids
                    .iter()
                    .map(|id| format!("#{id}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                format!("connector `{connector}` is no longer in the catalog, but live grants made through it must still be taken away (requests {ids})")
            })
            .collect::<Vec<_>>()
            .join("; ");
        Some(format!(
            "{each}. Either put the connector back in the catalog until those grants end, or, with it still in the catalog, revoke them now: `gatehouse revoke ID --reason TEXT` (or `/access-admin revoke #ID REASON` in Slack)"
        ))
    }
}

/// Compares the live grant records with `catalog`.
pub async fn catalog_edits(c: &impl Conn, catalog: &Catalog) -> Result<CatalogEdits, StoreError> {
    let mut edits = CatalogEdits::default();
    for group in store::grants::live_by_resource(c).await? {
        let unit: Unit = serde_json::from_str(&group.spec)
            .map_err(|e| StoreError::Corrupt(format!("a grant's unit `{}`: {e}", group.spec)))?;
        let resource = ResourceId::parse(&group.resource_id)
            .ok()
            .and_then(|id| catalog.resource(&id));
        let now = match resource {
            Some(r) if r.grant == unit && r.connector.as_str() == group.connector_id => continue,
            Some(r) => Some(format!("{} on `{}`", r.grant, r.connector)),
            None => None,
        };
        edits.changed.push(Edited {
            resource: group.resource_id,
            count: group.count,
            connector: group.connector_id,
            granted: unit.to_string(),
            now,
        });
    }
    let mut gone = Vec::new();
    for connector in edits.changed.iter().map(|e| e.connector.as_str()) {
        let known = crate::domain::ConnectorId::parse(connector)
            .ok()
            .is_some_and(|id| catalog.connectors.contains_key(&id));
        if !known && !gone.contains(&connector.to_owned()) {
            gone.push(connector.to_owned());
        }
    }
    for connector in gone {
        let ids = store::grants::live_on_connector(c, &connector)
            .await?
            .into_iter()
            .map(|g| g.request_id)
            .collect();
        edits.stranded.push((connector, ids));
    }
    Ok(edits)
}
