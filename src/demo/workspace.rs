//! The demo's people, its Slack workspace and its catalog.

use slack_sim::{ChannelSeed, SimConfig, UserSeed};

pub const CHANNEL: &str = "C0ACCESS";
pub const CHANNEL_NAME: &str = "access-requests";
pub const BOT: &str = "U0BOT";

/// Someone in the demo workspace.
#[derive(Debug, Clone, Copy)]
pub struct Person {
    pub id: &'static str,
    pub handle: &'static str,
    pub name: &'static str,
    pub role: &'static str,
    pub tz: &'static str,
}

pub const REQUESTER: Person = Person {
    id: "U0MAYA",
    handle: "maya",
    name: "Maya Chen",
    role: "analyst, asks for access",
    tz: "Europe/Paris",
};
pub const REVIEWER: Person = Person {
    id: "U0RAVI",
    handle: "ravi",
    name: "Ravi Patel",
    role: "data lead, reviews",
    tz: "America/New_York",
};
pub const ADMIN: Person = Person {
    id: "U0ADA",
    handle: "ada",
    name: "Ada Okafor",
    role: "platform admin",
    tz: "Asia/Tokyo",
};
pub const PEOPLE: [Person; 3] = [REQUESTER, REVIEWER, ADMIN];

/// The name a person goes by in the transcript, from their Slack ID.
pub fn name_of(id: &str) -> Option<&'static str> {
    if id == BOT {
        return Some("Gatehouse");
    }
    PEOPLE.iter().find(|p| p.id == id).map(|p| p.name)
}

/// slack-sim's demo workspace with the three people above and #access-requests.
pub fn sim_config(port: Option<u16>) -> SimConfig {
    let mut c = SimConfig::demo();
    c.bot_user_id = BOT.into();
    c.port = port;
    let seed = |p: &Person| UserSeed {
        id: p.id.into(),
        name: p.handle.into(),
        real_name: p.name.into(),
        email: Some(format!("{}@example.com", p.handle)),
        tz: p.tz.into(),
        tz_offset: 0,
        ..UserSeed::default()
    };
    let mut users: Vec<UserSeed> = PEOPLE.iter().map(seed).collect();
    users.extend(c.users.iter().filter(|u| u.is_bot).cloned());
    c.users = users;
    let mut members: Vec<String> = PEOPLE.iter().map(|p| p.id.to_owned()).collect();
    members.push(BOT.into());
    c.channels = vec![ChannelSeed {
        id: CHANNEL.into(),
        name: CHANNEL_NAME.into(),
        is_private: false,
        members,
    }];
    c.usergroups = Vec::new();
    c
}

/// The environment variable the catalog names for the PostgreSQL connector's URL (read from
/// the demo's own lookup, never from the process environment).
pub const PG_URL_VAR: &str = "GATEHOUSE_DEMO_POSTGRES_URL";
pub const PG_CONNECTOR: &str = "demo-postgres";
pub const PG_RESOURCE: &str = "warehouse-analysts";
pub const MANUAL_RESOURCE: &str = "analytics-ro";

/// The built-in catalog: two resources granted by hand (the `manual` connector).
const CATALOG: &str = r#"
admins = ["U0ADA"]

[defaults]
min_duration = "1m"        # short grants, so that --interactive can show an expiry
default_duration = "8h"
max_duration = "1d"
remind_before = "1h"

[connectors.manual]
kind = "manual"

[[resources]]
id = "analytics-ro"
name = "Analytics warehouse (read-only)"
description = "Read the curated analytics schemas"
connector = "manual"
grant = { task = "Add the person to the ANALYTICS_RO role in the warehouse" }
reviewers = ["U0RAVI"]

[[resources]]
id = "finance-dashboards"
name = "Finance dashboards"
description = "View the finance team's dashboards"
connector = "manual"
grant = { task = "Add the person to the Finance viewers group" }
reviewers = ["U0RAVI"]
reason_required = false
"#;

/// The catalog, with a resource on the real PostgreSQL connector granting `role` when the demo
/// has a server to use.
pub fn catalog(pg_role: Option<&str>) -> String {
    let mut c = CATALOG.to_owned();
    if let Some(role) = pg_role {
        c.push_str(&format!(
            r#"
[connectors.{PG_CONNECTOR}]
kind = "postgres"
url = {{ env = "{PG_URL_VAR}" }}

[[resources]]
id = "{PG_RESOURCE}"
name = "Warehouse analysts (PostgreSQL)"
description = "Membership of the role {role} on the PostgreSQL server"
connector = "{PG_CONNECTOR}"
grant = {{ role = "{role}" }}
reviewers = ["U0RAVI"]
"#
        ));
    }
    c
}
