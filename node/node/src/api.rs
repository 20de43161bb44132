//! The HTTP API (spec/05): the paid routes, settlements, the payment description, metrics and
//! health.

use crate::{
    Rejection, codes,
    envelope::{ENVELOPE_VERSION, PAYMENT_HEADER},
    pipeline::{Admission, NodeState, Ticket},
    pricing::{Pricing, RoutePrice, Usage},
    server::ClientAddr,
    settlement::{SETTLEMENT_EVENT, SETTLEMENT_HEADER, Settlement},
    throttle::AddressSlot,
    upstream::{SseUsage, wants_stream},
    verify::Lane,
};
use axum::{
    Json, Router,
    body::Body,
    extract::{DefaultBodyLimit, Path, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header},
    response::{IntoResponse, Response},
    routing::{any, get, post},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use bytes::Bytes;
use futures::StreamExt;
use serde_json::{Value, json};
use std::{convert::Infallible, net::IpAddr, sync::Arc};
use tokio::sync::{OwnedSemaphorePermit, mpsc::error::TrySendError};
use zkcredits_primitives::field::{fr_from_dec, fr_to_dec};

/// The route a paid request came in on: how it is metered and where it goes upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    /// `POST /v1/chat/completions`: metered from `usage`, streamed when asked.
    Chat,
    /// `/proxy/{path}` of an allowed route: forwarded to `{upstream}/{path}` at its price.
    Proxy(RoutePrice),
}

impl Route {
    fn price(self, pricing: &Pricing) -> RoutePrice {
        match self {
            Self::Chat => pricing.chat(),
            Self::Proxy(price) => price,
        }
    }
}

const CHAT_PATH: &str = "/v1/chat/completions";

/// The node's routes.
pub fn router(state: Arc<NodeState>) -> Router {
    Router::new()
        .route(CHAT_PATH, post(chat))
        .route("/proxy/{*path}", any(proxy))
        .route("/v1/settlements/{nullifier}", get(settlement))
        .route("/v1/info", get(info))
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        // The paid routes enforce `limits.max_body_bytes` themselves, with our error body.
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

async fn not_found(uri: Uri) -> Response {
    let message = format!(
        "{} is not a route of this node: paid calls go to POST {CHAT_PATH} or /proxy/… (the routes /v1/info lists)",
        uri.path()
    );
    (StatusCode::NOT_FOUND, Json(error_body(codes::NOT_FOUND, &message))).into_response()
}

async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    let message =
        format!("{} does not take {method} (spec/05 lists each route's method)", uri.path());
    (StatusCode::METHOD_NOT_ALLOWED, Json(error_body(codes::METHOD_NOT_ALLOWED, &message)))
        .into_response()
}

fn error_body(code: &str, message: &str) -> Value {
    json!({ "error": { "code": code, "message": message, "type": "zkcredits" } })
}

fn settlement_header(settlement: &Settlement) -> HeaderValue {
    HeaderValue::from_str(&URL_SAFE_NO_PAD.encode(settlement.to_json().to_string()))
        .unwrap_or_else(|_| unreachable!("base64url is a valid header value"))
}

/// How to pay this node: everything a client needs to build a request proof.
fn payment_description(state: &NodeState) -> Value {
    let root = *state.signer_root.read().unwrap_or_else(std::sync::PoisonError::into_inner);
    json!({
        "envelopeVersion": ENVELOPE_VERSION,
        "header": PAYMENT_HEADER,
        "chainId": state.deployed.chain_id,
        "escrow": state.deployed.escrow.to_string(),
        "token": state.deployed.token.to_string(),
        "scope": fr_to_dec(&state.deployed.scope),
        "cMax": state.deployed.c_max.to_string(),
        "signerRoot": fr_to_dec(&root),
        // Empty while the node is not in the escrow's current set: nothing it signs is usable.
        "signers": state.active_signers().unwrap_or_default().iter().map(|k| json!({"x": fr_to_dec(&k.0.x), "y": fr_to_dec(&k.0.y)})).collect::<Vec<_>>(),
        "providerId": fr_to_dec(&state.provider_id),
        "timeBucket": state.limits.time_bucket_secs,
        "pricing": state.pricing.to_json(),
        "privacy": state.mitigations.to_json(),
    })
}

