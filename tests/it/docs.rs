//! The documentation a newcomer reads — README.md, ARCHITECTURE.md and every file in docs/ — stays true: its
//! relative links lead somewhere, and its catalog examples are catalogs Gatehouse accepts.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// README.md, ARCHITECTURE.md and every markdown file in docs/, as paths relative to the repository's root.
fn markdown_files() -> Vec<PathBuf> {
    let mut files = vec![PathBuf::from("README.md"), PathBuf::from("ARCHITECTURE.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "md"))
        .map(|path| Path::new("docs").join(path.file_name().unwrap()))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

fn read(file: &Path) -> String {
    std::fs::read_to_string(root().join(file))
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()))
}

/// The lines outside fenced code blocks, with their line numbers (from 1).
fn prose_lines(text: &str) -> Vec<(usize, &str)> {
    let mut fenced = false;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if !fenced {
            out.push((i + 1, line));
        }
    }
    out
}

/// `line` without its inline code spans, so that a link written as code is not taken for one.
fn without_code_spans(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(start) = rest.find('`') {
        out.push_str(&rest[..start]);
        let ticks = rest[start..].chars().take_while(|&c| c == '`').count();
        let fence = &rest[start..start + ticks];
        let after = &rest[start + ticks..];
        match after.find(fence) {
            Some(end) => rest = &after[end + ticks..],
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// GitHub's anchor for a heading: lower case, spaces to `-`, every other character that is not
/// a letter, a digit, `-` or `_` dropped (so "Before anyone asks: `gatehouse check-config
/// --platforms`" is `before-anyone-asks-gatehouse-check-config---platforms`).
fn slug(heading: &str) -> String {
    heading
        .trim()
        .chars()
        .flat_map(char::to_lowercase)
        .filter_map(|c| match c {
            ' ' => Some('-'),
            '-' | '_' => Some(c),
            c if c.is_alphanumeric() => Some(c),
            _ => None,
        })
        .collect()
}

/// Every anchor a markdown file has: one per ATX heading, a repeated one suffixed `-1`, `-2`….
fn anchors(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (_, line) in prose_lines(text) {
        let hashes = line.chars().take_while(|&c| c == '#').count();
        if hashes == 0 || hashes > 6 || !line[hashes..].starts_with(' ') {
            continue;
        }
        let base = slug(line[hashes..].trim_end_matches('#'));
        let mut anchor = base.clone();
        let mut n = 0;
        while out.contains(&anchor) {
            n += 1;
            anchor = format!("{base}-{n}");
        }
        out.push(anchor);
    }
    out
}

/// The targets of the inline links and images on a line: `[text](target)`, `![alt](target)`.
fn link_targets(line: &str) -> Vec<String> {
    let line = without_code_spans(line);
    let mut out = Vec::new();
    let mut rest = line.as_str();
    while let Some(at) = rest.find("](") {
        let after = &rest[at + 2..];
        let Some(end) = after.find(')') else { break };
        let target = after[..end].split_whitespace().next().unwrap_or("");
        out.push(target.trim_matches(['<', '>']).to_owned());
        rest = &after[end..];
    }
    out
}

fn is_external(target: &str) -> bool {
    target.contains("://") || target.starts_with("mailto:")
}

/// Every relative link in README.md and docs/*.md leads to a file (or folder) that exists, and
/// a `#anchor`, alone or after a markdown file, to a heading of that file, by GitHub's rules
/// (see `slug`). External links (`https://…`, `mailto:`) are not followed.
#[test]
fn every_relative_link_in_the_docs_resolves() {
    let mut broken = Vec::new();
    for file in markdown_files() {
        let text = read(&file);
        let dir = file.parent().unwrap_or(Path::new(""));
        for (number, line) in prose_lines(&text) {
            for target in link_targets(line) {
                if target.is_empty() || is_external(&target) {
                    continue;
                }
                let (path, anchor) = match target.split_once('#') {
                    Some((path, anchor)) => (path, Some(anchor)),
                    None => (target.as_str(), None),
                };
                let linked = if path.is_empty() {
                    file.clone()
                } else {
                    dir.join(path)
                };
                let at = format!("{}:{number}: link `{target}`", file.display());
                if !root().join(&linked).exists() {
                    broken.push(format!("{at}: {} does not exist", linked.display()));
                    continue;
                }
                let Some(anchor) = anchor else { continue };
                if linked.extension().is_none_or(|e| e != "md") {
                    continue;
                }
                let headings = anchors(&read(&linked));
                if !headings.iter().any(|h| h == anchor) {
                    broken.push(format!(
                        "{at}: {} has no heading whose anchor is `#{anchor}` (its anchors: {})",
                        linked.display(),
                        headings.join(", ")
                    ));
                }
            }
        }
    }
    assert!(
        broken.is_empty(),
        "broken links in the docs:\n{}",
        broken.join("\n")
    );
}

/// What an example names without defining it, as a catalog elsewhere in the docs defines it.
/// Added after the example (so the example's own top-level keys stay top-level) when the
/// example has no table of that name.
const DEFINED_ELSEWHERE: &[(&str, &str)] = &[
    (
        "[connectors.warehouse]",
        "kind = \"postgres\"\nurl = { env = \"WAREHOUSE_PG_URL\" }",
    ),
    (
        "[oncall.pd]",
        "kind = \"pagerduty\"\ntoken = { env = \"PAGERDUTY_TOKEN\" }",
    ),
];

/// The ```toml blocks of a markdown file, with the line each starts on.
fn toml_blocks(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, line) in text.lines().enumerate() {
        match current.as_mut() {
            None if line.trim_start().starts_with("```toml") => {
                current = Some((i + 1, String::new()));
            }
            None => {}
            Some(_) if line.trim_start().starts_with("```") => {
                out.extend(current.take());
            }
            Some((_, block)) => {
                block.push_str(line);
                block.push('\n');
            }
        }
    }
    out
}

/// Every ```toml block in README.md and docs/*.md that is a whole catalog — it has a
/// `[[resources]]` table — parses with `Catalog::parse`, given only the connectors and on-call
/// services in `DEFINED_ELSEWHERE` that it names without defining. A block that is a fragment
/// of a catalog on purpose says so with a line `# fragment` and is skipped; blocks without
/// `[[resources]]` (a connector or an on-call service alone) are not catalogs and are skipped
/// too.
#[test]
fn every_catalog_example_in_the_docs_parses() {
    let mut checked = 0;
    let mut refused = Vec::new();
    for file in markdown_files() {
        for (line, block) in toml_blocks(&read(&file)) {
            let fragment = block.lines().any(|l| l.trim() == "# fragment");
            if fragment || !block.contains("[[resources]]") {
                continue;
            }
            let mut catalog = block.clone();
            for (header, body) in DEFINED_ELSEWHERE {
                if !block.contains(header) {
                    catalog.push_str(&format!("\n{header}\n{body}\n"));
                }
            }
            let name = format!("{} (the toml block at line {line})", file.display());
            checked += 1;
            if let Err(e) = gatehouse::config::Catalog::parse(Path::new(&name), &catalog) {
                refused.push(format!("{name}:\n{e}\n--- the catalog parsed:\n{catalog}"));
            }
        }
    }
    assert!(
        checked > 0,
        "no catalog example found in README.md or docs/"
    );
    assert!(
        refused.is_empty(),
        "catalog examples in the docs that Gatehouse refuses:\n\n{}",
        refused.join("\n\n")
    );
}

#[test]
fn slugs_follow_githubs_rules() {
    assert_eq!(
        slug("Before anyone asks: `gatehouse check-config --platforms`"),
        "before-anyone-asks-gatehouse-check-config---platforms"
    );
    assert_eq!(
        slug("A ✅ given while Gatehouse is down still counts"),
        "a--given-while-gatehouse-is-down-still-counts"
    );
    assert_eq!(
        slug("The catalog (`gatehouse.toml`)"),
        "the-catalog-gatehousetoml"
    );
    assert_eq!(slug("snake_case and Ünïcode"), "snake_case-and-ünïcode");
    assert_eq!(
        anchors("# A\n```sh\n# not a heading\n```\n## A\n"),
        ["a", "a-1"]
    );
    assert_eq!(
        link_targets("see [x](docs/a.md#b) and `[y](not/a/link)` or ![i](img.png \"t\")"),
        ["docs/a.md#b", "img.png"]
    );
}
