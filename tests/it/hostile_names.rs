//! Property: whatever a user or role is called — quotes, backticks, semicolons, comment
//! markers, spaces, unicode, over-long — each connector either quotes it into one identifier or
//! refuses it with a clear message; and the real PostgreSQL and MariaDB servers, running the
//! statements, change nothing but that one membership: a canary survives, and the server's
//! roles and memberships afterwards are exactly the ones the test expects.

use std::cell::Cell;

use gatehouse::connectors;
use proptest::prelude::*;

use crate::support::mariadb::{Shop, tick};
use crate::support::pg::{Server, quoted};
use crate::support::sql_suite::SqlServer;

/// Names assembled from the fragments injections are made of.
fn hostile_name() -> impl Strategy<Value = String> {
    let injected = prop::sample::select(vec![
        "\"",
        "`",
        "'",
        ";",
        "--",
        "/*",
        "*/",
        " ",
        "\\",
        "%",
        "$$",
        "DROP TABLE canary",
        ") OR (1=1",
    ])
    .prop_map(String::from);
    // Weighted as when each injected fragment was an arm of its own.
    let fragment = prop_oneof![
        13 => injected,
        1 => "[a-zA-Z0-9_]{1,6}",
        1 => "[é✅ñ漢ß]{1,3}",
    ];
    prop::collection::vec(fragment, 1..7).prop_map(|parts| parts.concat())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 24,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Whatever a login is called, `S`'s connector refuses it when `refused(name)` names the words
/// it must use, or else grants the role with the statement `granted(role, name)`, the server
/// holds exactly that membership, then none after the revoke, and no login or role but the
/// test's own was made or dropped; the canary survives every name.
fn only_the_grant_runs<S: SqlServer>(
    test: &str,
    refused: fn(&str) -> Option<&'static [&'static str]>,
    granted: fn(&str, &str) -> String,
) {
    let rt = runtime();
    // The connectors' pools are made, and dropped, inside the runtime.
    let _inside = rt.enter();
    let Some(mut s) = rt.block_on(S::start(test)) else {
        return;
    };
    let p = s.prefix().to_owned();
    let role = format!("{p}_role");
    rt.block_on(async {
        s.make_unit(&role).await;
        s.plant_canary().await;
    });
    let (c, unit) = (s.connector(), S::unit(&role));
    let n = Cell::new(0);
    let cell = tokio::sync::Mutex::new(s);
    proptest!(config(), |(tail in hostile_name())| {
        n.set(n.get() + 1);
        let name = format!("{p}{}{tail}", n.get());
        rt.block_on(async {
            let mut s = cell.lock().await;
            if let Some(words) = refused(&name) {
                let err = connectors::grant(c.as_ref(), &name, &unit).await.unwrap_err().to_string();
                prop_assert!(words.iter().any(|w| err.contains(w)), "{err}");
                return Ok(());
            }
            let before = s.principals().await;
            let login = s.login(&name).await;
            let did = connectors::grant(c.as_ref(), &name, &unit).await.unwrap();
            prop_assert_eq!(did, granted(&role, &name));
            prop_assert_eq!(s.holders(&unit).await, vec![login], "{:?}", name);
            connectors::revoke(c.as_ref(), &name, &unit).await.unwrap();
            prop_assert!(s.holders(&unit).await.is_empty(), "{:?}", name);
            prop_assert_eq!(s.principals().await, before + 1, "no login or role made or dropped but the test's");
            Ok(())
        })?;
    });
    let s = cell.into_inner();
    rt.block_on(async {
        assert!(s.canary_survives().await, "the canary survived every name");
        s.finish().await;
    });
}

#[test]
fn postgres_runs_only_the_grant_whatever_the_names() {
    only_the_grant_runs::<Server>(
        "postgres_runs_only_the_grant_whatever_the_names",
        |name| (name.len() > 63).then_some(&["longer than 63 bytes"]),
        |role, name| format!("GRANT {} TO {}", quoted(role), quoted(name)),
    );
}

#[test]
fn mariadb_runs_only_the_grant_whatever_the_names() {
    only_the_grant_runs::<Shop>(
        "mariadb_runs_only_the_grant_whatever_the_names",
        |name| {
            (name.chars().count() > 80 || name.ends_with(' '))
                .then_some(&["longer than", "ends with a space"])
        },
        |role, name| {
            let (r, n) = (tick(role), tick(name));
            format!("GRANT {r} TO {n}@`%`; SET DEFAULT ROLE {r} FOR {n}@`%`")
        },
    );
}
