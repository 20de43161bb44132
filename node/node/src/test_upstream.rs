//! A small deterministic OpenAI-compatible upstream: it stands for the provider's business in
//! the devnet, the demo and the tests. It lists one model, answers chat completions (streamed
//! or not) with a `usage` derived from the request and embeddings with a fixed vector, sleeps
//! or breaks off when the request asks it to (test knobs below), and counts every call by body.
//! It is not a model: point `zkcredits devnet --upstream` at a real server for real answers.

use axum::{
    Json, Router,
    body::{Body, Bytes},
    http::header,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use futures::StreamExt;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

/// The bodies of every call received.
#[derive(Debug, Clone, Default)]
pub struct Calls(Arc<Mutex<Vec<Bytes>>>);

impl Calls {
    /// How many calls carried exactly `body`.
    pub fn count(&self, body: &[u8]) -> usize {
        self.lock().iter().filter(|b| b.as_ref() == body).count()
    }

    /// Every call.
    pub fn all(&self) -> Vec<Bytes> {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Bytes>> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn record(&self, body: Bytes) {
        self.lock().push(body);
    }
}

/// The running upstream; it stops when dropped.
#[derive(Debug)]
pub struct TestUpstream {
    address: std::net::SocketAddr,
    /// Every call it received.
    pub calls: Calls,
    server: tokio::task::JoinHandle<()>,
}

/// The one model the upstream lists.
pub const MODEL: &str = "zkcredits-echo";

impl TestUpstream {
    /// Serves on `address` (port 0: any free port).
    pub async fn start_on(address: std::net::SocketAddr) -> std::io::Result<Self> {
        let calls = Calls::default();
        let app = Router::new()
            .route("/v1/models", get(models))
            .route("/v1/chat/completions", post(chat))
            .route("/v1/embeddings", post(embeddings))
            .route("/v1/moderations", post(moderations))
            .with_state(calls.clone());
        let listener = tokio::net::TcpListener::bind(address).await?;
        let address = listener.local_addr()?;
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { address, calls, server })
    }

    /// Serves on a free loopback port.
    pub async fn start() -> std::io::Result<Self> {
        Self::start_on(([127, 0, 0, 1], 0).into()).await
    }

    /// Its base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }
}

impl Drop for TestUpstream {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn models() -> Json<Value> {
    Json(
        json!({"object": "list", "data": [{"id": MODEL, "object": "model", "created": 0, "owned_by": "zkcredits"}]}),
    )
}

/// Prompt tokens: bytes of the messages' content; completion tokens: fixed.
pub const COMPLETION_TOKENS: u64 = 5;

async fn chat(axum::extract::State(calls): axum::extract::State<Calls>, body: Bytes) -> Response {
    calls.record(body.clone());
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let prompt = request["messages"]
        .as_array()
        .map_or(0, |m| m.iter().map(|m| m["content"].as_str().map_or(0, str::len) as u64).sum());
    if let Some(ms) = request["sleep_ms"].as_u64() {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
    let usage = json!({"prompt_tokens": prompt, "completion_tokens": COMPLETION_TOKENS, "total_tokens": prompt + COMPLETION_TOKENS});
    if request["stream"].as_bool() == Some(true) {
        // Test knobs: `chunks` more content chunks of `pad` bytes, `chunk_delay_ms` before each
        // event, and `break_after` events before the connection breaks.
        let padding = "x".repeat(request["pad"].as_u64().unwrap_or(0) as usize);
        let delay =
            std::time::Duration::from_millis(request["chunk_delay_ms"].as_u64().unwrap_or(0));
        let mut events = vec![
            json!({"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hel"}}]}),
        ];
        for _ in 0..request["chunks"].as_u64().unwrap_or(0) {
            events.push(json!({"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": padding}}]}));
        }
        events.push(json!({"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": "lo"}, "finish_reason": "stop"}]}));
        events.push(json!({"object": "chat.completion.chunk", "choices": [], "usage": usage}));
        let mut items: Vec<Result<Bytes, std::io::Error>> = events
            .iter()
            .map(|event| Ok(Bytes::from(format!("data: {event}\n\n"))))
            .chain(std::iter::once(Ok(Bytes::from_static(b"data: [DONE]\n\n"))))
            .collect();
        if let Some(kept) = request["break_after"].as_u64() {
            items.truncate(kept as usize);
            items.push(Err(std::io::Error::other("the upstream broke off")));
        }
        let stream = futures::stream::iter(items).then(move |item| async move {
            tokio::time::sleep(delay).await;
            item
        });
        return ([(header::CONTENT_TYPE, "text/event-stream")], Body::from_stream(stream))
            .into_response();
    }
    Json(json!({
        "object": "chat.completion",
        "model": request["model"],
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello"}, "finish_reason": "stop"}],
        "usage": usage,
    }))
    .into_response()
}

/// The one embedding the upstream returns.
pub const EMBEDDING: [f32; 2] = [0.5, 0.25];

/// The fixed [`EMBEDDING`], as floats or, when asked `encoding_format: "base64"` (what the
/// openai SDKs ask by default), as base64 of its little-endian `f32`s.
async fn embeddings(
    axum::extract::State(calls): axum::extract::State<Calls>,
    body: Bytes,
) -> Json<Value> {
    let request = serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null);
    let input = request["input"].as_str().map_or(0, str::len) as u64;
    calls.record(body);
    let embedding = if request["encoding_format"] == "base64" {
        use base64::Engine;
        let bytes: Vec<u8> = EMBEDDING.iter().flat_map(|v| v.to_le_bytes()).collect();
        json!(base64::engine::general_purpose::STANDARD.encode(bytes))
    } else {
        json!(EMBEDDING)
    };
    Json(json!({
        "object": "list",
        "data": [{"object": "embedding", "index": 0, "embedding": embedding}],
        "usage": {"prompt_tokens": input, "total_tokens": input},
    }))
}

/// An answer that reports no `usage`.
async fn moderations(
    axum::extract::State(calls): axum::extract::State<Calls>,
    body: Bytes,
) -> Json<Value> {
    calls.record(body);
    Json(json!({"id": "modr-1", "results": [{"flagged": false}]}))
}
