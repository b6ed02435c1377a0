//! The account as the connector contract sees it: identities and roles given in lower case
//! (as Snowflake folds unquoted names), changes the GRANT and REVOKE statements it ran.

use gatehouse::connectors::Connector;
use gatehouse::domain::Unit;

use super::SnowflakeFake;
use crate::support::contract::{Case, Platform};

fn role(name: &str) -> Unit {
    Unit::Role { role: name.into() }
}

/// The account as the contract sees it; names are given in lower case, as Snowflake folds
/// unquoted ones.
pub struct Account(pub SnowflakeFake);

impl Account {
    /// alice is granted analyst; bob looks on; loader is the other role; a group is foreign.
    pub fn case(&self) -> Case {
        Case {
            identity: "alice".into(),
            bystander: "bob".into(),
            unit: role("analyst"),
            other_unit: role("loader"),
            foreign_unit: Some(Unit::Group { group: "g".into() }),
        }
    }
}

/// A user's and a role unit's names as the account stores them.
fn stored(identity: &str, unit: &Unit) -> (String, String) {
    let Unit::Role { role } = unit else {
        panic!("{unit:?}")
    };
    (identity.to_uppercase(), role.to_uppercase())
}

impl Platform for Account {
    fn connector(&self) -> Box<dyn Connector> {
        Box::new(self.0.connector())
    }
    async fn holds(&self, identity: &str, unit: &Unit) -> bool {
        let (user, role) = stored(identity, unit);
        self.0.holds(&user, &role)
    }
    async fn give(&self, identity: &str, unit: &Unit) {
        let grant = stored(identity, unit);
        self.0.state().account.user_grants.insert(grant);
    }
    fn changes(&self) -> usize {
        self.0.executed("GRANT") + self.0.executed("REVOKE")
    }
    /// Through the role TEAM, which is granted the unit's role.
    async fn give_inherited(&self, identity: &str, unit: &Unit) -> Option<Vec<String>> {
        let (user, role) = stored(identity, unit);
        self.0.add_role("TEAM");
        self.0.grant_to_role("TEAM", &role);
        self.0
            .state()
            .account
            .user_grants
            .insert((user, "TEAM".into()));
        Some(vec!["role `TEAM`".into()])
    }
}
