//! Connectors: the code that changes access on platforms. Each platform implements
//! [`Connector`]; [`grant`] and [`revoke`] wrap every platform in the same check → change →
//! re-check, and `Registry` picks the connector a resource names, behind its own rate limit, and
//! serves `workflow` as its `Provisioner`. Connectors know nothing of Slack, requests' lifecycle
//! or our database.
//!
//! This file owns the `Connector` trait and the shared grant and revoke; `registry` holds the
//! `Registry`, and `limited` the rate limits it puts each connector behind.

pub mod bigquery;
pub mod databricks;
pub mod looker;
pub mod mysql;
mod mysql_flavour;
pub mod postgres;
pub mod powerbi;
pub mod quoting;
pub mod redshift;
pub mod sigma;
pub mod snowflake;
pub mod tableau;

mod limited;
mod registry;

pub use registry::Registry;

use std::time::Duration;

use crate::domain::Unit;
pub use crate::platform::{ConnectorError, Holding, PlatformIdentity, Readiness, Undo, http};

impl From<quoting::BadName> for ConnectorError {
    fn from(e: quoting::BadName) -> Self {
        ConnectorError::Permanent(e.to_string())
    }
}

/// One platform. Implementations change exactly one unit for one identity per call and report
/// what they did in the platform's terms (the statement or the API call), for the audit log.
#[async_trait::async_trait]
pub trait Connector: Send + Sync {
    /// A round trip to the platform, bounded in time (App Home waits for it).
    async fn ping(&self) -> Result<(), ConnectorError>;

    /// Every user, role and group the platform lists, all pages followed.
    async fn list_identities(&self) -> Result<Vec<PlatformIdentity>, ConnectorError>;

    /// What could be granted: the roles and groups among the identities.
    async fn list_grantable(&self) -> Result<Vec<PlatformIdentity>, ConnectorError> {
        let all = self.list_identities().await?;
        Ok(all.into_iter().filter(|i| i.kind != "user").collect())
    }

    /// Does `identity` hold `unit` now, and through what?
    async fn check(&self, identity: &str, unit: &Unit) -> Result<Holding, ConnectorError>;

    /// Before anyone asks: does the unit exist, and may the account Gatehouse uses grant and
    /// revoke it? Changes nothing on the platform. `Missing` names the statement or setting
    /// that fixes it; an error means the platform could not be asked.
    async fn readiness(&self, unit: &Unit) -> Result<Readiness, ConnectorError>;

    /// Makes the change that gives `identity` the unit directly. Called only after a check
    /// found it missing; says what it ran.
    async fn add(&self, identity: &str, unit: &Unit) -> Result<String, ConnectorError>;

    /// Makes the change that takes the directly held unit away. Called only after a check
    /// found it held; says what it ran.
    async fn remove(&self, identity: &str, unit: &Unit) -> Result<String, ConnectorError>;

    /// `add`, for platforms that grant a unit as several privileges and some may be held
    /// already: also returns a receipt of exactly what was added, which the revocation gets back.
    async fn add_recorded(&self, identity: &str, unit: &Unit) -> Result<Added, ConnectorError> {
        Ok(Added {
            did: self.add(identity, unit).await?,
            receipt: None,
        })
    }

    /// `remove`, given what `undo` says: the grant's receipt (None when the grant added nothing
    /// or kept no record) and the units the identity still holds through other grants, whose
    /// privileges stay.
    async fn remove_recorded(
        &self,
        identity: &str,
        unit: &Unit,
        _undo: Undo<'_>,
    ) -> Result<String, ConnectorError> {
        self.remove(identity, unit).await
    }
}

/// What a grant changed: words for the audit log, and for platforms that grant a unit as
/// several privileges, a receipt (the connector's own JSON) of which ones it added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Added {
    pub did: String,
    pub receipt: Option<String>,
}

/// Gives `identity` the unit: check, add, check again. Repeating it changes nothing; a platform
/// that answers success without making the change is caught by the second check.
pub async fn grant(
    c: &dyn Connector,
    identity: &str,
    unit: &Unit,
) -> Result<String, ConnectorError> {
    Ok(grant_recorded(c, identity, unit).await?.did)
}