/// [`reject`], and a request that passed the payment checks and then failed (a proof that
/// does not decode or verify, a body late or not matching `x`) costs its sender
/// `limits.invalid_proof_penalty` requests of allowance: each held a slot or a verification.
fn refuse(state: &NodeState, client: IpAddr, rejection: &Rejection) -> Response {
    if matches!(
        rejection,
        Rejection::InvalidProof
            | Rejection::MalformedProof(_)
            | Rejection::BodyIncomplete { .. }
            | Rejection::XMismatch
    ) {
        state.throttle.penalize(client, state.limits.invalid_proof_penalty);
    }
    reject(state, rejection)
}

/// A paid request's place: one of `limits.max_paid_in_flight` and of its address's
/// `limits.max_paid_in_flight_per_ip`, held until its answer is written or its stream ends.
struct PaidSlot {
    _global: OwnedSemaphorePermit,
    _address: AddressSlot,
}

fn reject(state: &NodeState, rejection: &Rejection) -> Response {
    state.metrics.rejected(rejection.reason());
    let body = error_body(rejection.reason(), &rejection.to_string());
    (rejection.status(), Json(body)).into_response()
}

/// The x402 header of a 402 answer (spec/05 §x402).
pub const X402_HEADER: &str = "payment-required";

/// The x402 scheme name of a zkcredits payment.
pub const X402_SCHEME: &str = "zk-credits";

/// The 402 answer: the error body with the payment description, and the same description as
/// an x402 (version 2) `PAYMENT-REQUIRED` header offering the `zk-credits` scheme, so clients
/// that parse x402 discover how to pay privately.
fn payment_required(state: &NodeState, resource: &str) -> Response {
    let rejection = Rejection::PaymentRequired;
    state.metrics.rejected(rejection.reason());
    let description = payment_description(state);
    let mut body = error_body(rejection.reason(), &rejection.to_string());
    body["payment"] = description.clone();
    let x402 = json!({
        "x402Version": 2,
        "error": rejection.to_string(),
        "resource": {
            "url": resource,
            "description": "an API call paid with a zkcredits ticket",
            "mimeType": "application/json",
        },
        "accepts": [{
            "scheme": X402_SCHEME,
            "network": format!("eip155:{}", state.deployed.chain_id),
            "amount": state.deployed.c_max.to_string(),
            "asset": state.deployed.token.to_string(),
            "payTo": state.deployed.escrow.to_string(),
            "maxTimeoutSeconds": state.limits.time_bucket_secs,
            "extra": description,
        }],
    });
    let mut response = (rejection.status(), Json(body)).into_response();
    let encoded = base64::engine::general_purpose::STANDARD.encode(x402.to_string());
    if let Ok(value) = HeaderValue::from_str(&encoded) {
        response.headers_mut().insert(X402_HEADER, value);
    }
    response
}

/// An answer that is not the upstream's but settles the ticket: the settlement goes in the
/// body and in the header.
fn settled_error(
    status: StatusCode,
    code: &str,
    message: &str,
    settlement: &Settlement,
) -> Response {
    let mut body = error_body(code, message);
    body["settlement"] = settlement.to_json();
    let mut response = (status, Json(body)).into_response();
    response.headers_mut().insert(SETTLEMENT_HEADER, settlement_header(settlement));
    response
}

fn replayed(state: &NodeState, settlement: &Settlement) -> Response {
    state.metrics.replayed();
    settled_error(
        StatusCode::CONFLICT,
        codes::REPLAYED_REQUEST,
        "this request was served before; its settlement is attached and it is not served again",
        settlement,
    )
}

async fn chat(
    State(state): State<Arc<NodeState>>,
    client: ClientAddr,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    // `x` binds the path and the query, as the client sent them (spec/05).
    let request = PaidRequest {
        method: Method::POST,
        path_and_query: path_and_query(&uri),
        headers,
        route: Route::Chat,
    };
    paid(state, client.0.ip(), request, body).await
}

