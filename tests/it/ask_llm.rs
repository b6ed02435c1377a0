//! The model path of "Ask Gatehouse" against a fake OpenAI-compatible chat-completions endpoint
//! that answers by a script: tool calls first, then words quoting the tool results. The fake
//! checks the Bearer key and, as OpenAI does, that every tool call was answered by its id.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use gatehouse::ask::llm::{AccessTools, Llm, LlmError, LlmSettings, MAX_TOOL_ROUNDS};
use gatehouse::config::{Secret, Settings};
use serde_json::{Value, json};

pub(crate) const KEY: &str = "sk-test-gatehouse-7fQ2xLmN9pR4";

/// What the fake answers to the next request.
pub(crate) enum Reply {
    /// Tool calls: (id, name, arguments as the model writes them: a JSON string).
    Calls(Vec<(&'static str, &'static str, &'static str)>),
    /// Words quoting the `content` of the tool messages with these ids, in this order.
    Quote(Vec<&'static str>),
    /// These words, as the model's answer.
    Say(&'static str),
    /// The same tool call again, whatever was sent.
    Forever,
    /// Sleep before answering.
    Slow(Duration),
    /// An error status whose body echoes the request's Authorization header, as a careless
    /// proxy might.
    Status(u16),
}

#[derive(Default)]
struct FakeState {
    script: VecDeque<Reply>,
    forever: bool,
    /// Request bodies as received (including ones refused).
    requests: Vec<Value>,
    /// `Authorization` headers as received.
    auth: Vec<String>,
    calls_made: usize,
}

#[derive(Clone)]
pub(crate) struct ChatFake {
    pub(crate) url: String,
    state: Arc<Mutex<FakeState>>,
}

fn error(status: StatusCode, message: String) -> Response {
    (
        status,
        Json(json!({"error": {"message": message, "type": "invalid_request_error"}})),
    )
        .into_response()
}

fn message(m: Value) -> Response {
    Json(json!({
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": m, "finish_reason": "stop"}],
    }))
    .into_response()
}

fn tool_calls(calls: &[(&str, &str, &str)]) -> Value {
    json!({
        "role": "assistant",
        "content": null,
        "tool_calls": calls.iter().map(|(id, name, args)| json!({
            "id": id, "type": "function", "function": {"name": name, "arguments": args}
        })).collect::<Vec<_>>(),
    })
}

/// Every assistant tool call must be followed by a tool message with its id (OpenAI answers
/// 400 otherwise).
fn unanswered_call(messages: &[Value]) -> Option<String> {
    for (i, m) in messages.iter().enumerate() {
        for call in m["tool_calls"].as_array().into_iter().flatten() {
            let id = call["id"].as_str().unwrap_or("");
            let answered = messages[i + 1..]
                .iter()
                .any(|t| t["role"] == "tool" && t["tool_call_id"] == id);
            if !answered {
                return Some(id.to_owned());
            }
        }
    }
    None
}

async fn chat(
    State(fake): State<ChatFake>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let reply = {
        let mut s = fake.state.lock().unwrap();
        s.requests.push(body.clone());
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        s.auth.push(auth.clone());
        if auth != format!("Bearer {KEY}") {
            // OpenAI names the key it was given; Gatehouse must not pass that on.
            let given = auth.trim_start_matches("Bearer ");
            return error(
                StatusCode::UNAUTHORIZED,
                format!("Incorrect API key provided: {given}."),
            );
        }
        let messages = body["messages"].as_array().cloned().unwrap_or_default();
        if let Some(id) = unanswered_call(&messages) {
            return error(
                StatusCode::BAD_REQUEST,
                format!("tool_call_id {id} has no tool message"),
            );
        }
        if s.forever {
            Reply::Forever
        } else {
            match s.script.pop_front() {
                Some(r) => r,
                None => return error(StatusCode::BAD_REQUEST, "script exhausted".into()),
            }
        }
    };
    match reply {
        Reply::Calls(calls) => message(tool_calls(&calls)),
        Reply::Forever => {
            let n = {
                let mut s = fake.state.lock().unwrap();
                s.calls_made += 1;
                s.calls_made
            };
            let id = format!("call_{n}");
            message(json!({
                "role": "assistant",
                "content": null,
                "tool_calls": [{"id": id, "type": "function", "function": {
                    "name": "who_has", "arguments": "{\"resource\":\"finance-warehouse\"}"
                }}],
            }))
        }
        Reply::Quote(ids) => {
            let messages = body["messages"].as_array().cloned().unwrap_or_default();
            let quoted: Vec<String> = ids
                .iter()
                .map(|id| {
                    messages
                        .iter()
                        .find(|m| m["role"] == "tool" && m["tool_call_id"] == *id)
                        .and_then(|m| m["content"].as_str())
                        .unwrap_or("(missing)")
                        .to_owned()
                })
                .collect();
            message(
                json!({"role": "assistant", "content": format!("Per Gatehouse: {}", quoted.join(" | "))}),
            )
        }
        Reply::Say(words) => message(json!({"role": "assistant", "content": words})),
        Reply::Status(code) => {
            let auth = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            error(
                StatusCode::from_u16(code).unwrap(),
                format!("upstream failed for {auth}"),
            )
        }
        Reply::Slow(d) => {
            tokio::time::sleep(d).await;
            message(json!({"role": "assistant", "content": "too late"}))
        }
    }
}

impl ChatFake {
    pub(crate) async fn start(script: Vec<Reply>) -> ChatFake {
        let state = Arc::new(Mutex::new(FakeState {
            script: script.into(),
            ..FakeState::default()
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let fake = ChatFake {
            url: format!("http://{}/v1", listener.local_addr().unwrap()),
            state,
        };
        let app = axum::Router::new()
            .route("/v1/chat/completions", axum::routing::post(chat))
            .with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        fake
    }

    fn llm(&self, key: &str, timeout: Duration) -> Llm {
        Llm::new(LlmSettings {
            url: self.url.clone(),
            model: "gpt-test".into(),
            key: Secret::new(key),
            timeout,
        })
        .unwrap()
    }

    /// U0ASKER's `question`, put to this model through Gatehouse's client (the test key, ten
    /// seconds to answer), with `tools` behind it.
    async fn asked(&self, question: &str, tools: &CannedTools) -> Result<String, LlmError> {
        self.llm(KEY, Duration::from_secs(10))
            .answer("U0ASKER", question, tools)
            .await
    }

    pub(crate) fn requests(&self) -> Vec<Value> {
        self.state.lock().unwrap().requests.clone()
    }
}

/// Canned facts, and a log of the calls the model made through Gatehouse.
#[derive(Default)]
struct CannedTools {
    log: Mutex<Vec<String>>,
}

#[async_trait::async_trait]
impl AccessTools for CannedTools {
    async fn check_access(&self, user: &str, resource: &str) -> Value {
        self.log
            .lock()
            .unwrap()
            .push(format!("check_access({user}, {resource})"));
        let has = user == "U0MARIA" && resource == "finance-warehouse";
        json!({"user": user, "resource": resource, "has_access": has,
               "until": if has { json!("2026-12-31") } else { Value::Null }})
    }
    async fn list_access(&self, user: &str) -> Value {
        self.log
            .lock()
            .unwrap()
            .push(format!("list_access({user})"));
        json!({"user": user, "access": [{"resource": "looker-finance", "until": "2026-12-05"}]})
    }
    async fn who_has(&self, resource: &str) -> Value {
        self.log
            .lock()
            .unwrap()
            .push(format!("who_has({resource})"));
        json!({"resource": resource, "people": ["U0MARIA"]})
    }
}

#[tokio::test]
async fn a_tool_call_is_run_by_gatehouse_and_its_result_quoted() {
    let fake = ChatFake::start(vec![
        Reply::Calls(vec![(
            "call_abc",
            "check_access",
            r#"{"user":"U0MARIA","resource":"finance-warehouse"}"#,
        )]),
        Reply::Quote(vec!["call_abc"]),
    ])
    .await;
    let tools = CannedTools::default();
    let answer = fake
        .asked("does @maria have access to finance-warehouse?", &tools)
        .await
        .unwrap();

    assert_eq!(
        *tools.log.lock().unwrap(),
        ["check_access(U0MARIA, finance-warehouse)"]
    );
    assert!(answer.starts_with("Per Gatehouse: "), "{answer}");
    assert!(answer.contains(r#""has_access":true"#), "{answer}");
    assert!(answer.contains("2026-12-31"), "{answer}");

    let requests = fake.requests();
    assert_eq!(requests.len(), 2);
    let first = &requests[0];
    assert_eq!(first["model"], "gpt-test");
    assert_eq!(first["tool_choice"], "auto");
    let names: Vec<&str> = first["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["check_access", "list_access", "who_has"]);
    assert_eq!(first["messages"][0]["role"], "system");
    assert!(
        first["messages"][0]["content"]
            .as_str()
            .unwrap()
            .contains("<@U0ASKER>")
    );
    assert_eq!(first["messages"][1]["role"], "user");

    let second = requests[1]["messages"].as_array().unwrap();
    assert_eq!(second.len(), 4);
    assert_eq!(second[2]["role"], "assistant");
    assert_eq!(second[2]["tool_calls"][0]["id"], "call_abc");
    assert_eq!(
        second[2]["tool_calls"][0]["function"]["name"],
        "check_access"
    );
    assert_eq!(second[3]["role"], "tool");
    assert_eq!(second[3]["tool_call_id"], "call_abc");
    let result: Value = serde_json::from_str(second[3]["content"].as_str().unwrap()).unwrap();
    assert_eq!(result["has_access"], true);

    // The key goes in the header only: never in anything the model reads.
    for r in &requests {
        assert!(!r.to_string().contains(KEY), "the key was sent as content");
    }
    assert!(
        fake.state
            .lock()
            .unwrap()
            .auth
            .iter()
            .all(|a| *a == format!("Bearer {KEY}"))
    );
}

#[tokio::test]
async fn two_tool_calls_in_one_turn_are_both_answered() {
    let fake = ChatFake::start(vec![
        Reply::Calls(vec![
            ("call_1", "list_access", r#"{"user":"<@U0SAM>"}"#),
            ("call_2", "who_has", r#"{"resource":"analytics.sales"}"#),
        ]),
        Reply::Quote(vec!["call_1", "call_2"]),
    ])
    .await;
    let tools = CannedTools::default();
    let answer = fake
        .asked("what does sam have, and who reads sales?", &tools)
        .await
        .unwrap();
    // A mention the model passed on as written reaches the tools as the bare id.
    assert_eq!(
        *tools.log.lock().unwrap(),
        ["list_access(U0SAM)", "who_has(analytics.sales)"]
    );
    assert!(
        answer.contains("looker-finance") && answer.contains("U0MARIA"),
        "{answer}"
    );
    let second = fake.requests()[1]["messages"].as_array().unwrap().clone();
    let tool_ids: Vec<&str> = second
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| m["tool_call_id"].as_str().unwrap())
        .collect();
    assert_eq!(tool_ids, ["call_1", "call_2"]);
}

#[tokio::test]
async fn bad_arguments_and_unknown_tools_get_error_results_not_a_crash() {
    let fake = ChatFake::start(vec![
        Reply::Calls(vec![
            ("call_bad", "check_access", r#"{"user": "U0MARIA", "resou"#),
            ("call_missing", "check_access", r#"{"user": "U0MARIA"}"#),
            ("call_unknown", "grant_access", r#"{"user": "U0MARIA"}"#),
        ]),
        Reply::Quote(vec!["call_bad", "call_missing", "call_unknown"]),
    ])
    .await;
    let tools = CannedTools::default();
    let answer = fake
        .asked("does maria have finance?", &tools)
        .await
        .unwrap();
    assert!(tools.log.lock().unwrap().is_empty(), "no tool should run");
    let second = fake.requests()[1]["messages"].as_array().unwrap().clone();
    let results: Vec<Value> = second
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| serde_json::from_str(m["content"].as_str().unwrap()).unwrap())
        .collect();
    assert_eq!(results.len(), 3);
    assert!(
        results[0]["error"]
            .as_str()
            .unwrap()
            .contains("not valid JSON")
    );
    assert!(results[1]["error"].as_str().unwrap().contains("resource"));
    assert!(results[2]["error"].as_str().unwrap().contains("no tool"));
    // The malformed arguments are echoed back as the model wrote them.
    assert_eq!(
        second[2]["tool_calls"][0]["function"]["arguments"],
        r#"{"user": "U0MARIA", "resou"#
    );
    assert!(answer.contains("error"), "{answer}");
}

#[tokio::test]
async fn a_model_that_never_stops_calling_tools_is_stopped() {
    let fake = ChatFake::start(vec![]).await;
    fake.state.lock().unwrap().forever = true;
    let tools = CannedTools::default();
    let err = fake
        .asked("who has finance-warehouse?", &tools)
        .await
        .unwrap_err();
    assert!(matches!(err, LlmError::TooManyRounds(_)), "{err:?}");
    assert!(err.to_string().contains("rounds"), "{err}");
    assert_eq!(fake.requests().len(), MAX_TOOL_ROUNDS + 1);
    assert_eq!(tools.log.lock().unwrap().len(), MAX_TOOL_ROUNDS);
}

#[tokio::test]
async fn a_refused_key_is_reported_without_the_key() {
    let fake = ChatFake::start(vec![Reply::Quote(vec![])]).await;
    let wrong = "sk-wrong-key-Zx81Qq0pLw";
    let err = fake
        .llm(wrong, Duration::from_secs(10))
        .answer("U0ASKER", "what do I have?", &CannedTools::default())
        .await
        .unwrap_err();
    assert!(matches!(err, LlmError::Refused(_)), "{err:?}");
    let text = err.to_string();
    assert_eq!(
        text,
        "the language model refused the key (check GATEHOUSE_LLM_KEY)"
    );
    assert!(!format!("{err:?}").contains(wrong));
}

#[tokio::test]
async fn throttling_and_server_errors_are_unavailable_without_the_key() {
    let fake = ChatFake::start(vec![Reply::Status(429), Reply::Status(503)]).await;
    let llm = fake.llm(KEY, Duration::from_secs(5));
    for _ in 0..2 {
        let err = llm
            .answer("U0ASKER", "what do I have?", &CannedTools::default())
            .await
            .unwrap_err();
        assert!(matches!(err, LlmError::Unavailable(_)), "{err:?}");
        assert!(!format!("{err} {err:?}").contains(KEY), "{err}");
    }
}

#[tokio::test]
async fn a_slow_model_times_out_in_plain_words() {
    let fake = ChatFake::start(vec![Reply::Slow(Duration::from_secs(5))]).await;
    // The model answers after 5 s: an error naming the 500 ms limit is the limit at work.
    let err = fake
        .llm(KEY, Duration::from_millis(500))
        .answer("U0ASKER", "what do I have?", &CannedTools::default())
        .await
        .unwrap_err();
    assert_eq!(
        err,
        LlmError::Unavailable("the language model did not answer within 500 ms".into())
    );
}

#[tokio::test]
async fn an_unreachable_or_strange_endpoint_is_an_error_not_a_panic() {
    // Nothing listens on port 9 of localhost.
    let llm = Llm::new(LlmSettings {
        url: "http://127.0.0.1:9/v1/chat/completions".into(),
        model: "m".into(),
        key: Secret::new(KEY),
        timeout: Duration::from_secs(5),
    })
    .unwrap();
    let err = llm
        .answer("U0ASKER", "hi", &CannedTools::default())
        .await
        .unwrap_err();
    assert!(matches!(err, LlmError::Unavailable(_)), "{err:?}");

    // A script that runs out answers 400 with a JSON error: reported with an excerpt.
    let fake = ChatFake::start(vec![]).await;
    let err = fake
        .llm(KEY, Duration::from_secs(5))
        .answer("U0ASKER", "hi", &CannedTools::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("HTTP 400"), "{err}");
    assert!(err.to_string().contains("script exhausted"), "{err}");
}

#[test]
fn the_model_settings_are_all_or_nothing() {
    let load = |vars: &[(&str, &str)]| {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(&|k| {
            vars.iter()
                .find(|(name, _)| name == k)
                .map(|(_, v)| v.clone())
        })
    };
    assert!(load(&[]).unwrap().llm.is_none());

    let err = load(&[("GATEHOUSE_LLM_KEY", KEY)]).unwrap_err().to_string();
    assert!(
        err.contains("GATEHOUSE_LLM_URL, GATEHOUSE_LLM_MODEL: not set"),
        "{err}"
    );
    assert!(!err.contains(KEY), "{err}");

    let err = load(&[
        ("GATEHOUSE_LLM_URL", "https://api.openai.com/v1"),
        ("GATEHOUSE_LLM_MODEL", "gpt-4o-mini"),
    ])
    .unwrap_err()
    .to_string();
    assert!(err.contains("GATEHOUSE_LLM_KEY: not set"), "{err}");
    assert!(!err.contains("GATEHOUSE_LLM_URL"), "{err}");

    let err = load(&[
        ("GATEHOUSE_LLM_URL", "api.openai.com/v1"),
        ("GATEHOUSE_LLM_MODEL", "gpt-4o-mini"),
        ("GATEHOUSE_LLM_KEY", KEY),
    ])
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("GATEHOUSE_LLM_URL: must start with https://"),
        "{err}"
    );

    let s = load(&[
        ("GATEHOUSE_LLM_URL", "https://api.openai.com/v1/"),
        ("GATEHOUSE_LLM_MODEL", "gpt-4o-mini"),
        ("GATEHOUSE_LLM_KEY", KEY),
    ])
    .unwrap();
    let llm = s.llm.unwrap();
    assert_eq!(llm.url, "https://api.openai.com/v1");
    assert_eq!(llm.key.expose(), KEY);
    assert!(!format!("{llm:?}").contains(KEY));
}