/// [`grant`], keeping the connector's receipt of what it added.
pub async fn grant_recorded(
    c: &dyn Connector,
    identity: &str,
    unit: &Unit,
) -> Result<Added, ConnectorError> {
    if c.check(identity, unit).await?.direct {
        return Ok(Added {
            did: "already held".into(),
            receipt: None,
        });
    }
    let added = match c.add_recorded(identity, unit).await {
        Ok(added) => added,
        // Another grant of the same unit ran at the same instant (SQL servers do not
        // serialize two GRANTs of one membership: the second fails), or the platform applied
        // it and then failed to answer: what was asked holds.
        Err(e) => match c.check(identity, unit).await {
            Ok(held) if held.direct => {
                return Ok(Added {
                    did: format!("held when checked again (the platform had answered: {e})"),
                    receipt: None,
                });
            }
            _ => return Err(e),
        },
    };
    if !c.check(identity, unit).await?.direct {
        return Err(ConnectorError::Permanent(format!(
            "the platform accepted `{}`, but `{identity}` still does not hold the {unit}",
            added.did
        )));
    }
    Ok(added)
}

/// Takes the unit away from `identity`: check, remove, check again. Access already gone is
/// success, so a revocation can be retried safely.
pub async fn revoke(
    c: &dyn Connector,
    identity: &str,
    unit: &Unit,
) -> Result<String, ConnectorError> {
    revoke_leaving(c, identity, unit, Undo::default()).await
}

/// [`revoke`] for a recorded grant: removes only what its receipt lists, and nothing that
/// `undo.keep` (other live grants of the same identity) still needs.
pub async fn revoke_leaving(
    c: &dyn Connector,
    identity: &str,
    unit: &Unit,
    undo: Undo<'_>,
) -> Result<String, ConnectorError> {
    if undo.keep.contains(unit) {
        return Ok("kept: another active grant gives the same access".into());
    }
    // With a receipt, the connector removes what is left of it even when the unit is only
    // partly held (someone took one privilege away by hand).
    if undo.receipt.is_none() && !c.check(identity, unit).await?.direct {
        return Ok("already absent".into());
    }
    let did = match c.remove_recorded(identity, unit, undo).await {
        Ok(did) => did,
        // As in `grant_recorded`: a revoke of the same unit at the same instant, or one applied
        // without an answer. Only without a receipt, where held or not is the whole story.
        Err(e) if undo.receipt.is_none() => match c.check(identity, unit).await {
            Ok(held) if !held.direct => {
                return Ok(format!(
                    "absent when checked again (the platform had answered: {e})"
                ));
            }
            _ => return Err(e),
        },
        Err(e) => return Err(e),
    };
    if c.check(identity, unit).await?.direct {
        return Err(ConnectorError::Permanent(format!(
            "the platform accepted `{did}`, but `{identity}` still holds the {unit}"
        )));
    }
    Ok(did)
}

/// How long a health probe may take: App Home waits for it.
const PROBE_LIMIT: Duration = Duration::from_secs(2);

/// Runs a connector's health probe within [`PROBE_LIMIT`]; a probe that takes longer is
/// retryable, and `platform` names who did not answer.
pub(crate) async fn bounded_probe<T>(
    platform: &str,
    probe: impl std::future::Future<Output = Result<T, ConnectorError>>,
) -> Result<(), ConnectorError> {
    match tokio::time::timeout(PROBE_LIMIT, probe).await {
        Ok(result) => result.map(drop),
        Err(_) => Err(ConnectorError::Retryable(format!(
            "{platform} gave no answer within {} s",
            PROBE_LIMIT.as_secs()
        ))),
    }
}

/// The role a unit names, for platforms whose unit is role membership.
pub(crate) fn role_in<'u>(unit: &'u Unit, platform: &str) -> Result<&'u str, ConnectorError> {
    match unit {
        Unit::Role { role } => Ok(role),
        other => Err(not_granted(platform, "roles", "role", other)),
    }
}

