//! The optional model path of "Ask Gatehouse": a free-form question goes to an OpenAI-compatible
//! chat-completions endpoint together with three tool definitions; Gatehouse runs every tool
//! call itself (through `AccessTools`, which enforces who may ask what) and sends the results
//! back until the model answers in words. The model only ever sees the question, the asker's
//! Slack id and tool results: never the key, the configuration or a secret, and it decides
//! nothing about access.
//!
//! `GATEHOUSE_LLM_URL` is the API base (`https://api.openai.com/v1`, `http://127.0.0.1:11434/v1`);
//! `/chat/completions` is appended unless the URL already ends with it.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Map, Value, json};

use crate::config::{LlmConfig, Secret};

/// Rounds of tool calls before the model must answer in words; a model that keeps calling
/// tools after that is stopped (it costs money and answers nobody).
pub const MAX_TOOL_ROUNDS: usize = 4;
/// Tool calls run in one round; more get an error result instead of a platform look-up.
pub const MAX_CALLS_PER_ROUND: usize = 8;
/// How long one request to the model may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Questions are Slack messages; a longer one is cut rather than sent whole.
const MAX_QUESTION_CHARS: usize = 2_000;

/// What the model may call. Gatehouse implements it; each call enforces who may ask what and
/// returns facts as JSON (never secrets).
#[async_trait::async_trait]
pub trait AccessTools: Send + Sync {
    /// Does `user` (a Slack user id like U123, or as the model wrote it) have access to `resource`?
    async fn check_access(&self, user: &str, resource: &str) -> Value;
    /// Everything `user` has access to.
    async fn list_access(&self, user: &str) -> Value;
    /// Who has access to `resource`.
    async fn who_has(&self, resource: &str) -> Value;
}

pub struct LlmSettings {
    pub url: String,
    pub model: String,
    pub key: Secret,
    pub timeout: Duration,
}

impl LlmSettings {
    /// The settings read from the environment, with the default timeout.
    pub fn from_config(config: &LlmConfig) -> LlmSettings {
        LlmSettings {
            url: config.url.clone(),
            model: config.model.clone(),
            key: config.key.clone(),
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// Why no answer came back, in words fit to show the asker.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LlmError {
    /// Timeouts, connection failures, 429, 408 and 5xx: asking again later may work.
    #[error("{0}")]
    Unavailable(String),
    /// 401 or 403: the key is wrong or lacks rights.
    #[error("{0}")]
    Refused(String),
    /// Another status, or an answer that is not chat-completions JSON.
    #[error("{0}")]
    BadAnswer(String),
    /// The model kept calling tools past `MAX_TOOL_ROUNDS`.
    #[error("{0}")]
    TooManyRounds(String),
}

pub struct Llm {
    client: reqwest::Client,
    endpoint: String,
    model: String,
    key: Secret,
    timeout: Duration,
}

impl std::fmt::Debug for Llm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Llm")
            .field("endpoint", &self.endpoint)
            .field("model", &self.model)
            .field("key", &self.key)
            .finish()
    }
}

/// The chat-completions URL for a base URL (or the full URL, kept as it is).
pub fn endpoint(url: &str) -> String {
    let url = url.trim().trim_end_matches('/');
    if url.ends_with("/chat/completions") {
        url.to_owned()
    } else {
        format!("{url}/chat/completions")
    }
}