async fn proxy(
    State(state): State<Arc<NodeState>>,
    client: ClientAddr,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let upstream_path = &uri.path()["/proxy".len()..];
    let Some(price) = state.pricing.proxy_route(method.as_str(), upstream_path) else {
        return reject(
            &state,
            &Rejection::UnknownRoute { method: method.to_string(), path: upstream_path.to_owned() },
        );
    };
    let request = PaidRequest {
        method,
        path_and_query: path_and_query(&uri),
        headers,
        route: Route::Proxy(price),
    };
    paid(state, client.0.ip(), request, body).await
}

fn path_and_query(uri: &Uri) -> String {
    uri.path_and_query().map_or_else(|| uri.path().to_owned(), |p| p.to_string())
}

/// A paid request's head.
struct PaidRequest {
    method: Method,
    path_and_query: String,
    headers: HeaderMap,
    route: Route,
}

/// A paid request, in the order of spec/05: the client's allowance and a slot first, then
/// every check the payment header settles, and only then the body (within
/// `limits.body_read_timeout_secs`), the checks it needs, and the serving.
async fn paid(state: Arc<NodeState>, client: IpAddr, request: PaidRequest, body: Body) -> Response {
    // `privacy.min_latency_ms` counts from here.
    let arrived = std::time::Instant::now();
    if !state.throttle.try_take(client, 1) {
        return reject(&state, &Rejection::RateLimited);
    }
    let Some(address) = state.paid_per_ip.open(client, state.limits.max_paid_in_flight_per_ip)
    else {
        return reject(&state, &Rejection::Overloaded);
    };
    let Ok(global) = Arc::clone(&state.paid_slots).try_acquire_owned() else {
        return reject(&state, &Rejection::Overloaded);
    };
    let slot = PaidSlot { _global: global, _address: address };
    let limit = state.limits.max_body_bytes;
    let declared = request
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return reject(&state, &Rejection::BodyTooLarge { limit });
    }
    let payment = request.headers.get(PAYMENT_HEADER).map(HeaderValue::as_bytes);
    let envelope = match state.check_payment(payment) {
        Ok(envelope) => envelope,
        Err(Rejection::PaymentRequired) => {
            return payment_required(&state, &request.path_and_query);
        }
        Err(rejection) => return refuse(&state, client, &rejection),
    };
    let secs = state.limits.body_read_timeout_secs;
    let body = match tokio::time::timeout(
        std::time::Duration::from_secs(secs),
        read_body(body, limit, secs),
    )
    .await
    {
        Ok(Ok(body)) => body,
        Ok(Err(rejection)) => return refuse(&state, client, &rejection),
        Err(_) => return refuse(&state, client, &Rejection::BodyIncomplete { secs }),
    };
    let PaidRequest { method, path_and_query, headers, route } = request;
    // A source that sent a failing proof lately has its proofs checked alone: junk must not
    // fail the batches of paying clients.
    let lane = if state.throttle.is_suspect(client) { Lane::Suspect } else { Lane::Batched };
    match state.admit(envelope, lane, method.as_str(), &path_and_query, &body).await {
        Err(rejection) => refuse(&state, client, &rejection),
        Ok(Admission::Replay(settlement)) => replayed(&state, &settlement),
        Ok(Admission::Serve(ticket)) => {
            let upstream_path = match route {
                // The query is bound into x but is the client's business, not the upstream's.
                Route::Chat => CHAT_PATH.to_owned(),
                Route::Proxy(_) => path_and_query["/proxy".len()..].to_owned(),
            };
            let call = UpstreamCall {
                method,
                path: upstream_path,
                content_type: headers.get(header::CONTENT_TYPE).cloned(),
                body,
                route,
                arrived,
            };
            // Served in its own (tracked) task: a client hanging up must not leave the ticket
            // unsettled, and shutdown waits for it.
            let task = state.tasks.spawn(serve(Arc::clone(&state), ticket, call, slot));
            task.await.unwrap_or_else(|_| reject(&state, &Rejection::Internal))
        }
    }
}

/// The body, at most `limit` bytes (`secs` names the deadline when it breaks off).
async fn read_body(body: Body, limit: usize, secs: u64) -> Result<Bytes, Rejection> {
    let mut chunks = body.into_data_stream();
    let mut bytes = Vec::new();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|_| Rejection::BodyIncomplete { secs })?;
        if bytes.len() + chunk.len() > limit {
            return Err(Rejection::BodyTooLarge { limit });
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(bytes))
}

