//! Bounded resources against a real node (anvil, escrow, request proofs, RocksDB): slow and
//! idle connections are cut and capped, unpaid bodies are never read, a body that does not
//! arrive times out, junk proofs cost their sender and not the paying clients, a crash in the
//! middle of a stream charges what the stream owes, and shutdown drains requests in flight.

mod common;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use common::{Harness, harness, settlement_of};
use serde_json::Value;
use std::{
    io::{Read, Write},
    net::{IpAddr, SocketAddr, TcpStream},
    time::Duration,
};
use zkcredits_node::settlement::Settlement;
use zkcredits_primitives::field::fr_to_dec;
use zkcredits_storage::{ShareOrigin, StoredShare};

const CHAT: &str = "/v1/chat/completions";

/// Sends `bytes` on a new connection and returns it.
fn connect(address: SocketAddr, bytes: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(address).expect("connects");
    stream.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    // A connection over the cap may be closed before the bytes are written.
    let _ = stream.write_all(bytes);
    stream
}

/// Everything the server sends until it closes the connection; panics when it is still open
/// after 5 s.
fn read_to_close(mut stream: TcpStream) -> String {
    let mut out = Vec::new();
    if let Err(e) = stream.read_to_end(&mut out) {
        let open =
            matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut);
        assert!(!open, "the server left the connection open: {e}");
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(work).await.expect("blocking task")
}

