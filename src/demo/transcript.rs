//! What each person would see in Slack, printed step by step: after every action, only what
//! is new or changed since the last look (channel messages, thread replies, DMs, notes only
//! one person sees, forms).

use std::collections::HashMap;
use std::sync::LazyLock;

use regex::{Captures, Regex};
use slack_sim::{Message, Sim, render_text};

use super::workspace::{CHANNEL, CHANNEL_NAME, PEOPLE, name_of};

pub struct Transcript {
    sim: Sim,
    step: u32,
    /// (conversation, ts) → the text last shown for it.
    seen: HashMap<(String, String), String>,
    ephemerals_seen: HashMap<&'static str, usize>,
    /// user → the form last shown to them.
    modal_seen: HashMap<&'static str, String>,
    /// user → how many of their Slack notifications were shown.
    pings_seen: HashMap<&'static str, usize>,
}

/// What a person reads in a message: its blocks as text, or its fallback text.
pub fn shown(m: &Message) -> String {
    m.blocks
        .as_ref()
        .map(render_text)
        .unwrap_or_else(|| m.text.clone())
}

static MENTION: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"<@([A-Z0-9]+)>").ok());
/// Slack's *bold* and _italic_ markers, which a reader sees as emphasis, not as characters.
static EMPHASIS: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"(^|[\s(])([*_])([^*_\n]+)([*_])").ok());
static LINK: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"<(?:!date\^[^|>]*|[^|>]*)\|([^>]*)>").ok());