/// What goes upstream for a ticket.
struct UpstreamCall {
    method: Method,
    path: String,
    content_type: Option<HeaderValue>,
    body: Bytes,
    route: Route,
    arrived: std::time::Instant,
}

/// Holds an answer ready now to a request that arrived at `arrived` until it may leave
/// (`privacy.min_latency_ms`, `latency_classes`, `jitter_ms`); at once when shutdown starts.
/// `false` when the ticket was spent at another node meanwhile.
async fn hold_answer(state: &NodeState, ticket: &Ticket, arrived: std::time::Instant) -> bool {
    if !state.mitigations.holds() {
        return true;
    }
    let now = std::time::Instant::now();
    let release = state.mitigations.release_at(arrived, now, &mut rand::thread_rng());
    // A held stream's upstream is not read meanwhile: stay inside its silence limit.
    let release = release.min(now + state.upstream.silence() / 2);
    // Already due (a slow upstream): no timer, which tokio would round up to the next ms.
    if release <= now {
        return !ticket.is_spent_elsewhere();
    }
    tokio::select! {
        () = tokio::time::sleep_until(release.into()) => true,
        () = state.releasing.cancelled() => true,
        () = ticket.spent_elsewhere() => false,
    }
}

/// Fixed-class mode met a chat body it cannot cap: nothing went upstream, a full refund.
async fn malformed_body(state: &NodeState, ticket: Ticket) -> Response {
    let settlement = match ticket.settle(0).await {
        Ok(settlement) => settlement,
        Err(rejection) => return reject(state, &rejection),
    };
    settled_error(
        StatusCode::BAD_REQUEST,
        codes::MALFORMED_BODY,
        "this provider charges one fixed class and forwards only a chat body that is a JSON object; the request is settled with a full refund",
        &settlement,
    )
}

async fn serve(
    state: Arc<NodeState>,
    ticket: Ticket,
    call: UpstreamCall,
    slot: PaidSlot,
) -> Response {
    let UpstreamCall { method, path, content_type, body, route, arrived } = call;
    let streaming = route == Route::Chat && wants_stream(&body);
    let body = match route {
        Route::Chat => match state.pricing.chat_body(body) {
            Some(body) => body,
            None => return malformed_body(&state, ticket).await,
        },
        Route::Proxy(_) => body,
    };
    // `p2p.gossip_hold_ms`: the share went out at admission; a conflicting share that
    // arrives meanwhile stops the request before the upstream does any work (spec/07).
    // No hold, no timer: tokio rounds a deadline up to the next millisecond, so even a zero
    // sleep would add up to a millisecond to every request.
    let hold = state.gossip().map_or(std::time::Duration::ZERO, |g| g.serve_hold());
    let held = if hold.is_zero() {
        !ticket.is_spent_elsewhere()
    } else {
        tokio::select! {
            () = tokio::time::sleep(hold) => true,
            () = ticket.spent_elsewhere() => false,
        }
    };
    if !held {
        return spent_elsewhere(&state, ticket).await;
    }
    let sent = tokio::select! {
        sent = state.upstream.send(method, &path, content_type, body, streaming) => Some(sent),
        () = ticket.spent_elsewhere() => None,
    };
    let response = match sent {
        None => return spent_elsewhere(&state, ticket).await,
        Some(Ok(response)) => response,
        Some(Err(e)) => {
            let unreached = e.is_connect();
            return upstream_failed(&state, ticket, unreached, &e.without_url()).await;
        }
    };
    let status = response.status();
    let content_type = response.headers().get(reqwest::header::CONTENT_TYPE).cloned();
    if streaming && status.is_success() {
        return stream(state, ticket, status, response, slot, arrived).await;
    }
    let read = tokio::select! {
        read = read_response(response, state.limits.max_response_bytes) => Some(read),
        () = ticket.spent_elsewhere() => None,
    };
    let bytes = match read {
        None => return spent_elsewhere(&state, ticket).await,
        Some(Ok(bytes)) => bytes,
        Some(Err(reason)) => return upstream_failed(&state, ticket, false, &reason).await,
    };
    let price = route.price(&state.pricing);
    let charge = if status.is_success() {
        let usage =
            serde_json::from_slice(&bytes).ok().and_then(|v: Value| Usage::from_response(&v));
        state.pricing.charge_route(price, usage)
    } else {
        state.pricing.flat_charge(price)
    };
    if state.mitigations.holds() {
        // Owed before the hold: a node that stops meanwhile charges it on recovery.
        if let Err(rejection) = ticket.owe(charge).await {
            return reject(&state, &rejection);
        }
        if !hold_answer(&state, &ticket, arrived).await {
            return spent_elsewhere(&state, ticket).await;
        }
    }
    let settlement = match ticket.settle(charge).await {
        Ok(settlement) => settlement,
        Err(rejection) => return reject(&state, &rejection),
    };
    state.metrics.served();
    let bytes =
        state.mitigations.pad_answer(content_type.as_ref().and_then(|t| t.to_str().ok()), bytes);
    let mut out = Response::builder().status(status);
    if let Some(content_type) = content_type {
        out = out.header(header::CONTENT_TYPE, content_type);
    }
    // The slot goes with the body: a client that does not read cannot pile up answers.
    out = out.header(header::CONTENT_LENGTH, bytes.len());
    let body = futures::stream::unfold((Some(bytes), slot), |(bytes, slot)| async move {
        bytes.map(|bytes| (Ok::<_, Infallible>(bytes), (None, slot)))
    });
    out.header(SETTLEMENT_HEADER, settlement_header(&settlement))
        .body(Body::from_stream(body))
        .unwrap_or_else(|_| reject(&state, &Rejection::Internal))
}

