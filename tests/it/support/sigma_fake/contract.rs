//! The organisation as the connector contract sees it: identities are member ids, units
//! teams by name, changes the PATCHes of team members; and its fault knobs.

use gatehouse::connectors::Connector;
use gatehouse::domain::Unit;

use super::SigmaFake;
use crate::support::contract::{self, Faults, Platform};

fn team_id(sg: &SigmaFake, unit: &Unit) -> String {
    let Unit::Group { group } = unit else {
        panic!("{unit:?}")
    };
    let s = sg.state();
    let (id, _) = s.teams.iter().find(|(_, name)| *name == group).unwrap();
    id.clone()
}

impl Platform for SigmaFake {
    fn connector(&self) -> Box<dyn Connector> {
        Box::new(SigmaFake::connector(self))
    }
    async fn holds(&self, identity: &str, unit: &Unit) -> bool {
        self.in_team(&team_id(self, unit), identity)
    }
    async fn give(&self, identity: &str, unit: &Unit) {
        self.put_in_team(&team_id(self, unit), identity);
    }
    fn changes(&self) -> usize {
        self.calls("PATCH")
    }
}

impl Faults for SigmaFake {
    fn sign_ins(&self) -> usize {
        self.state().tokens_issued
    }
    fn refused(&self) -> usize {
        self.state().refused
    }
    /// The token endpoint allows one call a second: that second passes too.
    fn expire_tokens(&self) {
        self.token_window_passes();
        SigmaFake::expire_tokens(self);
    }
    contract::fault_knobs!(|p| p.state());
    fn unreachable(&self) -> Box<dyn Connector> {
        let mut gone = self.settings();
        gone.base_url = "http://127.0.0.1:9".into();
        let secret = gatehouse::config::Secret::new("x");
        Box::new(gatehouse::connectors::sigma::Sigma::new(&gone, secret).unwrap())
    }
}
