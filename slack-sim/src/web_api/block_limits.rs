//! Block Kit's length limits, as Slack enforces them: a message or view with one text over its
//! limit is refused whole (`invalid_blocks` for messages, `invalid_arguments` for views).
//! From Slack's reference: blocks (api.slack.com/reference/block-kit/blocks: at most 50 blocks a
//! message, 100 a view; section text 3,000, fields 2,000 each and at most 10; header 150;
//! context at most 10 elements; actions at most 25 elements), block elements (/block-elements:
//! button text 75, value 2,000), composition objects (/composition-objects: option text 75,
//! value 150; confirm dialogs) and views (/surfaces/views: title, submit and close 24).

use serde_json::Value;

/// The first limit `blocks` breaks, in words, or None.
pub fn broken(blocks: &[Value], max_blocks: usize) -> Option<String> {
    if blocks.len() > max_blocks {
        return Some(format!("{} blocks, more than {max_blocks}", blocks.len()));
    }
    blocks.iter().find_map(block)
}

/// The first limit a view breaks (its title and buttons, then its blocks).
pub fn view_broken(view: &serde_json::Map<String, Value>) -> Option<String> {
    for key in ["title", "submit", "close"] {
        if let Some(b) = text_over(view.get(key), 24, key) {
            return Some(b);
        }
    }
    let blocks = view.get("blocks").and_then(Value::as_array)?;
    broken(blocks, 100)
}

fn block(b: &Value) -> Option<String> {
    match b["type"].as_str()? {
        "header" => text_over(b.get("text"), 150, "header text"),
        "section" => {
            let fields = b["fields"].as_array().map(Vec::as_slice).unwrap_or(&[]);
            if fields.len() > 10 {
                return Some("a section with more than 10 fields".into());
            }
            text_over(b.get("text"), 3000, "section text")
                .or_else(|| {
                    fields
                        .iter()
                        .find_map(|f| text_over(Some(f), 2000, "field"))
                })
                .or_else(|| b.get("accessory").and_then(element))
        }
        "context" => {
            let elements = b["elements"].as_array()?;
            if elements.len() > 10 {
                return Some("a context with more than 10 elements".into());
            }
            elements
                .iter()
                .find_map(|e| text_over(Some(e), 3000, "context text"))
        }
        "actions" => {
            let elements = b["elements"].as_array()?;
            if elements.len() > 25 {
                return Some("actions with more than 25 elements".into());
            }
            elements.iter().find_map(element)
        }
        _ => None,
    }
}

fn element(e: &Value) -> Option<String> {
    text_over(e.get("text"), 75, "button text")
        .or_else(|| str_over(e.get("value"), 2000, "button value"))
        .or_else(|| confirm(e.get("confirm")?))
        .or_else(|| {
            e["options"].as_array()?.iter().find_map(|o| {
                text_over(o.get("text"), 75, "option text")
                    .or_else(|| str_over(o.get("value"), 150, "option value"))
                    .or_else(|| text_over(o.get("description"), 75, "option description"))
            })
        })
}

/// A confirmation dialog's texts (/composition-objects#confirm: title 100, text 300, confirm
/// and deny 30), each required but `deny`.
fn confirm(c: &Value) -> Option<String> {
    for field in ["title", "text", "confirm"] {
        if c.get(field).and_then(|t| t.get("text")).is_none() {
            return Some(format!("a confirm object without its {field}"));
        }
    }
    text_over(c.get("title"), 100, "confirm title")
        .or_else(|| text_over(c.get("text"), 300, "confirm text"))
        .or_else(|| text_over(c.get("confirm"), 30, "confirm button"))
        .or_else(|| text_over(c.get("deny"), 30, "deny button"))
}

/// A text object's `text` longer than `max` characters.
fn text_over(object: Option<&Value>, max: usize, what: &str) -> Option<String> {
    str_over(object?.get("text"), max, what)
}

fn str_over(s: Option<&Value>, max: usize, what: &str) -> Option<String> {
    let n = s?.as_str()?.chars().count();
    (n > max).then(|| format!("{what} of {n} characters, more than {max}"))
}