/// The ticket was spent at another node while this one served it: serving stops, the ticket
/// is settled at `C_MAX` (a double spender gets no refund; its deposit is being slashed) and
/// the request is refused.
async fn spent_elsewhere(state: &NodeState, ticket: Ticket) -> Response {
    tracing::warn!("a ticket being served was spent at another node; serving stopped");
    if let Err(rejection) = ticket.settle(state.deployed.c_max).await {
        return reject(state, &rejection);
    }
    reject(state, &Rejection::DoubleSpend)
}

/// A plain upstream answer, at most `limit` bytes; why not otherwise.
async fn read_response(response: reqwest::Response, limit: usize) -> Result<Bytes, String> {
    let mut chunks = response.bytes_stream();
    let mut bytes = Vec::new();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|e| e.without_url().to_string())?;
        if bytes.len() + chunk.len() > limit {
            return Err(format!("the answer exceeds limits.max_response_bytes ({limit})"));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(bytes))
}

/// The upstream failed. Never reached (a connection refused or timed out): a full refund.
/// Reached, then silent too long, broken off or too large: the upstream may have done (and
/// billed) the work, so `C_MAX`; otherwise a request that never finishes would be free compute.
async fn upstream_failed(
    state: &NodeState,
    ticket: Ticket,
    unreached: bool,
    error: &(dyn std::fmt::Display + Sync),
) -> Response {
    state.metrics.upstream_failed();
    // The error carries no URL: the client's path and query are not for the logs.
    tracing::warn!("upstream failed: {error}");
    let charge = if unreached { 0 } else { state.deployed.c_max };
    let settlement = match ticket.settle(charge).await {
        Ok(settlement) => settlement,
        Err(rejection) => return reject(state, &rejection),
    };
    settled_error(
        StatusCode::BAD_GATEWAY,
        codes::UPSTREAM_FAILED,
        if unreached {
            "the upstream API could not be reached; the request is settled with a full refund"
        } else {
            "the upstream API took the request, then failed, fell silent or answered too much; it is charged C_MAX"
        },
        &settlement,
    )
}

/// Chunks a stream's client may fall behind by before the relay waits for it.
const RELAY_BUFFER: usize = 64;
/// How long, in all, the relay waits for a client that fell behind before dropping it (the
/// upstream is not read meanwhile; its own buffers hold what it sends). At most half the
/// upstream's silence limit, so waiting never makes the upstream look silent.
const CLIENT_STALL: std::time::Duration = std::time::Duration::from_secs(2);
/// How long the relay waits for a lagging client to take the settlement event.
const SETTLEMENT_EVENT_WAIT: std::time::Duration = std::time::Duration::from_secs(5);
/// How long it waits for the settlement event and the padding after it (`privacy.pad_bytes`).
const PADDED_TAIL_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// The relay's side of a stream's client, dropped once it hangs up or stalls too long.
struct StreamClient {
    sender: Option<tokio::sync::mpsc::Sender<Bytes>>,
    stall_budget: std::time::Duration,
}