impl Llm {
    pub fn new(settings: LlmSettings) -> Result<Llm, String> {
        let url = settings.url.trim();
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err("the language model URL must start with https:// or http://".into());
        }
        if settings.model.trim().is_empty() {
            return Err("no language model is named".into());
        }
        let client = crate::connectors::http::client(settings.timeout)?;
        Ok(Llm {
            client,
            endpoint: endpoint(url),
            model: settings.model.trim().to_owned(),
            key: settings.key,
            timeout: settings.timeout,
        })
    }

    /// Answers `question` asked by `asker` (a Slack user id): sends the question with the three
    /// tool definitions, runs every tool call the model makes through `tools` (at most
    /// `MAX_TOOL_ROUNDS` rounds), sends the results back, and returns the model's final text.
    pub async fn answer(
        &self,
        asker: &str,
        question: &str,
        tools: &dyn AccessTools,
    ) -> Result<String, LlmError> {
        let question: String = question.chars().take(MAX_QUESTION_CHARS).collect();
        let mut messages = vec![
            json!({"role": "system", "content": system_prompt(asker)}),
            json!({"role": "user", "content": question}),
        ];
        for round in 0..=MAX_TOOL_ROUNDS {
            let message = self.complete(&messages).await?;
            let calls = message
                .get("tool_calls")
                .and_then(Value::as_array)
                .filter(|c| !c.is_empty());
            let Some(calls) = calls else {
                return final_text(&message);
            };
            if round == MAX_TOOL_ROUNDS {
                return Err(LlmError::TooManyRounds(format!(
                    "the language model was still looking things up after {MAX_TOOL_ROUNDS} rounds; ask a narrower question"
                )));
            }
            // Ids and arguments are normalised so the echo is valid even when the model's
            // shape was not (missing ids, arguments as an object).
            let calls: Vec<Call> = calls
                .iter()
                .enumerate()
                .map(|(i, c)| Call::read(c, round, i))
                .collect();
            messages.push(json!({
                "role": "assistant",
                "content": message.get("content").filter(|c| c.is_string()).cloned().unwrap_or(Value::Null),
                "tool_calls": calls.iter().map(Call::echo).collect::<Vec<_>>(),
            }));
            for (i, call) in calls.iter().enumerate() {
                let result = if i < MAX_CALLS_PER_ROUND {
                    run(call, asker, tools).await
                } else {
                    json!({"error": format!("at most {MAX_CALLS_PER_ROUND} look-ups at a time")})
                };
                messages.push(json!({
                    "role": "tool",
                    "tool_call_id": call.id,
                    "content": result.to_string(),
                }));
            }
        }
        // The loop returns on its last round; this is only reached if MAX_TOOL_ROUNDS changes shape.
        Err(LlmError::TooManyRounds(
            "the language model did not finish".into(),
        ))
    }

    /// One chat-completions request; the first choice's message.
    async fn complete(&self, messages: &[Value]) -> Result<Value, LlmError> {
        let body = json!({
            "model": self.model,
            "messages": messages,
            "tools": tool_definitions(),
            "tool_choice": "auto",
        });
        let sent = self
            .client
            .post(&self.endpoint)
            .bearer_auth(self.key.expose())
            .json(&body)
            .send()
            .await
            .map_err(|e| self.unreachable(&e))?;
        let status = sent.status();
        let text = sent.text().await.map_err(|e| self.unreachable(&e))?;
        if !status.is_success() {
            return Err(self.failure(status, &text));
        }
        let answer: Value = serde_json::from_str(&text).map_err(|_| {
            LlmError::BadAnswer(format!(
                "the language model's answer is not chat-completions JSON: {}",
                self.excerpt(&text)
            ))
        })?;
        answer
            .pointer("/choices/0/message")
            .filter(|m| m.is_object())
            .cloned()
            .ok_or_else(|| {
                LlmError::BadAnswer(format!(
                    "the language model's answer has no choices[0].message: {}",
                    self.excerpt(&text)
                ))
            })
    }

    fn unreachable(&self, e: &reqwest::Error) -> LlmError {
        if e.is_timeout() {
            LlmError::Unavailable(format!(
                "the language model did not answer within {}",
                seconds(self.timeout)
            ))
        } else if e.is_connect() {
            LlmError::Unavailable("cannot connect to the language model".into())
        } else {
            LlmError::Unavailable("the connection to the language model failed".into())
        }
    }

    fn failure(&self, status: StatusCode, body: &str) -> LlmError {
        let code = status.as_u16();
        match code {
            401 | 403 => LlmError::Refused(
                "the language model refused the key (check GATEHOUSE_LLM_KEY)".into(),
            ),
            429 => LlmError::Unavailable(
                "the language model is busy or over its quota (HTTP 429); try again later".into(),
            ),
            408 | 500..=599 => LlmError::Unavailable(format!(
                "the language model is unavailable (HTTP {code}: {})",
                self.excerpt(body)
            )),
            _ => LlmError::BadAnswer(format!(
                "the language model answered HTTP {code}: {}",
                self.excerpt(body)
            )),
        }
    }

    /// A short, one-line piece of a body; the key is blanked, since some proxies echo headers.
    fn excerpt(&self, body: &str) -> String {
        let one_line: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
        let mut cut: String = one_line.chars().take(200).collect();
        if cut.len() < one_line.len() {
            cut.push('…');
        }
        let key = self.key.expose();
        if key.is_empty() {
            cut
        } else {
            cut.replace(key, "***")
        }
    }
}

