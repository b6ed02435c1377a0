//! Block Kit → plain text, so tests can assert on what a person reads.

use serde_json::Value;

/// Renders a message (`text` + `blocks`), a view (`title` + `blocks`), a blocks array or a single block.
pub fn render_text(v: &Value) -> String {
    let mut out: Vec<String> = Vec::new();
    match v {
        Value::Array(blocks) => blocks.iter().for_each(|b| block(b, &mut out)),
        Value::Object(o) if o.contains_key("blocks") => {
            if let Some(t) = o.get("title") {
                out.push(text_of(t));
            }
            let blocks = o.get("blocks").and_then(Value::as_array);
            match blocks {
                Some(b) if !b.is_empty() => b.iter().for_each(|b| block(b, &mut out)),
                _ => out.extend(o.get("text").and_then(Value::as_str).map(String::from)),
            }
        }
        Value::Object(o) if o.contains_key("type") => block(v, &mut out),
        Value::Object(o) => out.extend(o.get("text").and_then(Value::as_str).map(String::from)),
        Value::String(s) => out.push(s.clone()),
        _ => {}
    }
    out.retain(|l| !l.is_empty());
    out.join("\n")
}

/// A text object (`{"type":"plain_text"|"mrkdwn","text":…}`) or a bare string.
fn text_of(t: &Value) -> String {
    match t {
        Value::String(s) => s.clone(),
        Value::Object(o) => o
            .get("text")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        _ => String::new(),
    }
}

fn element(e: &Value) -> String {
    match e.get("type").and_then(Value::as_str).unwrap_or("") {
        "button" => format!("[{}]", text_of(&e["text"])),
        "image" => e
            .get("alt_text")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        "plain_text" | "mrkdwn" => text_of(e),
        t if t.ends_with("_select") || t == "overflow" || t.ends_with("picker") => {
            let p = e.get("placeholder").map(text_of).unwrap_or_default();
            format!("[{p} ▾]")
        }
        _ => String::new(),
    }
}

fn rich_text(v: &Value, out: &mut String) {
    match v {
        Value::Object(o) => {
            if let Some(t) = o.get("text").and_then(Value::as_str) {
                out.push_str(t);
            }
            if let Some(e) = o.get("elements") {
                rich_text(e, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| rich_text(x, out)),
        _ => {}
    }
}

fn block(b: &Value, out: &mut Vec<String>) {
    match b.get("type").and_then(Value::as_str).unwrap_or("") {
        "header" => out.push(text_of(&b["text"])),
        "section" => {
            if let Some(t) = b.get("text") {
                out.push(text_of(t));
            }
            if let Some(f) = b.get("fields").and_then(Value::as_array) {
                out.extend(f.iter().map(text_of));
            }
            if let Some(a) = b.get("accessory") {
                out.push(element(a));
            }
        }
        "context" | "actions" => {
            let parts: Vec<String> = b
                .get("elements")
                .and_then(Value::as_array)
                .map(|a| a.iter().map(element).filter(|s| !s.is_empty()).collect())
                .unwrap_or_default();
            out.push(parts.join(" "));
        }
        "input" => {
            let label = b.get("label").map(text_of).unwrap_or_default();
            let hint = b.get("hint").map(text_of).unwrap_or_default();
            out.push(label);
            if !hint.is_empty() {
                out.push(hint);
            }
        }
        "divider" => out.push("---".into()),
        "image" => out.push(
            b.get("alt_text")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
        ),
        "rich_text" => {
            let mut s = String::new();
            rich_text(&b["elements"], &mut s);
            out.push(s);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_the_common_blocks_as_a_person_reads_them() {
        let blocks = json!([
            {"type": "header", "text": {"type": "plain_text", "text": "Access request"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "*alice* wants prod-db"},
             "fields": [{"type": "mrkdwn", "text": "Role: read"}]},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "for 2h"}]},
            {"type": "actions", "elements": [
                {"type": "button", "text": {"type": "plain_text", "text": "Approve"}, "action_id": "a"},
                {"type": "button", "text": {"type": "plain_text", "text": "Deny"}, "action_id": "d"}]},
            {"type": "input", "label": {"type": "plain_text", "text": "Reason"}, "element": {"type": "plain_text_input"}}
        ]);
        assert_eq!(
            render_text(&blocks),
            "Access request\n*alice* wants prod-db\nRole: read\nfor 2h\n[Approve] [Deny]\nReason"
        );
        let msg = json!({"text": "fallback", "blocks": []});
        assert_eq!(render_text(&msg), "fallback");
    }
}