impl StreamClient {
    async fn deliver(&mut self, chunk: Bytes) {
        let Some(sender) = &self.sender else { return };
        let delivered = match sender.try_send(chunk) {
            Ok(()) => true,
            Err(TrySendError::Full(chunk)) => {
                let waited = std::time::Instant::now();
                let sent = tokio::time::timeout(self.stall_budget, sender.send(chunk))
                    .await
                    .is_ok_and(|sent| sent.is_ok());
                self.stall_budget = self.stall_budget.saturating_sub(waited.elapsed());
                sent
            }
            Err(TrySendError::Closed(_)) => false,
        };
        if !delivered {
            tracing::info!("stream client stopped reading; metering goes on");
            self.sender = None;
        }
    }
}

/// Relays an event stream, then sends the settlement as a last event. The relay runs on its
/// own and does not wait on the client for long: a client [`RELAY_BUFFER`] chunks behind that
/// takes nothing for [`CLIENT_STALL`] is dropped, and the upstream is still read to its end,
/// metered and settled (the client fetches the settlement from `/v1/settlements`).
/// Until it settles, the ticket owes `C_MAX` (recorded before the first byte is relayed): a
/// node that stops mid-stream charges it on recovery, as a stream broken after its first byte
/// costs (spec/05). With `privacy.pad_bytes`, what the client gets is cut into whole frames,
/// the last one padded ([`crate::privacy::Framer`]).
async fn stream(
    state: Arc<NodeState>,
    ticket: Ticket,
    status: StatusCode,
    response: reqwest::Response,
    slot: PaidSlot,
    arrived: std::time::Instant,
) -> Response {
    if let Err(rejection) = ticket.owe(state.deployed.c_max).await {
        return reject(&state, &rejection);
    }
    let (sender, receiver) = tokio::sync::mpsc::channel::<Bytes>(RELAY_BUFFER);
    let relay_state = Arc::clone(&state);
    let mut client = StreamClient {
        sender: Some(sender),
        stall_budget: CLIENT_STALL.min(state.upstream.silence() / 2),
    };
    let mut framer = state.mitigations.framer();
    state.tasks.spawn(async move {
        // The slot is held until the relay ends: streams count against max_paid_in_flight.
        let _slot = slot;
        let mut usage = SseUsage::default();
        let mut chunks = response.bytes_stream();
        let mut received = false;
        let mut complete = true;
        let mut spent_twice = false;
        // The stream's last two bytes: the settlement event must start on a fresh event.
        let mut last_two = [0u8; 2];
        loop {
            let next = tokio::select! {
                next = chunks.next() => next,
                () = ticket.spent_elsewhere() => {
                    // Spent at another node too: the relay stops here (spec/07).
                    tracing::warn!("a ticket being streamed was spent at another node; relay stopped");
                    spent_twice = true;
                    break;
                }
            };
            let Some(chunk) = next else { break };
            match chunk {
                Ok(chunk) => {
                    if chunk.is_empty() {
                        continue;
                    }
                    usage.feed(&chunk);
                    last_two = match chunk.len() {
                        1 => [last_two[1], chunk[0]],
                        n => [chunk[n - 2], chunk[n - 1]],
                    };
                    // The first byte is held like a plain answer (privacy.min_latency_ms).
                    if !received && !hold_answer(&relay_state, &ticket, arrived).await {
                        spent_twice = true;
                        break;
                    }
                    received = true;
                    for frame in framer.push(chunk) {
                        client.deliver(frame).await;
                    }
                }
                Err(e) => {
                    tracing::warn!("upstream stream broke off: {e}");
                    complete = false;
                    break;
                }
            }
        }
        // Once the upstream sent anything, the provider pays for it: the last usage it
        // reported, or C_MAX. Only a stream that broke before its first byte costs nothing.
        let charge = if spent_twice {
            relay_state.deployed.c_max
        } else if complete || received {
            relay_state.pricing.charge(usage.usage)
        } else {
            0
        };
        if spent_twice {
            let _ = ticket.settle(charge).await;
            relay_state.metrics.rejected(Rejection::DoubleSpend.reason());
            return;
        }
        let mut tail = Vec::new();
        if let Ok(settlement) = ticket.settle(charge).await {
            relay_state.metrics.served();
            // The last event may be unended, or cut mid-line after a break: end it first.
            let end = match last_two {
                _ if !received => "",
                [b'\n', b'\n'] => "",
                [_, b'\n'] => "\n",
                _ => "\n\n",
            };
            let event =
                format!("{end}event: {SETTLEMENT_EVENT}\ndata: {}\n\n", settlement.to_json());
            tail = framer.push(Bytes::from(event));
        }
        let padded = framer.pads();
        let tail = tail.into_iter().chain(framer.finish());
        if let Some(sender) = client.sender {
            // Padding may be as long as the stream: it gets its own, longer wait.
            let wait = if padded { PADDED_TAIL_WAIT } else { SETTLEMENT_EVENT_WAIT };
            let _ = tokio::time::timeout(wait, async {
                for frame in tail {
                    if sender.send(frame).await.is_err() {
                        break;
                    }
                }
            })
            .await;
        }
    });
    let body = futures::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|chunk| (Ok::<_, Infallible>(chunk), receiver))
    });
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(body))
        .unwrap_or_else(|_| reject(&state, &Rejection::Internal))
}