async fn code(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("JSON body");
    (status, body["error"]["code"].as_str().unwrap_or_default().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_idle_and_unpaid_connections_are_bounded_while_paid_requests_are_served() {
    let h = harness(|c| {
        c.limits.max_connections_per_ip = 4;
        c.limits.header_read_timeout_secs = 1;
        c.limits.body_read_timeout_secs = 1;
    })
    .await;
    let address = h.node.local_addr();
    let user = h.deposit(71, u128::from(h.c_max()) * 10).await;
    let body = br#"{"messages":[{"content":"paid"}]}"#;
    let paid = user.pay(&h, CHAT, body);

    // Four slow-loris connections fill this address's share; a fifth is closed unanswered.
    let slow: Vec<_> = (0..4)
        .map(|_| connect(address, b"POST /v1/chat/completions HTTP/1.1\r\nHost: node\r\n"))
        .collect();
    let refused = blocking(move || {
        read_to_close(connect(address, b"GET /healthz HTTP/1.1\r\nHost: node\r\n\r\n"))
    })
    .await;
    assert_eq!(refused, "", "a connection over the cap is closed before anything is read");
    // Each slow connection is closed by the server at the header deadline, unserved.
    let cut = blocking(move || slow.into_iter().map(read_to_close).collect::<Vec<_>>()).await;
    assert!(cut.iter().all(|answer| !answer.contains("HTTP/1.1 200")), "{cut:?}");

    // An unpaid request is answered from its headers; its announced megabyte is never read.
    let unpaid = blocking(move || {
        read_to_close(connect(
            address,
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: node\r\nContent-Length: 1000000\r\n\r\n",
        ))
    })
    .await;
    assert!(unpaid.starts_with("HTTP/1.1 402"), "{unpaid}");
    assert!(unpaid.contains("payment_required"), "{unpaid}");

    // A valid payment whose body never arrives is dropped at the body deadline, storing nothing.
    let header = paid.envelope.encode();
    let stalled = blocking(move || {
        let head = format!(
            "POST /v1/chat/completions HTTP/1.1\r\nHost: node\r\nContent-Length: 100\r\n\
             zkcredits-payment: {header}\r\n\r\n{{\"messages\""
        );
        read_to_close(connect(address, head.as_bytes()))
    })
    .await;
    assert!(stalled.starts_with("HTTP/1.1 408"), "{stalled}");
    assert!(stalled.contains("body_incomplete"), "{stalled}");

    // After all that, the paid request is served.
    let response = h.send(CHAT, body, Some(&paid.envelope)).await;
    assert_eq!(response.status(), 200);
    let metrics = h.http.get(h.url("/metrics")).send().await.expect("metrics");
    let metrics = metrics.text().await.expect("text");
    assert!(
        metrics
            .contains(r#"zkcredits_connections_refused_total{reason="max_connections_per_ip"} 1"#),
        "{metrics}"
    );
    h.node.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junk_proofs_are_decoded_last_and_cost_their_sender_not_the_paying_clients() {
    let h = harness(|c| {
        c.limits.requests_per_ip_per_sec = 1;
        c.limits.requests_per_ip_burst = 20;
        c.limits.invalid_proof_penalty = 10;
    })
    .await;
    let alice = h.deposit(72, u128::from(h.c_max()) * 10).await;
    let bob = h.deposit(73, u128::from(h.c_max()) * 10).await;
    let body = br#"{"messages":[{"content":"junk"}]}"#;
    let junk = alice.pay(&h, CHAT, body);
    let genuine_body = br#"{"messages":[{"content":"genuine"}]}"#;
    let genuine = bob.pay(&h, CHAT, genuine_body);

    // The junk sender is another address of the loopback network.
    let attacker = reqwest::Client::builder()
        .local_address("127.0.0.2".parse::<IpAddr>().expect("address"))
        .build()
        .expect("client");
    let send = |header: String| {
        attacker
            .post(h.url(CHAT))
            .header("content-type", "application/json")
            .header("zkcredits-payment", header)
            .body(body.to_vec())
            .send()
    };
    // A proof whose points do not decode: refused after the cheap checks, which come first.
    let mut raw: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(junk.envelope.encode()).expect("b64"))
            .expect("JSON");
    raw["proof"] = Value::String(format!("0x{}", "ff".repeat(128)));
    let undecodable = URL_SAFE_NO_PAD.encode(raw.to_string());
    let mut wrong_scope = raw.clone();
    wrong_scope["scope"] = Value::String("1".into());
    let response = send(URL_SAFE_NO_PAD.encode(wrong_scope.to_string())).await.expect("answer");
    assert_eq!(code(response).await, (400, "wrong_scope".into()));
    let response = send(undecodable.clone()).await.expect("answer");
    assert_eq!(code(response).await, (400, "malformed_proof".into()));

    // Proofs that do not verify: each costs its sender ten requests of allowance, so the
    // sender is throttled after a couple, long before the burst of 20 is spent.
    let mut invalid = junk.envelope.clone();
    invalid.statement.y += zkcredits_primitives::Fr::from(1u64);
    let mut codes = Vec::new();
    for _ in 0..4 {
        codes.push(code(send(invalid.encode()).await.expect("answer")).await);
    }
    assert_eq!(codes[0], (400, "invalid_proof".into()));
    assert_eq!(codes[3], (429, "rate_limited".into()), "{codes:?}");

    // The paying client at another address is served meanwhile.
    let response = h.send(CHAT, genuine_body, Some(&genuine.envelope)).await;
    assert_eq!(response.status(), 200);
    assert!(h.upstream.calls.count(body) == 0, "no junk reached the upstream");
    h.node.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_spends_of_one_ticket_are_told_apart_exactly_once_and_never_both_served() {
    let h = harness(|_| {}).await;
    let user = h.deposit(77, u128::from(h.c_max()) * 10).await;
    // The same ticket (the genesis state) on two requests, sent at once, several rounds.
    let bodies: Vec<Vec<u8>> = (0..2)
        .map(|i| format!(r#"{{"messages":[{{"content":"spend {i}"}}]}}"#).into_bytes())
        .collect();
    let paid: Vec<_> = bodies.iter().map(|b| user.pay(&h, CHAT, b)).collect();
    assert_eq!(paid[0].envelope.statement.nullifier, paid[1].envelope.statement.nullifier);
    let (first, second) = tokio::join!(
        h.send(CHAT, &bodies[0], Some(&paid[0].envelope)),
        h.send(CHAT, &bodies[1], Some(&paid[1].envelope)),
    );
    let mut outcomes = vec![code_or_ok(first).await, code_or_ok(second).await];
    outcomes.sort();
    // The later one is refused; the earlier is served, or stopped if it was still being served
    // when the later one revealed the double spend (spec/07): never both served.
    assert_eq!(outcomes[1], (403, "double_spend".into()), "{outcomes:?}");
    assert!(
        outcomes[0] == (200, String::new()) || outcomes[0] == (403, "double_spend".into()),
        "{outcomes:?}"
    );
    assert!(
        bodies.iter().map(|b| h.upstream.calls.count(b)).sum::<usize>() <= 1,
        "never served twice"
    );
    let slashes = h.node.store().slashes().expect("slashes");
    assert_eq!(slashes.len(), 1);
    assert_eq!(slashes[0].identity, user.secret.commitment());
    h.node.shutdown().await.expect("clean shutdown");
}

/// `(200, "")` for a served request, else the status and the error code.
async fn code_or_ok(response: reqwest::Response) -> (u16, String) {
    if response.status() == 200 { (200, String::new()) } else { code(response).await }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_owes_c_max_until_it_settles_and_shutdown_drains_requests_in_flight() {
    let h = harness(|_| {}).await;
    let c_max = h.c_max();
    let user = h.deposit(74, u128::from(c_max) * 10).await;

    // While the stream runs, the ticket owes C_MAX: a crash now settles it at that on recovery.
    let stream_body = br#"{"stream":true,"stream_options":{"include_usage":true},"chunks":8,"chunk_delay_ms":250,"messages":[]}"#;
    let paid = user.pay(&h, CHAT, stream_body);
    let nullifier = paid.envelope.statement.nullifier;
    let response = h.send(CHAT, stream_body, Some(&paid.envelope)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(h.node.store().owed_charge(&nullifier).expect("store"), Some(c_max));
    let text = response.text().await.expect("stream");
    assert!(text.contains("zkcredits.settlement"), "{text}");
    assert_eq!(h.node.store().owed_charge(&nullifier).expect("store"), None, "settled");

    // What recovery makes of a ticket left owing (the node stopped mid-stream): C_MAX.
    let owing = h.deposit(76, u128::from(c_max) * 10).await;
    let other = owing.pay(&h, CHAT, br#"{"messages":[{"content":"left owing"}]}"#);
    let left = other.envelope.statement;
    h.node
        .store()
        .record_share(&StoredShare {
            share: zkcredits_primitives::rln::Share {
                nullifier: left.nullifier,
                x: left.x,
                y: left.y,
            },
            received_at: 1,
            origin: ShareOrigin::Request { commitment: left.anon },
        })
        .expect("share");
    h.node.store().put_owed_charge(&left.nullifier, c_max).expect("owed");
    let url = h.url(&format!("/v1/settlements/{}", fr_to_dec(&left.nullifier)));
    let recovered = h.http.get(url).send().await.expect("answer");
    let recovered: Value = recovered.json().await.expect("JSON");
    let recovered = Settlement::from_json(&recovered).expect("settlement");
    assert_eq!((recovered.charge, recovered.refund), (c_max, 0));

    // Shutdown waits for a request in flight, which is served and settled.
    let slow = br#"{"sleep_ms":1500,"messages":[]}"#;
    let user = h.deposit(75, u128::from(c_max) * 10).await;
    let paid = user.pay(&h, CHAT, slow);
    let Harness { node, http, .. } = h;
    let request = http
        .post(format!("{}{CHAT}", node.url()))
        .header("content-type", "application/json")
        .header("zkcredits-payment", paid.envelope.encode())
        .body(slow.to_vec())
        .send();
    let (response, stopped) = tokio::join!(request, async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        node.shutdown().await
    });
    stopped.expect("clean shutdown");
    let response = response.expect("answered before the node stopped");
    assert_eq!(response.status(), 200);
    let _ = settlement_of(&response);
}
