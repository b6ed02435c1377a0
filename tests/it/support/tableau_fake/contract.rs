//! The site as the connector contract sees it: identities are user ids, units groups by name,
//! changes the Add User to Group and Remove User from Group calls; and its fault knobs.

use gatehouse::connectors::Connector;
use gatehouse::domain::Unit;

use super::{TOKEN_SECRET, TableauFake};
use crate::support::contract::{self, Case, Faults, Platform};

fn group(name: &str) -> Unit {
    Unit::Group { group: name.into() }
}

/// The site as the contract sees it: identities are user ids, units groups by name.
pub struct Site(pub TableauFake);

impl Site {
    /// Alice joins Finance; Bob looks on; Sales is the other group; a role is foreign.
    pub fn case(&self) -> Case {
        Case {
            identity: self.0.user_id("alice"),
            bystander: self.0.user_id("bob"),
            unit: group("Finance"),
            other_unit: group("Sales"),
            foreign_unit: Some(Unit::Role {
                role: "Sales".into(),
            }),
        }
    }

    /// The name of the user with `id`, and the group a unit names.
    fn names(&self, id: &str, unit: &Unit) -> (String, String) {
        let Unit::Group { group } = unit else {
            panic!("{unit:?}")
        };
        let s = self.0.state();
        let user = s.users.iter().find(|u| u.id == id).unwrap();
        (user.name.clone(), group.clone())
    }
}

impl Platform for Site {
    fn connector(&self) -> Box<dyn Connector> {
        Box::new(self.0.connector())
    }
    async fn holds(&self, identity: &str, unit: &Unit) -> bool {
        let (user, group) = self.names(identity, unit);
        self.0.holds(&user, &group)
    }
    async fn give(&self, identity: &str, unit: &Unit) {
        let (user, group) = self.names(identity, unit);
        self.0.join(&user, &group);
    }
    /// Add User to Group (POST …/sites/…/groups/…/users) and Remove User from Group (DELETE).
    fn changes(&self) -> usize {
        self.0.calls("POST /api/3.24/sites/") + self.0.calls("DELETE ")
    }
}

impl Faults for Site {
    fn sign_ins(&self) -> usize {
        self.0.sign_ins()
    }
    fn refused(&self) -> usize {
        self.0.calls("-> 401")
    }
    fn expire_tokens(&self) {
        self.0.expire_sessions();
    }
    contract::fault_knobs!(|p| p.0.state());
    fn unreachable(&self) -> Box<dyn Connector> {
        let mut gone = self.0.settings();
        gone.base_url = "http://127.0.0.1:9".into();
        Box::new(gatehouse::connectors::tableau::Tableau::new(&gone, TOKEN_SECRET).unwrap())
    }
}
