//! Paid throughput under junk: the same number of paid requests through one node, first alone,
//! then while junk arrives at the rate the paid requests were served alone (a junk load equal
//! to the paid load), with the node's default limits. Real
//! anvil, escrow, request proofs and RocksDB; a local upstream that answers at once.
//!
//! Paid clients and junk senders each have their own loopback address (127.0.1.k and
//! 127.0.2.k): the junk comes from many addresses, as a botnet's would, so the per-address
//! allowance does not simply shut it out. Each junk sender cycles through: a random envelope,
//! a valid envelope whose proof does not verify (it passes every cheap check and costs a
//! verification), a proof whose points do not decode, a 1.5 MiB body, and a connection that
//! sends half its headers and stalls.
//!
//! Run: `cargo bench -p zkcredits-node --bench load` (or `make bench-load`). Environment:
//! `ZKCREDITS_LOAD_REQUESTS` paid requests per phase (default 256), `ZKCREDITS_LOAD_CONCURRENCY`
//! paid requests in flight and junk senders (default 16). Proofs are made once and kept
//! (`common::fixed`).

#[path = "../tests/common/mod.rs"]
mod common;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use futures::StreamExt;
use std::{
    collections::BTreeMap,
    net::{IpAddr, Ipv4Addr},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};
use zkcredits_node::envelope::PaymentEnvelope;

use common::fixed::{ms, percentile};

const CHAT: &str = "/v1/chat/completions";

