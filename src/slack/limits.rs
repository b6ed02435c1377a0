//! Slack's Block Kit limits, applied to every message and view just before it is sent: a text
//! longer than its field allows makes Slack refuse the whole post (`invalid_blocks`), so each
//! is cut — after escaping, never inside an entity (`&amp;`) or a mention or link (`<…>`) —
//! and ends with "…". Limits from Slack's Block Kit reference (api.slack.com/reference/
//! block-kit/blocks, /block-elements, /composition-objects, /surfaces/views). Written here
//! because no crate knows them; slack-morphism's models do not check lengths.

use serde_json::Value;

/// At most this many blocks in a message…
pub const MESSAGE_BLOCKS: usize = 50;
/// …and in a view (a modal, App Home).
pub const VIEW_BLOCKS: usize = 100;

/// A section's text, a text object's in general.
pub const SECTION_TEXT: usize = 3000;
/// Each of a section's fields.
const FIELD_TEXT: usize = 2000;
/// A header block's text.
const HEADER_TEXT: usize = 150;
/// A button's text, an option's text and description.
pub const BUTTON_TEXT: usize = 75;
/// A button's value, an option's value.
const BUTTON_VALUE: usize = 2000;
pub const OPTION_VALUE: usize = 150;
/// The options an external select is sent at once (/block-elements/select-menus).
pub const OPTIONS: usize = 100;
/// A placeholder's text.
const PLACEHOLDER: usize = 150;
/// An input's label and hint.
const LABEL: usize = 2000;
/// A modal's title and its submit and close buttons.
const VIEW_TITLE: usize = 24;

/// `text` cut to `max` characters, ending with "…" when cut. Never leaves half an entity or
/// half a `<…>` mention.
pub fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    // Inside `<…>` or `&…;` (a link or an entity, which are short), the cut backs up to before
    // its opening character; a lone `&` or `<` further back (plain text) is only text.
    format!("{}…", &text[..safe_end(text, max.saturating_sub(1))])
}

/// `text` in pieces of at most `max` characters, each ending at a safe place (never inside an
/// entity or a `<…>` mention), for a long text shown whole over several sections.
pub fn pieces(text: &str, max: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while rest.chars().count() > max {
        let at = safe_end(rest, max);
        out.push(rest[..at].to_owned());
        rest = &rest[at..];
    }
    if !rest.is_empty() || out.is_empty() {
        out.push(rest.to_owned());
    }
    out
}

/// The byte index at which to end the first at most `max` characters of `text` safely (at
/// least one character, so that splitting always goes forward).
fn safe_end(text: &str, max: usize) -> usize {
    let mut end = text.char_indices().nth(max).map_or(text.len(), |(i, _)| i);
    let whole = end;
    for (open, close, longest) in [('<', '>', 300), ('&', ';', 8)] {
        if let Some(at) = text[..end].rfind(open)
            && end - at <= longest
            && !text[at..end].contains(close)
        {
            end = at;
        }
    }
    if end == 0 { whole } else { end }
}

/// Cuts every text of a message's blocks to its limit and keeps at most [`MESSAGE_BLOCKS`].
/// True when anything was cut or dropped.
pub fn fit_message(blocks: &mut Value) -> bool {
    fit_blocks(blocks, MESSAGE_BLOCKS)
}

/// The same for a view: its blocks (at most [`VIEW_BLOCKS`]), title and buttons.
pub fn fit_view(view: &mut Value) -> bool {
    let mut cut_any = false;
    for key in ["title", "submit", "close"] {
        cut_any |= fit_text(&mut view[key], VIEW_TITLE);
    }
    if let Some(blocks) = view.get_mut("blocks") {
        cut_any |= fit_blocks(blocks, VIEW_BLOCKS);
    }
    cut_any
}

fn fit_blocks(blocks: &mut Value, max_blocks: usize) -> bool {
    let Some(list) = blocks.as_array_mut() else {
        return false;
    };
    let mut cut_any = false;
    if list.len() > max_blocks {
        list.truncate(max_blocks);
        cut_any = true;
    }
    for block in list.iter_mut() {
        cut_any |= fit_block(block);
    }
    cut_any
}