async fn settlement(
    State(state): State<Arc<NodeState>>,
    client: ClientAddr,
    Path(nullifier): Path<String>,
) -> Response {
    // Each lookup is a storage read: it draws on the address's allowance like a paid request.
    if !state.throttle.try_take(client.0.ip(), 1) {
        return reject(&state, &Rejection::RateLimited);
    }
    let Ok(nullifier) = fr_from_dec(&nullifier) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(error_body(
                codes::MALFORMED_NULLIFIER,
                "the nullifier must be a canonical decimal field element",
            )),
        )
            .into_response();
    };
    match state.stored_settlement(&nullifier).await {
        Ok(Some(settlement)) => Json(settlement.to_json()).into_response(),
        Ok(None) => (
            StatusCode::NOT_FOUND,
            Json(error_body(
                codes::UNKNOWN_NULLIFIER,
                "this node took no ticket with this nullifier",
            )),
        )
            .into_response(),
        Err(rejection) => {
            (rejection.status(), Json(error_body(rejection.reason(), &rejection.to_string())))
                .into_response()
        }
    }
}

/// `provider`, or `passive_slasher` for a node that watches the share network and takes no
/// payments.
fn role(state: &NodeState) -> &'static str {
    if state.passive { "passive_slasher" } else { "provider" }
}

async fn info(State(state): State<Arc<NodeState>>) -> Json<Value> {
    // A passive slasher takes no payments: it describes none.
    let payment = if state.passive { Value::Null } else { payment_description(&state) };
    Json(json!({
        "node": { "name": "zkcredits", "version": env!("CARGO_PKG_VERSION"), "role": role(&state) },
        "payment": payment,
    }))
}

async fn metrics(State(state): State<Arc<NodeState>>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
        state.metrics.encode(),
    )
        .into_response()
}

/// `ok`, or why the node cannot take payments (503): `no_verifier` when no verification
/// thread runs, `not_in_signer_set` when the escrow's signer set is not one the node is
/// configured with, `stale` for an old view of the chain.
async fn healthz(State(state): State<Arc<NodeState>>) -> Response {
    let roots = state.roots.read().unwrap_or_else(std::sync::PoisonError::into_inner).len();
    let block = state.store.cursor().ok().flatten().map(|c| c.number);
    let age = state.chain_age_secs();
    let in_set = state.active_signers().is_some();
    let fresh = age <= state.limits.max_chain_lag_secs;
    let verifiers = state.pool.live_workers();
    let status = if verifiers == 0 {
        "no_verifier"
    } else if !in_set {
        Rejection::NotInSignerSet.reason()
    } else if !fresh {
        "stale"
    } else {
        "ok"
    };
    let body = json!({
        "status": status,
        "role": role(&state),
        "verifyWorkers": verifiers,
        "chainBlock": block,
        "chainSyncedSecsAgo": age,
        "acceptedRoots": roots,
    });
    let code = if status == "ok" { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, Json(body)).into_response()
}
