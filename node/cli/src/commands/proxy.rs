//! `zkcredits proxy`: a local OpenAI-compatible endpoint that pays for every call from the
//! wallet. Point an OpenAI SDK's `base_url` at it and change nothing else.
//!
//! `POST /v1/chat/completions` goes to the node's metered chat route, every other route to the
//! node's `/proxy/…` (the node forwards only the routes it prices). Each call is proven, sent,
//! settled and its new state stored before its answer completes; a streamed answer is relayed
//! chunk by chunk and ends once the settlement is stored. One note carries one call at a time:
//! with K notes, K calls run at once and the rest wait.

use axum::{
    Json, Router,
    body::{Body, Bytes},
    extract::{DefaultBodyLimit, State},
    http::{HeaderMap, Method, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use eyre::{WrapErr, bail};
use serde_json::json;
use std::{net::SocketAddr, sync::Arc, time::Duration};
use tokio_util::task::TaskTracker;
use zkcredits_client::{ApiRequest, Client, ClientError, Relay};

/// The largest request body the proxy takes.
const MAX_BODY_BYTES: usize = 4 << 20;
/// How long calls in flight may take to finish after Ctrl-C.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Arguments of `zkcredits proxy`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    wallet: super::wallet::WalletArgs,
    /// Where the OpenAI-compatible endpoint listens (loopback only: it spends the wallet).
    #[arg(long, default_value = "127.0.0.1:8787")]
    listen: SocketAddr,
    /// The provider's node, e.g. http://127.0.0.1:7787.
    #[arg(long, value_name = "URL")]
    provider: String,
}

struct ProxyState {
    client: Arc<Client>,
    provider: String,
    tracker: TaskTracker,
}

impl Args {
    pub(crate) fn run(self) -> eyre::Result<()> {
        if !self.listen.ip().is_loopback() {
            bail!(
                "--listen {}: the proxy pays from your wallet for whoever reaches it; listen on a loopback address (127.0.0.1)",
                self.listen
            );
        }
        super::init_logging("info");
        let client = Arc::new(self.wallet.open()?);
        client.preload().wrap_err("loading the request circuit and key (run `make keys`)")?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .wrap_err("cannot start the async runtime")?;
        runtime.block_on(async {
            // Fail now, not on the first call, when the provider's terms are not the chain's.
            client.terms(self.provider.trim_end_matches('/')).await?;
            let state = Arc::new(ProxyState {
                client,
                provider: self.provider.trim_end_matches('/').to_owned(),
                tracker: TaskTracker::new(),
            });
            let app = Router::new()
                .fallback(forward)
                .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
                .with_state(Arc::clone(&state));
            let listener = tokio::net::TcpListener::bind(self.listen)
                .await
                .wrap_err_with(|| format!("cannot listen on {}", self.listen))?;
            let address = listener.local_addr()?;
            // Scripts wait for this line to know the proxy is up.
            println!("zkcredits proxy listening on http://{address}/v1 (provider {})", state.provider);
            axum::serve(listener, app)
                .with_graceful_shutdown(super::node::shutdown_signal())
                .await?;
            state.tracker.close();
            if tokio::time::timeout(SHUTDOWN_GRACE, state.tracker.wait()).await.is_err() {
                tracing::warn!(
                    "calls still open after {SHUTDOWN_GRACE:?}; their tickets stay pending in the wallet and settle on the next start"
                );
            }
            Ok(())
        })
    }
}

/// The node's route for a call to `uri`.
fn node_target(method: &Method, uri: &Uri) -> String {
    let query = uri.query().map(|q| format!("?{q}")).unwrap_or_default();
    if method == Method::POST && uri.path() == "/v1/chat/completions" {
        format!("{}{query}", uri.path())
    } else {
        format!("/proxy{}{query}", uri.path())
    }
}

fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!({"error": {"code": code, "message": message, "type": "zkcredits"}})))
        .into_response()
}

/// An OpenAI-shaped error for what the client could not do.
fn client_error(error: &ClientError) -> Response {
    let message = error.to_string();
    match error {
        ClientError::Refused { code, status, .. } => error_response(
            StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_GATEWAY),
            code,
            &message,
        ),
        ClientError::UnknownRoute { .. } => {
            error_response(StatusCode::NOT_FOUND, "unknown_route", &message)
        }
        ClientError::SettlementPending(_) => {
            error_response(StatusCode::BAD_GATEWAY, "settlement_pending", &message)
        }
        ClientError::Note(_) => {
            error_response(StatusCode::SERVICE_UNAVAILABLE, "no_note", &message)
        }
        ClientError::Terms(_) | ClientError::Provider { .. } | ClientError::BadSettlement(_) => {
            error_response(StatusCode::BAD_GATEWAY, "provider_error", &message)
        }
        _ => error_response(StatusCode::INTERNAL_SERVER_ERROR, "client_error", &message),
    }
}

