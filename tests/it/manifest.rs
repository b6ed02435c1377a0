//! manifest.yml declares exactly what the code uses: every Web API method the code calls has
//! its scope, every event it handles is subscribed, every command exists, and nothing more.

use std::collections::BTreeSet;
use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The items of the YAML list under `key:` (the next lines that start with `- `).
fn list_under(manifest: &str, key: &str) -> BTreeSet<String> {
    let mut lines = manifest
        .lines()
        .skip_while(|l| l.trim() != format!("{key}:"));
    lines.next();
    lines
        .map(str::trim)
        .take_while(|l| l.starts_with("- ") || l.starts_with('#'))
        .filter_map(|l| l.strip_prefix("- "))
        .map(|l| {
            l.split('#')
                .next()
                .unwrap_or(l)
                .trim()
                .trim_start_matches("command:")
                .trim()
                .to_owned()
        })
        .collect()
}

/// Every Slack method named in the Slack module's code (src/slack and every folder below it).
fn methods_called() -> BTreeSet<String> {
    fn sources(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    sources(&root().join("src/slack"), &mut files);
    let mut found = BTreeSet::new();
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap_or(&text);
        for literal in code.split('"').skip(1).step_by(2) {
            let family = literal.split('.').next().unwrap_or("");
            let is_method = literal.contains('.')
                && literal.chars().all(|c| c.is_ascii_alphabetic() || c == '.')
                && [
                    "auth",
                    "apps",
                    "chat",
                    "conversations",
                    "users",
                    "usergroups",
                    "views",
                    "reactions",
                ]
                .contains(&family);
            if is_method {
                found.insert(literal.to_owned());
            }
        }
    }
    found
}

fn scopes_of(method: &str) -> &'static [&'static str] {
    match method {
        "chat.postMessage" | "chat.update" | "chat.postEphemeral" => &["chat:write"],
        "conversations.open" => &["im:write"],
        // By the conversation's kind: the Access Requests channel (public or private) and DMs.
        "conversations.history" | "conversations.replies" => {
            &["channels:history", "groups:history", "im:history"]
        }
        "users.info" => &["users:read"],
        "users.lookupByEmail" => &["users:read.email"],
        "usergroups.users.list" => &["usergroups:read"],
        "reactions.add" => &["reactions:write"],
        "reactions.get" => &["reactions:read"],
        "auth.test"
        | "views.open"
        | "views.publish"
        | "views.update"
        | "views.push"
        | "apps.connections.open" => &[],
        other => panic!("the test does not know the scope of {other}; add it"),
    }
}

#[test]
fn every_method_the_code_calls_has_its_scope_and_no_scope_is_spare() {
    let manifest = std::fs::read_to_string(root().join("manifest.yml")).unwrap();
    let declared = list_under(&manifest, "bot");
    let called = methods_called();
    assert!(
        called.contains("chat.postMessage") && called.contains("views.open"),
        "{called:?}"
    );
    let mut needed: BTreeSet<String> = called
        .iter()
        .flat_map(|m| scopes_of(m))
        .map(|s| (*s).to_owned())
        .collect();
    // Not methods: the slash commands, and the event that carries ✅.
    needed.insert("commands".into());
    needed.insert("reactions:read".into());
    // The events that carry questions: mentions, and DMs (message.im needs im:history).
    needed.insert("app_mentions:read".into());
    needed.insert("im:history".into());
    // The events that make the directory forget: groups' members and people's accounts.
    let events = list_under(&manifest, "bot_events");
    if events.iter().any(|e| e.starts_with("subteam_")) {
        needed.insert("usergroups:read".into());
    }
    if events.contains("user_change") {
        needed.insert("users:read".into());
    }
    // Not a method either: identity linking reads the email users.info returns only with it.
    let directory = std::fs::read_to_string(root().join("src/slack/directory.rs")).unwrap();
    if directory.contains("info.email") {
        needed.insert("users:read.email".into());
    }
    let missing: Vec<_> = needed.difference(&declared).collect();
    assert!(
        missing.is_empty(),
        "manifest.yml lacks scopes {missing:?} for {called:?}"
    );
    let spare: Vec<_> = declared.difference(&needed).collect();
    assert!(
        spare.is_empty(),
        "manifest.yml asks for scopes the code does not use: {spare:?}"
    );
}

#[test]
fn the_manifest_subscribes_to_what_the_code_handles() {
    let manifest = std::fs::read_to_string(root().join("manifest.yml")).unwrap();
    let events = list_under(&manifest, "bot_events");
    assert_eq!(
        events,
        BTreeSet::from([
            "app_home_opened".to_owned(),
            "reaction_added".to_owned(),
            "app_mention".to_owned(),
            "message.im".to_owned(),
            // What the directory remembers of groups and people is forgotten when they change.
            "subteam_members_changed".to_owned(),
            "subteam_updated".to_owned(),
            "user_change".to_owned(),
        ])
    );
    let socket = std::fs::read_to_string(root().join("src/slack/socket.rs")).unwrap();
    for e in &events {
        // message.im arrives as a `message` event whose channel_type is `im`.
        let handled = e.strip_suffix(".im").unwrap_or(e);
        assert!(
            socket.contains(&format!("\"{handled}\"")),
            "the code does not handle {e}"
        );
    }
    for command in ["/request-access", "/access-admin", "/access-check"] {
        assert!(
            manifest.contains(&format!("command: {command}")),
            "{command} missing from manifest.yml"
        );
        assert!(
            socket.contains(&format!("\"{command}\"")),
            "the code does not handle {command}"
        );
    }
    assert!(manifest.contains("socket_mode_enabled: true"));
    assert!(manifest.contains("home_tab_enabled: true"));
}

/// People are invited to DM the app a question (`message.im` is handled): its Messages tab
/// must let them write, which a read-only tab would not.
#[test]
fn people_can_write_to_the_app_in_its_messages_tab() {
    let manifest = std::fs::read_to_string(root().join("manifest.yml")).unwrap();
    let setting = |key: &str| {
        manifest
            .lines()
            .find_map(|l| l.trim().strip_prefix(key)?.strip_prefix(':'))
            .map(str::trim)
            .unwrap_or_else(|| panic!("manifest.yml has no {key}"))
            .to_owned()
    };
    assert_eq!(setting("messages_tab_enabled"), "true");
    assert_eq!(setting("messages_tab_read_only_enabled"), "false");
}