fn fit_block(block: &mut Value) -> bool {
    let mut cut_any = false;
    match block["type"].as_str() {
        Some("header") => cut_any |= fit_text(&mut block["text"], HEADER_TEXT),
        Some("section") => {
            cut_any |= fit_text(&mut block["text"], SECTION_TEXT);
            if let Some(fields) = block["fields"].as_array_mut() {
                for f in fields {
                    cut_any |= fit_text(f, FIELD_TEXT);
                }
            }
            if let Some(accessory) = block.get_mut("accessory") {
                cut_any |= fit_element(accessory);
            }
        }
        Some("context") => {
            if let Some(elements) = block["elements"].as_array_mut() {
                for e in elements {
                    cut_any |= fit_text(e, SECTION_TEXT);
                }
            }
        }
        Some("actions") => {
            if let Some(elements) = block["elements"].as_array_mut() {
                for e in elements {
                    cut_any |= fit_element(e);
                }
            }
        }
        Some("input") => {
            cut_any |= fit_text(&mut block["label"], LABEL);
            cut_any |= fit_text(&mut block["hint"], LABEL);
            if let Some(element) = block.get_mut("element") {
                cut_any |= fit_element(element);
            }
        }
        _ => {}
    }
    cut_any
}

/// A button, a select or a text input.
fn fit_element(e: &mut Value) -> bool {
    let mut cut_any = fit_text(&mut e["text"], BUTTON_TEXT);
    cut_any |= fit_string(&mut e["value"], BUTTON_VALUE);
    cut_any |= fit_text(&mut e["placeholder"], PLACEHOLDER);
    for key in ["options", "initial_options"] {
        if let Some(options) = e[key].as_array_mut() {
            for o in options {
                cut_any |= fit_option(o);
            }
        }
    }
    if let Some(o) = e.get_mut("initial_option") {
        cut_any |= fit_option(o);
    }
    cut_any
}

fn fit_option(o: &mut Value) -> bool {
    fit_text(&mut o["text"], BUTTON_TEXT)
        | fit_text(&mut o["description"], BUTTON_TEXT)
        | fit_string(&mut o["value"], OPTION_VALUE)
}

/// A text object (`{ "type": "mrkdwn", "text": … }`) cut to `max`; anything else is left.
fn fit_text(object: &mut Value, max: usize) -> bool {
    match object.get_mut("text") {
        Some(text) => fit_string(text, max),
        None => false,
    }
}

fn fit_string(value: &mut Value, max: usize) -> bool {
    match value.as_str() {
        Some(s) if s.chars().count() > max => {
            *value = Value::String(cut(s, max));
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_cut_never_splits_an_entity_or_a_mention() {
        assert_eq!(cut("short", 10), "short");
        // 900 escaped `&` are 4,500 characters: cut to 3,000 at an entity's edge.
        let escaped = "&amp;".repeat(900);
        let fitted = cut(&escaped, SECTION_TEXT);
        assert!(fitted.chars().count() <= SECTION_TEXT);
        assert!(
            fitted.ends_with("&amp;…"),
            "{}",
            &fitted[fitted.len() - 20..]
        );
        assert_eq!(cut("hello <@U0123ABC> there", 12), "hello …");
        assert_eq!(cut("über straße", 7), "über s…");
        let whole: String = pieces(&escaped, SECTION_TEXT).concat();
        assert_eq!(whole, escaped, "pieces put back together are the text");
        assert!(
            pieces(&escaped, SECTION_TEXT)
                .iter()
                .all(|p| p.starts_with("&amp;"))
        );
        let plain = format!("R&D {}", "y".repeat(100));
        assert_eq!(
            cut(&plain, 50).chars().count(),
            50,
            "a lone & far back is text"
        );
    }

    #[test]
    fn every_text_of_a_message_is_cut_to_its_blocks_limit() {
        let long = "x".repeat(5000);
        let mut blocks = json!([
            { "type": "header", "text": { "type": "plain_text", "text": long } },
            { "type": "section", "text": { "type": "mrkdwn", "text": long },
              "fields": [{ "type": "mrkdwn", "text": long }] },
            { "type": "actions", "elements": [
                { "type": "button", "text": { "type": "plain_text", "text": long }, "value": long } ] },
        ]);
        assert!(fit_message(&mut blocks));
        let len = |p: &str| blocks.pointer(p).unwrap().as_str().unwrap().chars().count();
        assert_eq!(len("/0/text/text"), HEADER_TEXT);
        assert_eq!(len("/1/text/text"), SECTION_TEXT);
        assert_eq!(len("/1/fields/0/text"), FIELD_TEXT);
        assert_eq!(len("/2/elements/0/text/text"), BUTTON_TEXT);
        assert_eq!(len("/2/elements/0/value"), BUTTON_VALUE);
        assert!(!fit_message(&mut blocks), "fitting twice changes nothing");

        let mut many = Value::Array(vec![json!({ "type": "divider" }); 120]);
        assert!(fit_message(&mut many));
        assert_eq!(many.as_array().unwrap().len(), MESSAGE_BLOCKS);
        let mut view = json!({ "type": "home", "blocks": vec![json!({ "type": "divider" }); 120] });
        assert!(fit_view(&mut view));
        assert_eq!(view["blocks"].as_array().unwrap().len(), VIEW_BLOCKS);
    }
}
