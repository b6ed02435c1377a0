//! The shape of the code, kept as built (see ARCHITECTURE.md): dependencies between modules run
//! one way, so no file depends on a file that depends back on it and no top-level module on one
//! that depends back on it; every file says what it owns in a `//!` opening, and is short enough
//! to hold in one's head.
//!
//! Dependencies are read from the source as written: every `crate::a::b…` and `super::…` path
//! outside comments and unit tests, resolved to the deepest module that has a file. A parent
//! declaring and re-exporting its children (`mod x; pub use x::Y;`) is ownership, not a
//! dependency, and is not read (those paths start with neither `crate::` nor `super::`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The longest a source file may be.
const MOST_LINES: usize = 600;

fn sources() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("src/ is readable") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut out);
    out.sort();
    out
}

/// `src/a/b.rs` and `src/a/b/mod.rs` are module `a::b`; `lib.rs` and `main.rs` the crate root.
fn module_of(file: &Path) -> Vec<String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let rel = file.strip_prefix(&src).expect("under src/");
    let mut parts: Vec<String> = rel
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    if parts == ["lib"] || parts == ["main"] {
        parts.clear();
    }
    parts
}

/// The code a file's dependencies are read from: without its unit tests and comments.
fn code_of(text: &str) -> String {
    let body = text.split("#[cfg(test)]").next().unwrap_or(text);
    body.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every `crate::…` and `super::…` path in `code`, as written (segments after the first).
fn paths_in(code: &str) -> Vec<(bool, Vec<String>)> {
    let mut found = Vec::new();
    let bytes = code.as_bytes();
    for (start, _) in code.match_indices("::") {
        // Find the word before "::".
        let mut begin = start;
        while begin > 0 && (bytes[begin - 1].is_ascii_alphanumeric() || bytes[begin - 1] == b'_') {
            begin -= 1;
        }
        let head = &code[begin..start];
        if head != "crate" && head != "super" {
            continue;
        }
        // Only where a path starts: not `x::super` or `foo_crate::`.
        if begin > 0 && (bytes[begin - 1] == b':' || bytes[begin - 1].is_ascii_alphanumeric()) {
            continue;
        }
        let mut segments = vec![head.to_owned()];
        let mut rest = &code[start..];
        while let Some(after) = rest.strip_prefix("::") {
            let len = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            if len == 0 {
                break;
            }
            segments.push(after[..len].to_owned());
            rest = &after[len..];
        }
        found.push((head == "crate", segments));
    }
    found
}

struct Graph {
    files: BTreeMap<Vec<String>, PathBuf>,
    edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
}

fn graph() -> Graph {
    let mut files = BTreeMap::new();
    for f in sources() {
        files.insert(module_of(&f), f);
    }
    let resolve = |path: &[String]| -> Option<Vec<String>> {
        (1..=path.len())
            .rev()
            .map(|n| path[..n].to_vec())
            .find(|p| files.contains_key(p))
    };
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for (module, file) in &files {
        if module.is_empty() {
            continue;
        }
        let text = std::fs::read_to_string(file).expect("a readable source file");
        for (from_crate, segments) in paths_in(&code_of(&text)) {
            let target: Vec<String> = if from_crate {
                segments[1..].to_vec()
            } else {
                // `super` from module a::b::c is a::b; each further `super` one more up.
                let mut base = module.clone();
                let mut rest = segments.as_slice();
                while let Some(("super", tail)) = rest.split_first().map(|(h, t)| (h.as_str(), t)) {
                    base.pop();
                    rest = tail;
                }
                base.extend(rest.iter().cloned());
                base
            };
            if let Some(to) = resolve(&target)
                && &to != module
                && !to.is_empty()
            {
                edges.entry(module.clone()).or_default().insert(to);
            }
        }
    }
    Graph { files, edges }
}

/// A cycle through `from`, if there is one: the modules in order, back to `from`.
fn cycle_through(
    edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
    from: &Vec<String>,
) -> Option<Vec<Vec<String>>> {
    // Depth-first search for a path from `from`'s successors back to `from`.
    let mut stack = vec![(from.clone(), vec![from.clone()])];
    let mut seen = BTreeSet::new();
    while let Some((at, path)) = stack.pop() {
        for next in edges.get(&at).into_iter().flatten() {
            if next == from {
                let mut cycle = path.clone();
                cycle.push(from.clone());
                return Some(cycle);
            }
            if seen.insert(next.clone()) {
                let mut longer = path.clone();
                longer.push(next.clone());
                stack.push((next.clone(), longer));
            }
        }
    }
    None
}

fn shown(cycle: &[Vec<String>]) -> String {
    cycle
        .iter()
        .map(|m| m.join("::"))
        .collect::<Vec<_>>()
        .join(" → ")
}

#[test]
fn no_file_depends_on_a_file_that_depends_back_on_it() {
    let g = graph();
    let cycles: BTreeSet<String> = g
        .files
        .keys()
        .filter_map(|m| cycle_through(&g.edges, m))
        .map(|c| shown(&c))
        .collect();
    assert!(
        cycles.is_empty(),
        "dependencies between files must run one way; these go round (move what both need below both):\n{}",
        cycles.into_iter().collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn no_top_level_module_depends_on_one_that_depends_back_on_it() {
    let g = graph();
    let mut top: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for (from, tos) in &g.edges {
        for to in tos {
            if from[0] != to[0] {
                top.entry(vec![from[0].clone()])
                    .or_default()
                    .insert(vec![to[0].clone()]);
            }
        }
    }
    let cycles: BTreeSet<String> = top
        .keys()
        .filter_map(|m| cycle_through(&top, m))
        .map(|c| shown(&c))
        .collect();
    assert!(
        cycles.is_empty(),
        "dependencies between top-level modules must run one way (see ARCHITECTURE.md):\n{}",
        cycles.into_iter().collect::<Vec<_>>().join("\n")
    );
    // The foundations depend on nothing above them.
    for low in ["domain", "clock"] {
        let above: Vec<String> = top
            .get(&vec![low.to_owned()])
            .into_iter()
            .flatten()
            .map(|m| m.join("::"))
            .collect();
        assert!(above.is_empty(), "`{low}` depends on {above:?}");
    }
}

#[test]
fn the_reader_finds_the_paths_it_should() {
    let code = code_of(
        "use crate::workflow::{Notice, Audience};\nuse super::super::store::Db; // crate::not::this\nlet x = foo_crate::y; a::super::z;\n#[cfg(test)]\nuse crate::tests_only;",
    );
    let found = paths_in(&code);
    assert_eq!(
        found,
        vec![
            (true, vec!["crate".into(), "workflow".into()]),
            (
                false,
                vec!["super".into(), "super".into(), "store".into(), "Db".into()]
            ),
        ]
    );
    // And the graph it builds has the edges this tree is known to have.
    let g = graph();
    let workflow = vec!["workflow".to_owned()];
    assert!(g.edges[&workflow].contains(&vec!["store".to_owned()]));
    assert!(
        g.edges[&vec!["connectors".to_owned()]].contains(&vec!["platform".to_owned()]),
        "connectors speak the platform contract"
    );
}

#[test]
fn every_file_says_what_it_owns_and_fits_in_ones_head() {
    let mut problems = Vec::new();
    for file in sources() {
        let text = std::fs::read_to_string(&file).expect("a readable source file");
        let name = file
            .strip_prefix(env!("CARGO_MANIFEST_DIR"))
            .unwrap_or(&file)
            .display()
            .to_string();
        if !text.starts_with("//!") {
            problems.push(format!(
                "{name}: does not open with a `//!` saying what it owns"
            ));
        }
        let lines = text.lines().count();
        if lines > MOST_LINES {
            problems.push(format!(
                "{name}: {lines} lines, over {MOST_LINES}: split it by concern"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
