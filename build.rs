//! Stamps the binary with the git commit it was built from, for `gatehouse --version` and the
//! container image's labels. Outside a git checkout (a source tarball, `cargo install` from a
//! copy) it says "unknown" rather than fail; `GATEHOUSE_COMMIT` set by a packager wins.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=GATEHOUSE_COMMIT");
    // A new commit or checkout changes HEAD (or the ref it names).
    for path in [".git/HEAD", ".git/refs/heads", ".git/packed-refs"] {
        if std::path::Path::new(path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    let commit = std::env::var("GATEHOUSE_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(|| {
            let out = Command::new("git")
                .args(["rev-parse", "--short=12", "HEAD"])
                .output()
                .ok()?;
            out.status
                .success()
                .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
                .filter(|c| !c.is_empty())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=GATEHOUSE_COMMIT={commit}");
}
