//! Invariants of DESIGN.md that can be checked by reading the source.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn code_of(path: &Path) -> String {
    // Only the code above the unit tests counts.
    let text = std::fs::read_to_string(path).unwrap();
    match text.find("#[cfg(test)]") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

#[test]
fn domain_is_pure() {
    for file in rust_files(&src().join("domain")) {
        let code = code_of(&file);
        for banned in [
            "async ",
            "sea_orm",
            "slack_morphism",
            "reqwest",
            "Utc::now",
            "tokio",
        ] {
            assert!(!code.contains(banned), "{} uses `{banned}`", file.display());
        }
    }
}

#[test]
fn only_store_names_entities_and_only_clock_reads_the_wall_clock() {
    for file in rust_files(&src()) {
        let rel = file
            .strip_prefix(src())
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let code = code_of(&file);
        if !rel.starts_with("store") {
            let names_entity = code.match_indices("entities::").any(|(i, _)| {
                !code[..i].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
            });
            assert!(!names_entity, "{rel} names a sea-orm entity");
            assert!(
                !code.contains("DeriveEntityModel"),
                "{rel} defines an entity"
            );
        }
        if rel != "clock.rs" {
            assert!(!code.contains("Utc::now"), "{rel} reads the wall clock");
        }
    }
}

#[test]
fn every_module_says_what_it_owns() {
    for file in rust_files(&src()) {
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(
            text.starts_with("//!"),
            "{} has no `//!` line at the top",
            file.display()
        );
    }
}
