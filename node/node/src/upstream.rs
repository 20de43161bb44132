//! Forwarding to the provider's API, and reading `usage` out of what it answers.

use crate::{NodeError, config::UpstreamConfig, pricing::Usage};
use axum::http::{HeaderValue, Method};
use bytes::Bytes;
use std::time::Duration;

/// The upstream API. `Debug` never shows the API key.
#[derive(Clone)]
pub struct Upstream {
    client: reqwest::Client,
    base: String,
    api_key: Option<String>,
    /// The longest silence, and the deadline of a plain (not streamed) answer.
    silence: Duration,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("base", &crate::config::redact_url(&self.base))
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("silence", &self.silence)
            .finish_non_exhaustive()
    }
}

impl Upstream {
    /// A client for `config.url`; the API key comes from `ZKCREDITS_UPSTREAM_API_KEY` or the
    /// config.
    pub fn new(config: &UpstreamConfig) -> Result<Self, NodeError> {
        let silence = Duration::from_secs(config.timeout_secs);
        // No total deadline on the client: it would cut a long stream before its final
        // `usage` chunk. Plain answers get one per request (`send`).
        let client = reqwest::Client::builder()
            .connect_timeout(silence.min(Duration::from_secs(10)))
            .read_timeout(silence)
            // Answers are relayed as they are: a redirect would send the provider's key to
            // another route than the one priced.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| NodeError::ConfigValue { key: "upstream", reason: e.to_string() })?;
        let api_key = std::env::var("ZKCREDITS_UPSTREAM_API_KEY")
            .ok()
            .or_else(|| Some(config.api_key.clone()))
            .filter(|k| !k.is_empty());
        Ok(Self { client, base: config.url.trim_end_matches('/').to_owned(), api_key, silence })
    }

    /// The longest silence allowed between two chunks of an answer.
    pub fn silence(&self) -> Duration {
        self.silence
    }

    /// Sends `body` to `path_and_query` under the base URL. Only the content type is passed
    /// on: the client's other headers (its payment above all) stay here. A `streaming` call
    /// has no total deadline, only the silence limit between chunks.
    pub async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        content_type: Option<HeaderValue>,
        body: Bytes,
        streaming: bool,
    ) -> Result<reqwest::Response, reqwest::Error> {
        let mut request =
            self.client.request(method, format!("{}{path_and_query}", self.base)).body(body);
        if !streaming {
            request = request.timeout(self.silence);
        }
        if let Some(content_type) = content_type {
            request = request.header(reqwest::header::CONTENT_TYPE, content_type);
        }
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        request.send().await
    }
}

/// Whether a chat request asks for a stream: any `stream` but absent, `false` or `null` (a
/// lenient upstream streams for `"stream": 1` too, and a stream must be relayed as one).
pub fn wants_stream(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("stream").cloned())
        .is_some_and(|stream| {
            !matches!(stream, serde_json::Value::Null | serde_json::Value::Bool(false))
        })
}

/// The longest event line kept while waiting for its end; a longer one is dropped (a `usage`
/// chunk is a few hundred bytes).
const MAX_SSE_LINE: usize = 64 << 10;

/// Reads server-sent events as they stream by and keeps the last `usage` seen (OpenAI sends
/// it in the final chunk when the client sets `stream_options.include_usage`).
#[derive(Debug, Default)]
pub struct SseUsage {
    /// The unfinished last line, at most [`MAX_SSE_LINE`] bytes.
    pending: Vec<u8>,
    /// Whether the current line overflowed and is being skipped to its end.
    skipping: bool,
    /// The usage seen so far.
    pub usage: Option<Usage>,
}

impl SseUsage {
    /// Feeds the next bytes of the stream: each byte is looked at once, and at most one line
    /// is held.
    pub fn feed(&mut self, chunk: &[u8]) {
        let mut rest = chunk;
        while let Some(end) = rest.iter().position(|&b| b == b'\n') {
            if !std::mem::take(&mut self.skipping) {
                self.pending.extend_from_slice(&rest[..end]);
                self.line_done();
            }
            self.pending.clear();
            rest = &rest[end + 1..];
        }
        if self.skipping {
            return;
        }
        if self.pending.len() + rest.len() > MAX_SSE_LINE {
            self.pending.clear();
            self.skipping = true;
        } else {
            self.pending.extend_from_slice(rest);
        }
    }

    fn line_done(&mut self) {
        let Some(data) = self.pending.strip_prefix(b"data:") else { return };
        if let Some(usage) = serde_json::from_slice::<serde_json::Value>(data.trim_ascii())
            .ok()
            .and_then(|v| Usage::from_response(&v))
        {
            // Field by field, the largest: some upstreams report running totals per chunk.
            self.usage = Some(self.usage.map_or(usage, |seen| Usage {
                prompt_tokens: seen.prompt_tokens.max(usage.prompt_tokens),
                completion_tokens: seen.completion_tokens.max(usage.completion_tokens),
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_usage_across_chunk_boundaries() {
        let stream = "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n\
                      data: {\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":2}}\n\n\
                      data: [DONE]\n\n";
        for split in 1..stream.len() {
            let mut sse = SseUsage::default();
            sse.feed(&stream.as_bytes()[..split]);
            sse.feed(&stream.as_bytes()[split..]);
            assert_eq!(
                sse.usage,
                Some(Usage { prompt_tokens: 9, completion_tokens: 2 }),
                "split at {split}"
            );
        }
    }

    #[test]
    fn an_endless_line_is_dropped_and_the_next_usage_still_read() {
        let mut sse = SseUsage::default();
        let filler = vec![b'x'; 4096];
        sse.feed(b"data: ");
        for _ in 0..64 {
            sse.feed(&filler);
        }
        assert!(sse.pending.len() <= MAX_SSE_LINE);
        sse.feed(b"\ndata: {\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}\n");
        assert_eq!(sse.usage, Some(Usage { prompt_tokens: 1, completion_tokens: 2 }));
    }

    #[test]
    fn stream_flag() {
        assert!(wants_stream(br#"{"stream": true}"#));
        assert!(!wants_stream(br#"{"stream": false}"#));
        assert!(wants_stream(br#"{"stream": 1}"#) && wants_stream(br#"{"stream": "true"}"#));
        assert!(!wants_stream(b"not json"));
    }
}