fn seconds(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{} ms", d.as_millis())
    }
}

fn system_prompt(asker: &str) -> String {
    format!(
        "You are Gatehouse, a Slack bot that answers questions about who has access to which data resources. \
Answer only from the results of the tools check_access, list_access and who_has; never guess, and if the tools do not say, say you do not know. \
The person asking is <@{asker}>; \"me\", \"I\" and \"my\" mean <@{asker}>. \
Slack mentions look like <@U123>; pass the id inside (U123) as the user. \
A tool result with an \"error\" is not a fact: say what went wrong. \
Keep answers short: one or two sentences, mentioning people as <@U123>."
    )
}

fn tool_definitions() -> Value {
    let user = json!({
        "type": "string",
        "description": "The person: a Slack user id like U123 (from a mention <@U123>), or the name as written"
    });
    let resource = json!({
        "type": "string",
        "description": "The resource as written, e.g. finance-warehouse or analytics.sales"
    });
    let function = |name: &str, description: &str, properties: Value, required: &[&str]| {
        json!({"type": "function", "function": {
            "name": name,
            "description": description,
            "parameters": {
                "type": "object",
                "properties": properties,
                "required": required,
                "additionalProperties": false,
            },
        }})
    };
    json!([
        function(
            "check_access",
            "Whether a person has access to a resource now, and until when",
            json!({"user": user, "resource": resource}),
            &["user", "resource"],
        ),
        function(
            "list_access",
            "Everything a person has access to now, with end dates",
            json!({"user": user}),
            &["user"],
        ),
        function(
            "who_has",
            "Who has access to a resource now",
            json!({"resource": resource}),
            &["resource"],
        ),
    ])
}

/// One tool call as the model made it, read without trusting its shape.
struct Call {
    id: String,
    name: String,
    /// The arguments as sent back to the model (always a string).
    raw: String,
    arguments: Result<Map<String, Value>, String>,
}

