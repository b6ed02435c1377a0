//! Server roles for one test, made in one call: what the PostgreSQL tests all begin with.

use super::pg::Roles;

/// Makes each of `wanted` (a name, and whether it logs in) on the server at `url`, named
/// `<p>_<name>` (`p` from `pg::prefix`); the roles (to drop after) and the names made, in
/// `wanted`'s order.
pub async fn made_roles<const N: usize>(
    url: &str,
    p: &str,
    wanted: [(&str, bool); N],
) -> (Roles, [String; N]) {
    let mut roles = Roles::new(url).await;
    let names = wanted.map(|(name, _)| format!("{p}_{name}"));
    for (name, (_, login)) in names.iter().zip(wanted) {
        roles.make(name, login).await;
    }
    (roles, names)
}