/// Whether a call may come from a web page rather than a program: browsers name the page's
/// origin on every cross-site request (and on same-site POSTs), and a page that rebinds a DNS
/// name to 127.0.0.1 still sends its own name as `Host`. SDKs send neither. Refusing these
/// keeps any website the user visits from spending the wallet.
fn from_a_browser(headers: &HeaderMap) -> Option<&'static str> {
    if headers.contains_key(header::ORIGIN) {
        return Some("requests with an Origin header (from a web page) are refused");
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default();
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    };
    if !["127.0.0.1", "localhost", "[::1]"].contains(&name) {
        return Some("the Host header must name the loopback address the proxy listens on");
    }
    None
}

async fn forward(
    State(state): State<Arc<ProxyState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(reason) = from_a_browser(&headers) {
        return error_response(StatusCode::FORBIDDEN, "forbidden", reason);
    }
    let request = ApiRequest {
        method: method.as_str().to_owned(),
        path_and_query: node_target(&method, &uri),
        content_type: headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body: body.to_vec(),
    };
    let (head_in, head_out) = tokio::sync::oneshot::channel();
    let (body_in, mut body_out) = tokio::sync::mpsc::channel(64);
    let relay = Relay { head: head_in, body: body_in };
    let (client, provider) = (Arc::clone(&state.client), state.provider.clone());
    // The call runs apart from the caller's connection: a caller that hangs up does not leave
    // its ticket half settled.
    let call = state
        .tracker
        .spawn(async move { client.pay_relayed(&provider, &request, None, Some(relay)).await });
    if let Ok(head) = head_out.await {
        let chunks = futures::stream::poll_fn(move |cx| body_out.poll_recv(cx));
        let mut response = Response::builder()
            .status(StatusCode::from_u16(head.status).unwrap_or(StatusCode::OK))
            .header(header::CACHE_CONTROL, "no-cache");
        if let Some(content_type) = head.content_type {
            response = response.header(header::CONTENT_TYPE, content_type);
        }
        return response.body(Body::from_stream(chunks)).unwrap_or_else(|e| {
            error_response(StatusCode::INTERNAL_SERVER_ERROR, "client_error", &e.to_string())
        });
    }
    match call.await {
        Ok(Ok(paid)) => {
            let mut response = Response::builder()
                .status(StatusCode::from_u16(paid.status).unwrap_or(StatusCode::OK));
            if let Some(content_type) = paid.content_type {
                response = response.header(header::CONTENT_TYPE, content_type);
            }
            response.body(Body::from(paid.body)).unwrap_or_else(|e| {
                error_response(StatusCode::INTERNAL_SERVER_ERROR, "client_error", &e.to_string())
            })
        }
        Ok(Err(error)) => {
            tracing::warn!("{method} {}: {error}", uri.path());
            client_error(&error)
        }
        Err(e) => error_response(StatusCode::INTERNAL_SERVER_ERROR, "client_error", &e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        pairs.iter().map(|(k, v)| (k.clone(), v.parse().expect("header value"))).collect()
    }

    #[test]
    fn only_programs_on_this_machine_may_spend_through_the_proxy() {
        assert_eq!(from_a_browser(&headers(&[(header::HOST, "127.0.0.1:8787")])), None);
        assert_eq!(from_a_browser(&headers(&[(header::HOST, "localhost:8787")])), None);
        assert_eq!(from_a_browser(&headers(&[(header::HOST, "[::1]:8787")])), None);
        // DNS rebinding: a page's own name resolving to 127.0.0.1.
        assert!(from_a_browser(&headers(&[(header::HOST, "evil.example:8787")])).is_some());
        assert!(from_a_browser(&headers(&[])).is_some());
        // A cross-site form or fetch.
        let page = [(header::HOST, "127.0.0.1:8787"), (header::ORIGIN, "https://evil.example")];
        assert!(from_a_browser(&headers(&page)).is_some());
    }

    #[test]
    fn chat_goes_to_the_metered_route_and_everything_else_through_proxy() {
        let uri = |s: &str| s.parse::<Uri>().expect("uri");
        assert_eq!(
            node_target(&Method::POST, &uri("/v1/chat/completions")),
            "/v1/chat/completions"
        );
        assert_eq!(node_target(&Method::GET, &uri("/v1/models")), "/proxy/v1/models");
        assert_eq!(
            node_target(&Method::POST, &uri("/v1/embeddings?x=1")),
            "/proxy/v1/embeddings?x=1"
        );
    }
}