/// The group a unit names, for platforms whose unit is group membership.
pub(crate) fn group_in<'u>(unit: &'u Unit, platform: &str) -> Result<&'u str, ConnectorError> {
    match unit {
        Unit::Group { group } => Ok(group),
        other => Err(not_granted(platform, "group memberships", "group", other)),
    }
}

/// `platform` cannot grant `other`: what it grants, and how to write it.
fn not_granted(platform: &str, grants: &str, key: &str, other: &Unit) -> ConnectorError {
    ConnectorError::Permanent(format!(
        "{platform} grants {grants}, not a {}; write grant = {{ {key} = \"…\" }}",
        other.kind().word()
    ))
}

#[cfg(test)]
mod shown;

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::sync::Mutex;

    use super::*;

    /// A platform holding memberships, which can be told to accept changes without making them.
    #[derive(Default)]
    pub(super) struct Memberships {
        held: Mutex<BTreeSet<(String, String)>>,
        ignores_changes: bool,
        changes: Mutex<usize>,
    }

    #[async_trait::async_trait]
    impl Connector for Memberships {
        async fn ping(&self) -> Result<(), ConnectorError> {
            Ok(())
        }
        async fn list_identities(&self) -> Result<Vec<PlatformIdentity>, ConnectorError> {
            Ok(Vec::new())
        }
        async fn check(&self, who: &str, unit: &Unit) -> Result<Holding, ConnectorError> {
            let key = (who.to_owned(), unit.name().to_owned());
            Ok(Holding {
                direct: self.held.lock().unwrap().contains(&key),
                through: Vec::new(),
            })
        }
        async fn readiness(&self, unit: &Unit) -> Result<Readiness, ConnectorError> {
            Ok(Readiness::Ready(format!("{unit} exists")))
        }
        async fn add(&self, who: &str, unit: &Unit) -> Result<String, ConnectorError> {
            *self.changes.lock().unwrap() += 1;
            if !self.ignores_changes {
                let key = (who.to_owned(), unit.name().to_owned());
                self.held.lock().unwrap().insert(key);
            }
            Ok(format!("add {who} to {}", unit.name()))
        }
        async fn remove(&self, who: &str, unit: &Unit) -> Result<String, ConnectorError> {
            *self.changes.lock().unwrap() += 1;
            if !self.ignores_changes {
                let key = (who.to_owned(), unit.name().to_owned());
                self.held.lock().unwrap().remove(&key);
            }
            Ok(format!("remove {who} from {}", unit.name()))
        }
    }

    pub(super) fn analysts() -> Unit {
        Unit::Role {
            role: "analysts".into(),
        }
    }

    #[tokio::test]
    async fn a_repeated_grant_or_revoke_changes_nothing_more() {
        let p = Memberships::default();
        for (give, said) in [
            (true, "add alice to analysts"),
            (true, "already held"),
            (false, "remove alice from analysts"),
            (false, "already absent"),
        ] {
            let did = if give {
                grant(&p, "alice", &analysts()).await
            } else {
                revoke(&p, "alice", &analysts()).await
            };
            assert_eq!(did.unwrap(), said);
        }
        assert_eq!(*p.changes.lock().unwrap(), 2);
        assert!(p.held.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_unit_another_live_grant_gives_is_not_taken_away() {
        let p = Memberships::default();
        grant(&p, "alice", &analysts()).await.unwrap();
        let keep = [analysts()];
        let undo = Undo {
            receipt: None,
            keep: &keep,
        };
        let did = revoke_leaving(&p, "alice", &analysts(), undo)
            .await
            .unwrap();
        assert!(did.starts_with("kept"), "{did}");
        assert_eq!(*p.changes.lock().unwrap(), 1);
        assert!(p.check("alice", &analysts()).await.unwrap().direct);
    }

    #[tokio::test]
    async fn a_platform_that_answers_success_without_the_change_is_caught() {
        let p = Memberships {
            ignores_changes: true,
            ..Default::default()
        };
        let err = grant(&p, "alice", &analysts()).await.unwrap_err();
        assert_eq!(
            err,
            ConnectorError::Permanent(
                "the platform accepted `add alice to analysts`, but `alice` still does not hold the role `analysts`".into()
            )
        );
    }
}