impl Call {
    fn read(call: &Value, round: usize, index: usize) -> Call {
        let id = call
            .get("id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .unwrap_or_else(|| format!("call_gatehouse_{round}_{index}"));
        let function = call.get("function");
        let name = function
            .and_then(|f| f.get("name"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let (raw, arguments) = match function.and_then(|f| f.get("arguments")) {
            Some(Value::String(s)) => (
                s.clone(),
                match serde_json::from_str::<Value>(s) {
                    Ok(Value::Object(m)) => Ok(m),
                    Ok(_) => Err("the arguments are not a JSON object".to_owned()),
                    Err(_) => Err("the arguments are not valid JSON".to_owned()),
                },
            ),
            // Some compatible servers send an object rather than a JSON string.
            Some(Value::Object(m)) => (Value::Object(m.clone()).to_string(), Ok(m.clone())),
            None | Some(Value::Null) => ("{}".to_owned(), Ok(Map::new())),
            Some(other) => (
                other.to_string(),
                Err("the arguments are not a JSON object".to_owned()),
            ),
        };
        Call {
            id,
            name,
            raw,
            arguments,
        }
    }

    fn echo(&self) -> Value {
        json!({
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.raw},
        })
    }
}

/// Runs one call; every problem becomes an `{"error": …}` result the model can read.
async fn run(call: &Call, asker: &str, tools: &dyn AccessTools) -> Value {
    let args = match &call.arguments {
        Ok(a) => a,
        Err(e) => {
            return json!({"error": format!("{e}; call {} again with JSON arguments", call.name)});
        }
    };
    let text = |key: &str| -> Result<String, Value> {
        args.get(key)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| json!({"error": format!("`{key}` is missing; give it as a string")}))
    };
    let result = match call.name.as_str() {
        "check_access" => match (text("user"), text("resource")) {
            (Ok(u), Ok(r)) => Ok(tools.check_access(&person(&u, asker), &r).await),
            (Err(e), _) | (_, Err(e)) => Err(e),
        },
        "list_access" => match text("user") {
            Ok(u) => Ok(tools.list_access(&person(&u, asker)).await),
            Err(e) => Err(e),
        },
        "who_has" => match text("resource") {
            Ok(r) => Ok(tools.who_has(&r).await),
            Err(e) => Err(e),
        },
        other => Err(json!({"error": format!(
            "there is no tool `{other}`; use check_access, list_access or who_has"
        )})),
    };
    result.unwrap_or_else(|e| e)
}

/// A user as the model wrote it: a mention `<@U123>` or `<@U123|maria>` becomes `U123`, and
/// "me" the asker (the prompt says so, but models slip).
fn person(user: &str, asker: &str) -> String {
    let user = user.trim();
    if ["me", "i", "myself", "my"].contains(&user.to_ascii_lowercase().as_str()) {
        return asker.to_owned();
    }
    if let Some(inner) = user.strip_prefix("<@").and_then(|u| u.strip_suffix('>')) {
        return inner.split('|').next().unwrap_or(inner).to_owned();
    }
    user.to_owned()
}

/// The model's words, from a message without tool calls.
fn final_text(message: &Value) -> Result<String, LlmError> {
    let text = match message.get("content") {
        Some(Value::String(s)) => s.trim().to_owned(),
        // Content as parts, as some compatible servers send it.
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("")
            .trim()
            .to_owned(),
        _ => String::new(),
    };
    if text.is_empty() {
        Err(LlmError::BadAnswer(
            "the language model gave an empty answer".into(),
        ))
    } else {
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_base_url_gets_the_chat_completions_path_once() {
        assert_eq!(
            endpoint("https://api.openai.com/v1/"),
            "https://api.openai.com/v1/chat/completions"
        );
        assert_eq!(
            endpoint("http://127.0.0.1:8080/v1/chat/completions"),
            "http://127.0.0.1:8080/v1/chat/completions"
        );
    }

    #[test]
    fn mentions_and_me_become_user_ids() {
        assert_eq!(person("<@U0MARIA>", "U0ASKER"), "U0MARIA");
        assert_eq!(person("<@U0MARIA|maria>", "U0ASKER"), "U0MARIA");
        assert_eq!(person("Me", "U0ASKER"), "U0ASKER");
        assert_eq!(person("sam", "U0ASKER"), "sam");
    }

    #[test]
    fn odd_tool_call_shapes_are_read_without_panicking() {
        let c = Call::read(
            &json!({"function": {"name": "who_has", "arguments": {"resource": "x"}}}),
            1,
            2,
        );
        assert_eq!(c.id, "call_gatehouse_1_2");
        assert_eq!(c.raw, r#"{"resource":"x"}"#);
        assert!(c.arguments.is_ok());
        let c = Call::read(
            &json!({"id": "a", "function": {"name": "who_has", "arguments": "{nope"}}),
            0,
            0,
        );
        assert!(c.arguments.is_err());
        let c = Call::read(&json!(42), 0, 0);
        assert_eq!(c.name, "");
        assert!(final_text(&json!({"content": null})).is_err());
        assert_eq!(
            final_text(&json!({"content": [{"type": "text", "text": "yes"}]})).unwrap(),
            "yes"
        );
    }
}