/// Slack's markup as a person reads it: mentions as names, dates and links as their text.
pub fn readable(text: &str) -> String {
    let mut s = text.to_owned();
    if let Some(re) = MENTION.as_ref() {
        s = re
            .replace_all(&s, |c: &Captures<'_>| match name_of(&c[1]) {
                Some(n) => format!("@{n}"),
                None => format!("@{}", &c[1]),
            })
            .into_owned();
    }
    s = s.replace(&format!("<#{CHANNEL}>"), &format!("#{CHANNEL_NAME}"));
    if let Some(re) = LINK.as_ref() {
        s = re.replace_all(&s, "$1").into_owned();
    }
    if let Some(re) = EMPHASIS.as_ref() {
        s = re
            .replace_all(&s, |c: &Captures<'_>| {
                if c[2] == c[4] {
                    format!("{}{}", &c[1], &c[3])
                } else {
                    c[0].to_owned()
                }
            })
            .into_owned();
    }
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Where a message is: who reads it there.
#[derive(Clone, Copy)]
enum Place<'a> {
    Channel,
    /// A reply under this parent.
    Thread(&'a Message),
    /// The bot's DM with this person.
    Dm(&'static str),
}

fn first_line(text: &str) -> String {
    readable(text.lines().next().unwrap_or_default())
}

fn first_name(name: &str) -> &str {
    name.split(' ').next().unwrap_or(name)
}

/// An updated message as its new lines, with `…` where unchanged ones were left out.
fn changed_lines(old: &str, new: &str) -> String {
    let before: Vec<&str> = old.lines().collect();
    let mut out = Vec::new();
    for line in new.lines() {
        if before.contains(&line) {
            if out.last() != Some(&"…") {
                out.push("…");
            }
        } else {
            out.push(line);
        }
    }
    out.join("\n")
}

impl Transcript {
    pub fn new(sim: Sim) -> Self {
        Transcript {
            sim,
            step: 0,
            seen: HashMap::new(),
            ephemerals_seen: HashMap::new(),
            modal_seen: HashMap::new(),
            pings_seen: HashMap::new(),
        }
    }

    pub fn steps(&self) -> u32 {
        self.step
    }

    /// A numbered step title.
    pub fn step(&mut self, title: &str) {
        self.step += 1;
        let head = format!("{}. {title}", self.step);
        let rule = "─".repeat(head.chars().count().min(78));
        // Bold titles on a terminal; plain text when piped or redirected.
        if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
            outln!("\n\x1b[1m{head}\x1b[0m\n{rule}");
        } else {
            outln!("\n{head}\n{rule}");
        }
    }

    /// A line of narration: what someone does.
    pub fn say(&self, text: &str) {
        outln!("  {text}");
    }

    /// A numbered step and what its person does in it.
    pub fn scene(&mut self, title: &str, text: &str) {
        self.step(title);
        self.say(text);
    }

    fn block(header: &str, body: &str) {
        outln!("  {header}");
        for line in readable(body).lines() {
            outln!("    │ {line}");
        }
    }

    /// Prints everything each person sees now that they did not see at the last look.
    pub fn show_new(&mut self) {
        for m in self.sim.messages(CHANNEL) {
            self.message(&m, Place::Channel);
            for r in &m.replies {
                self.message(r, Place::Thread(&m));
            }
        }
        for p in PEOPLE {
            for m in self.sim.dms(p.id) {
                self.message(&m, Place::Dm(p.name));
            }
            // Who Slack notified of a mention (a DM notifies its reader, shown above).
            let pings = self.sim.notifications(p.id);
            let already = self.pings_seen.get(p.id).copied().unwrap_or(0);
            for n in pings.iter().skip(already).filter(|n| n.why != "dm") {
                let how = match n.why.as_str() {
                    "group" => "a group of theirs is mentioned",
                    "channel" => "@here",
                    _ => "mentioned",
                };
                outln!("  🔔 Slack notifies {} ({how} in #{CHANNEL_NAME})", p.name);
            }
            self.pings_seen.insert(p.id, pings.len());
            let notes = self.sim.ephemerals(p.id);
            let already = self.ephemerals_seen.get(p.id).copied().unwrap_or(0);
            for e in notes.iter().skip(already) {
                let body = e
                    .blocks
                    .as_ref()
                    .map(render_text)
                    .filter(|t| !t.is_empty())
                    .unwrap_or_else(|| e.text.clone());
                Self::block(
                    &format!("{} — a note only {} sees:", p.name, first_name(p.name)),
                    &body,
                );
            }
            self.ephemerals_seen.insert(p.id, notes.len());
            match self.sim.top_modal(p.id) {
                Some(view) => {
                    let text = render_text(&view);
                    let before = self.modal_seen.get(p.id);
                    if before != Some(&text) {
                        let what = if before.is_some() {
                            "the form now shows"
                        } else {
                            "a form opens"
                        };
                        Self::block(&format!("{} — {what}:", p.name), &text);
                        self.modal_seen.insert(p.id, text);
                    }
                }
                None => {
                    self.modal_seen.remove(p.id);
                }
            }
        }
    }

    fn message(&mut self, m: &Message, place: Place<'_>) {
        let text = shown(m);
        let key = (m.channel.clone(), m.ts.clone());
        let before = self.seen.insert(key, text.clone());
        if before.as_ref() == Some(&text) {
            return;
        }
        let who = name_of(&m.user).unwrap_or("someone");
        let channel = format!("#{CHANNEL_NAME}");
        let header = match (&before, place) {
            (None, Place::Channel) => format!("{channel} — {who} posts:"),
            (Some(_), Place::Channel) => format!(
                "{channel} — {who}'s message “{}” is updated:",
                first_line(&text)
            ),
            (None, Place::Thread(p)) => format!(
                "{channel} — {who} replies in the thread of “{}”:",
                first_line(&shown(p))
            ),
            (Some(_), Place::Thread(_)) => {
                format!("{channel} — {who}'s reply in the thread is updated:")
            }
            (None, Place::Dm(name)) => format!("{name} — a DM from {who}:"),
            (Some(_), Place::Dm(name)) => format!("{name} — a DM from {who} is updated:"),
        };
        match &before {
            Some(old) => Self::block(&header, &changed_lines(old, &text)),
            None => Self::block(&header, &text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::readable;

    #[test]
    fn slack_markup_reads_as_names_and_text() {
        assert_eq!(
            readable(
                "<@U0MAYA> until <!date^1764300000^{date_short_pretty} at {time}|2025-11-28 03:20 UTC> &amp; <https://x.test|docs>"
            ),
            "@Maya Chen until 2025-11-28 03:20 UTC & docs"
        );
        assert_eq!(
            readable("Reviewers see it in <#C0ACCESS>"),
            "Reviewers see it in #access-requests"
        );
        assert_eq!(readable("<@U0NOBODY>"), "@U0NOBODY");
        assert_eq!(
            readable("*Reason*\n_none given_ for *Warehouse (PostgreSQL)*, 2*3"),
            "Reason\nnone given for Warehouse (PostgreSQL), 2*3"
        );
    }
}
