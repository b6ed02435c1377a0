//! A platform of groups behind a stateful fake (Databricks' SCIM groups, Looker's groups) as
//! the connector contract sees it, written once: Alice, Bob and a group of theirs in a struct,
//! the contract's case, and the [`Platform`](super::contract::Platform) that reads and changes
//! the fake's memberships. Each connector's file says only how its fake names a group and where
//! it signs in.

/// The struct `$name` (the fake `$fake`, Alice's and Bob's ids, the id of the group `finance`),
/// its `case()` (Alice granted the group `$unit`, Bob looking on, the group `$other` beside it,
/// a role foreign) and `group_id()` (a group's id by its `$field`), and its `Platform`, whose
/// changes are the fake's calls that neither read nor sign in at `$sign_in`; `$extra` are more
/// of the `Platform`'s methods.
macro_rules! group_platform {
    (
        $(#[$doc:meta])*
        $name:ident($fake:ty) {
            group_name: $field:ident,
            sign_in: $sign_in:expr,
            case: [$unit:expr, $other:expr],
            $($extra:tt)*
        }
    ) => {
        $(#[$doc])*
        struct $name {
            fake: $fake,
            alice: String,
            bob: String,
            finance: String,
        }

        impl $name {
            fn case(&self) -> $crate::support::contract::Case {
                $crate::support::contract::Case {
                    identity: self.alice.clone(),
                    bystander: self.bob.clone(),
                    unit: group($unit),
                    other_unit: group($other),
                    foreign_unit: Some(Unit::Role { role: "x".into() }),
                }
            }

            fn group_id(&self, unit: &Unit) -> String {
                let Unit::Group { group } = unit else {
                    panic!("{unit:?}")
                };
                let s = self.fake.state();
                let found = s.groups.iter().find(|g| &g.$field == group);
                found.unwrap().id.clone()
            }
        }

        impl $crate::support::contract::Platform for $name {
            fn connector(&self) -> Box<dyn Connector> {
                Box::new(self.fake.connector())
            }
            async fn holds(&self, identity: &str, unit: &Unit) -> bool {
                self.fake.holds(identity, &self.group_id(unit))
            }
            async fn give(&self, identity: &str, unit: &Unit) {
                self.fake.add_member(&self.group_id(unit), identity);
            }
            fn changes(&self) -> usize {
                let log = self.fake.log();
                log.iter()
                    .filter(|c| c.method != "GET" && c.path != $sign_in)
                    .count()
            }
            $($extra)*
        }
    };
}
pub(crate) use group_platform;
