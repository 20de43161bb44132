//! Forwarding to the provider's API, and reading `usage` out of what it answers.

use crate::{NodeError, config::UpstreamConfig, pricing::Usage};
use axum::http::{HeaderValue, Method};
use bytes::Bytes;
use std::time::Duration;

/// The upstream API.
#[derive(Debug, Clone)]
pub struct Upstream {
    client: reqwest::Client,
    base: String,
    api_key: Option<String>,
}

impl Upstream {
    /// A client for `config.url`; the API key comes from `ZKCREDITS_UPSTREAM_API_KEY` or the
    /// config.
    pub fn new(config: &UpstreamConfig) -> Result<Self, NodeError> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(config.timeout_secs))
            .build()
            .map_err(|e| NodeError::ConfigValue { key: "upstream", reason: e.to_string() })?;
        let api_key = std::env::var("ZKCREDITS_UPSTREAM_API_KEY")
            .ok()
            .or_else(|| Some(config.api_key.clone()))
            .filter(|k| !k.is_empty());
        Ok(Self { client, base: config.url.trim_end_matches('/').to_owned(), api_key })
    }

    /// Sends `body` to `path_and_query` under the base URL. Only the content type is passed
    /// on: the client's other headers (its payment above all) stay here.
    pub async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        content_type: Option<HeaderValue>,
        body: Bytes,
    ) -> Result<reqwest::Response, reqwest::Error> {
        let mut request =
            self.client.request(method, format!("{}{path_and_query}", self.base)).body(body);
        if let Some(content_type) = content_type {
            request = request.header(reqwest::header::CONTENT_TYPE, content_type);
        }
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        request.send().await
    }
}

/// Whether a chat request asks for a stream (`"stream": true`).
pub fn wants_stream(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("stream").and_then(serde_json::Value::as_bool))
        .unwrap_or(false)
}

/// Reads server-sent events as they stream by and keeps the last `usage` seen (OpenAI sends
/// it in the final chunk when the client sets `stream_options.include_usage`).
#[derive(Debug, Default)]
pub struct SseUsage {
    pending: Vec<u8>,
    /// The usage seen so far.
    pub usage: Option<Usage>,
}

impl SseUsage {
    /// Feeds the next bytes of the stream.
    pub fn feed(&mut self, chunk: &[u8]) {
        self.pending.extend_from_slice(chunk);
        while let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            let Some(data) = line.strip_prefix(b"data:") else { continue };
            let data = data.trim_ascii();
            if let Some(usage) = serde_json::from_slice::<serde_json::Value>(data)
                .ok()
                .and_then(|v| Usage::from_response(&v))
            {
                self.usage = Some(usage);
            }
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
    fn stream_flag() {
        assert!(wants_stream(br#"{"stream": true}"#));
        assert!(!wants_stream(br#"{"stream": false}"#));
        assert!(!wants_stream(b"not json"));
    }
}