fn body(i: usize) -> Vec<u8> {
    format!(r#"{{"model":"m","messages":[{{"role":"user","content":"load {i}"}}]}}"#).into_bytes()
}

fn main() {
    common::fixed::bench_main(run);
}

/// One HTTP client per loopback address `a.b.c.(1..=n)`.
fn clients(prefix: [u8; 3], n: usize) -> Vec<reqwest::Client> {
    (1..=n)
        .map(|k| {
            let [a, b, c] = prefix;
            let address = IpAddr::V4(Ipv4Addr::new(a, b, c, u8::try_from(k).expect("≤ 255")));
            reqwest::Client::builder().local_address(address).build().expect("client")
        })
        .collect()
}

async fn run() {
    let per_phase = common::fixed::env_usize("ZKCREDITS_LOAD_REQUESTS", 256);
    let concurrency = common::fixed::env_usize("ZKCREDITS_LOAD_CONCURRENCY", 16).clamp(1, 250);
    let h = common::harness(common::fixed::fixed_time_config).await;
    let users = common::fixed::users_at_fixed_times(&h, 2 * per_phase + 1).await;
    let envelopes = common::fixed::cached_envelopes(&h, &users, CHAT, body);
    let paid_clients = clients([127, 0, 1], concurrency);
    let junk_clients = clients([127, 0, 2], concurrency);
    let base = h.node.url();

    let clean = drive(&paid_clients, &base, &envelopes, 0..per_phase, concurrency).await;

    let junk_envelope = &envelopes[2 * per_phase];
    let junk_body = bytes::Bytes::from(body(2 * per_phase));
    let oversized = bytes::Bytes::from(vec![b' '; 3 << 19]);
    // Each sender paces itself so that, together, they send junk at the clean paid rate.
    let every = Duration::from_secs_f64(concurrency as f64 / clean.rate);
    let stop = Arc::new(AtomicBool::new(false));
    let answers = Arc::new(Mutex::new(BTreeMap::<String, usize>::new()));
    let junk: Vec<_> = junk_clients
        .into_iter()
        .enumerate()
        .map(|(k, client)| {
            let sender = Arc::new(JunkSender {
                client,
                local: IpAddr::V4(Ipv4Addr::new(127, 0, 2, u8::try_from(k + 1).expect("≤ 255"))),
                address: h.node.local_addr(),
                url: format!("{base}{CHAT}"),
                kinds: junk_kinds(junk_envelope, k),
                body: junk_body.clone(),
                oversized: oversized.clone(),
                sent: std::sync::atomic::AtomicUsize::new(0),
            });
            let task = tokio::spawn(Arc::clone(&sender).run(
                every,
                Arc::clone(&stop),
                Arc::clone(&answers),
            ));
            (sender, task)
        })
        .collect();
    let junk_started = Instant::now();
    let under_junk =
        drive(&paid_clients, &base, &envelopes, per_phase..2 * per_phase, concurrency).await;
    let junk_seconds = junk_started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let mut sent = 0;
    for (sender, task) in junk {
        task.await.expect("junk sender");
        sent += sender.sent.load(Ordering::Relaxed);
    }

    println!(
        "paid throughput under junk: {per_phase} paid requests per phase, {concurrency} in flight, \
         {concurrency} junk senders, 2 cores, default limits"
    );
    println!("| phase | paid req/s | p50 | p99 |");
    println!("| --- | --- | --- | --- |");
    for (name, phase) in [("alone", &clean), ("under junk", &under_junk)] {
        println!(
            "| {name} | {:.0} | {:.2} ms | {:.2} ms |",
            phase.rate,
            ms(percentile(&phase.latencies, 0.5)),
            ms(percentile(&phase.latencies, 0.99))
        );
    }
    let answers = answers.lock().expect("answers").clone();
    println!(
        "junk sent meanwhile: {sent}, {:.0} per second; answered before the end: {answers:?}",
        sent as f64 / junk_seconds
    );
    let ratio = under_junk.rate / clean.rate;
    println!(
        "paid throughput under junk: {:.0} % of alone (goal ≥ 80 %: {})",
        ratio * 100.0,
        if ratio >= 0.8 { "met" } else { "NOT met" }
    );
    assert_eq!(h.upstream.calls.all().len(), 2 * per_phase, "every paid request served, no junk");
    h.node.shutdown().await.expect("shutdown");
}

struct Phase {
    rate: f64,
    latencies: Vec<Duration>,
}

/// Sends the paid requests `range` with `concurrency` in flight, request `i` from client
/// `i mod n`; every one must be served.
async fn drive(
    clients: &[reqwest::Client],
    base: &str,
    envelopes: &[String],
    range: std::ops::Range<usize>,
    concurrency: usize,
) -> Phase {
    let count = range.len();
    let started = Instant::now();
    let mut latencies: Vec<Duration> = futures::stream::iter(range)
        .map(|i| {
            let request = clients[i % clients.len()]
                .post(format!("{base}{CHAT}"))
                .header("content-type", "application/json")
                .header("zkcredits-payment", envelopes[i].clone())
                .body(body(i));
            async move {
                let started = Instant::now();
                let response = request.send().await.expect("answer");
                let status = response.status();
                let _ = response.bytes().await.expect("body");
                assert!(status.is_success(), "paid request {i}: {status}");
                started.elapsed()
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let rate = count as f64 / started.elapsed().as_secs_f64();
    latencies.sort();
    Phase { rate, latencies }
}

/// What one junk request carries.
enum Junk {
    /// A payment header (and the junk body).
    Header(String),
    /// A body over `limits.max_body_bytes`.
    Oversized,
    /// Half a request's headers on a raw connection, then silence.
    Stall,
}

/// The junk sender `k` cycles through, starting at its own offset.
fn junk_kinds(valid: &str, k: usize) -> Vec<Junk> {
    let mut invalid = PaymentEnvelope::decode(valid.as_bytes(), 4096).expect("envelope");
    invalid.statement.y += zkcredits_primitives::Fr::from(1u64 + k as u64);
    let mut raw: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(valid).expect("base64")).expect("JSON");
    raw["proof"] = serde_json::Value::String(format!("0x{}", "ff".repeat(128)));
    let random = URL_SAFE_NO_PAD.encode(format!("{{\"v\":1,\"junk\":{k}}}"));
    let mut kinds = vec![
        Junk::Header(random),
        Junk::Header(invalid.encode()),
        Junk::Header(URL_SAFE_NO_PAD.encode(raw.to_string())),
        Junk::Oversized,
        Junk::Stall,
    ];
    kinds.rotate_left(k % 5);
    kinds
}

struct JunkSender {
    client: reqwest::Client,
    /// The sender's own address, for its raw connections too.
    local: IpAddr,
    address: std::net::SocketAddr,
    url: String,
    kinds: Vec<Junk>,
    body: bytes::Bytes,
    /// A body over `limits.max_body_bytes`, made once (the generator's own cost is the node's
    /// loss here: they share the cores).
    oversized: bytes::Bytes,
    /// Junk requests sent (answered or not).
    sent: std::sync::atomic::AtomicUsize,
}

impl JunkSender {
    /// Sends one junk request every `every` until `stop`, each in its own task (open loop: the
    /// node's answers do not slow the junk down), and counts the answers.
    async fn run(
        self: Arc<Self>,
        every: Duration,
        stop: Arc<AtomicBool>,
        answers: Arc<Mutex<BTreeMap<String, usize>>>,
    ) {
        let mut pace = tokio::time::interval(every);
        // A late tick is made up for: the junk rate holds even when the machine is busy.
        pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let mut sent = tokio::task::JoinSet::new();
        for kind in 0..usize::MAX {
            pace.tick().await;
            if stop.load(Ordering::Relaxed) {
                break;
            }
            self.sent.fetch_add(1, Ordering::Relaxed);
            let (sender, answers) = (Arc::clone(&self), Arc::clone(&answers));
            sent.spawn(async move {
                let answer = sender.send(&sender.kinds[kind % sender.kinds.len()]).await;
                *answers.lock().expect("answers").entry(answer).or_default() += 1;
            });
        }
        sent.abort_all();
        while sent.join_next().await.is_some() {}
    }

    async fn send(&self, kind: &Junk) -> String {
        match kind {
            Junk::Header(header) => {
                self.answer(
                    self.client
                        .post(&self.url)
                        .header("content-type", "application/json")
                        .header("zkcredits-payment", header)
                        .body(self.body.clone()),
                )
                .await
            }
            Junk::Oversized => {
                self.answer(self.client.post(&self.url).body(self.oversized.clone())).await
            }
            Junk::Stall => {
                // Held until the node cuts it (or two seconds pass).
                if let Some(stream) = self.stall().await {
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    drop(stream);
                }
                "stalled connection".to_owned()
            }
        }
    }

    /// A connection from the sender's address that sends half a request's headers.
    async fn stall(&self) -> Option<tokio::net::TcpStream> {
        let socket = tokio::net::TcpSocket::new_v4().ok()?;
        socket.bind(std::net::SocketAddr::new(self.local, 0)).ok()?;
        let stream = socket.connect(self.address).await.ok()?;
        stream.writable().await.ok()?;
        stream.try_write(b"POST /v1/chat/completions HTTP/1.1\r\nHost: n\r\n").ok()?;
        Some(stream)
    }

    async fn answer(&self, request: reqwest::RequestBuilder) -> String {
        match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let body: serde_json::Value = response.json().await.unwrap_or_default();
                format!("{status} {}", body["error"]["code"].as_str().unwrap_or(""))
            }
            Err(_) => "connection refused or cut".to_owned(),
        }
    }
}
