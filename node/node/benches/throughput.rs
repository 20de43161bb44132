//! Requests per second through one node, and the latency it adds, with a local upstream that
//! answers at once. Real anvil, real escrow, real request proofs, RocksDB.
//!
//! Run: `cargo bench -p zkcredits-node --bench throughput` (or `make bench-node`).
//! Environment: `ZKCREDITS_BENCH_REQUESTS` (default 2000), split evenly over the phases of
//! `ZKCREDITS_BENCH_CONCURRENCY` (default `32,4,1`: saturating, moderate, one at a time).
//!
//! Every request spends a distinct genesis ticket, so each needs its own proof (about 0.8 s on
//! one core). The deposits are made at fixed block times and the proofs use `now = 0` under a
//! 2^32 s time bucket, so the same proofs stay valid on every run: they are made once and kept
//! in `~/.cache/zkcredits/bench/`.

#[path = "../tests/common/mod.rs"]
mod common;

use alloy::providers::Provider;
use sha2::{Digest, Sha256};
use std::{
    path::PathBuf,
    time::{Duration, Instant},
};
use zkcredits_node::envelope::PaymentEnvelope;
use zkcredits_primitives::field::fr_to_dec;

const CHAT: &str = "/v1/chat/completions";
/// Deposits happen at these block times, so leaves and roots are the same on every run.
const FIRST_DEPOSIT_TIME: u64 = 2_000_000_000;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn body(i: usize) -> Vec<u8> {
    format!(r#"{{"model":"m","messages":[{{"role":"user","content":"bench {i}"}}]}}"#).into_bytes()
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing we act on.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run());
}

async fn run() {
    let requests = env_usize("ZKCREDITS_BENCH_REQUESTS", 2_000);
    let phases: Vec<usize> = std::env::var("ZKCREDITS_BENCH_CONCURRENCY")
        .unwrap_or_else(|_| "32,4,1".into())
        .split(',')
        .filter_map(|c| c.trim().parse().ok())
        .collect();
    let h = common::harness(|c| {
        c.limits.time_bucket_secs = 1 << 32;
        c.chain.poll_interval_ms = 60_000;
    })
    .await;
    let c_max = h.c_max();

    eprintln!("depositing for {requests} users at fixed block times…");
    // Leaf `i` is user `i`'s and its expiry is its fixed block time plus NOTE_TTL.
    let mut users = Vec::with_capacity(requests);
    for i in 0..requests {
        let time = FIRST_DEPOSIT_TIME + i as u64;
        h.net
            .provider
            .raw_request::<_, ()>("evm_setNextBlockTimestamp".into(), (time,))
            .await
            .expect("set time");
        let secret = zkcredits_primitives::identity::Secret::new(zkcredits_primitives::Fr::from(
            1_000_000 + i as u64,
        ))
        .expect("non-zero");
        let identity = zkcredits_chain::proof::fr_to_u256(&secret.commitment());
        let call =
            h.net.escrow.instance().deposit(identity).value(alloy::primitives::U256::from(c_max));
        let hash = *call.send().await.expect("deposit sent").tx_hash();
        // Mined before the next timestamp is set (polling the receipt directly is faster than
        // a pending-transaction watcher).
        while h.net.provider.get_transaction_receipt(hash).await.expect("receipt").is_none() {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        users.push(common::User {
            secret,
            deposit: u128::from(c_max),
            expiry: time + h.net.deployment.note_ttl,
            leaf_index: i,
            state: zkcredits_prover::inputs::SpendableState {
                opening: zkcredits_primitives::state::StateOpening::genesis(
                    zkcredits_primitives::babyjubjub::Scalar::from(7u64),
                ),
                signature: None,
            },
            signer_root: common::signer_tree().root(),
        });
    }
    h.node.sync_chain().await.expect("sync");
    let leaves = h.node.store().leaves().expect("leaves");
    for (i, user) in users.iter().enumerate() {
        let expected = zkcredits_primitives::identity::leaf(
            user.secret.commitment(),
            user.deposit,
            user.expiry,
        );
        assert_eq!(leaves.get(i), Some(&expected), "deposit {i} is at its fixed time");
    }
    let root = h.tree().root();

    let envelopes = cached_envelopes(&h, &users, root);
    eprintln!("{} proofs ready", envelopes.len());

    println!(
        "node throughput and added latency: {requests} paid requests, 2 cores, local upstream"
    );
    println!(
        "| concurrency | requests | req/s | p50 | p99 | upstream alone p50 / p99 | added p50 / p99 |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    let per_phase = requests / phases.len().max(1);
    for (phase, &concurrency) in phases.iter().enumerate() {
        let range = phase * per_phase..(phase + 1) * per_phase;
        // The upstream alone, for the same requests: what the node adds is the difference.
        let direct = drive(&h.http, &h.upstream.url(), None, range.clone(), concurrency).await;
        let started = Instant::now();
        let through =
            drive(&h.http, &h.node.url(), Some(&envelopes), range.clone(), concurrency).await;
        let rate = per_phase as f64 / started.elapsed().as_secs_f64();
        let (d50, d99) = (percentile(&direct, 0.5), percentile(&direct, 0.99));
        let (n50, n99) = (percentile(&through, 0.5), percentile(&through, 0.99));
        println!(
            "| {concurrency} | {per_phase} | {rate:.0} | {:.2} ms | {:.2} ms | {:.2} / {:.2} ms | {:.2} / {:.2} ms |",
            ms(n50),
            ms(n99),
            ms(d50),
            ms(d99),
            ms(n50.saturating_sub(d50)),
            ms(n99.saturating_sub(d99)),
        );
    }
    assert_eq!(h.upstream.calls.all().len(), 2 * per_phase * phases.len(), "all served");
    let metrics =
        h.http.get(h.url("/metrics")).send().await.expect("metrics").text().await.expect("text");
    for line in metrics.lines().filter(|l| {
        l.starts_with("zkcredits_proof_batch_size_sum")
            || l.starts_with("zkcredits_proof_batch_size_count")
    }) {
        println!("  {line}");
    }
    h.node.shutdown().await.expect("shutdown");
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Sends `requests` with `concurrency` in flight; returns the sorted latencies.
async fn drive(
    http: &reqwest::Client,
    base: &str,
    envelopes: Option<&[String]>,
    requests: std::ops::Range<usize>,
    concurrency: usize,
) -> Vec<Duration> {
    use futures::StreamExt;
    let mut latencies: Vec<Duration> = futures::stream::iter(requests)
        .map(|i| {
            let mut request = http
                .post(format!("{base}{CHAT}"))
                .header("content-type", "application/json")
                .body(body(i));
            if let Some(envelopes) = envelopes {
                request = request.header("zkcredits-payment", envelopes[i].clone());
            }
            async move {
                let started = Instant::now();
                let response = request.send().await.expect("answer");
                let status = response.status();
                let _ = response.bytes().await.expect("body");
                assert!(status.is_success(), "request {i}: {status}");
                started.elapsed()
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    latencies.sort();
    latencies
}

/// The envelopes of every user's genesis ticket, from the cache or proven now on two threads.
fn cached_envelopes(
    h: &common::Harness,
    users: &[common::User],
    root: zkcredits_primitives::Fr,
) -> Vec<String> {
    let vk = std::fs::read(&h.config.circuits.request_verifying_key).expect("verifying key");
    let key = Sha256::new()
        .chain_update(&vk)
        .chain_update(h.net.deployment.escrow.as_slice())
        .chain_update(fr_to_dec(&root))
        .chain_update(users.len().to_le_bytes())
        .finalize();
    let dir = std::env::var_os("HOME")
        .map_or_else(|| PathBuf::from("build"), PathBuf::from)
        .join(".cache/zkcredits/bench");
    let file = dir.join(format!("request-envelopes-{}.txt", alloy::hex::encode(&key[..8])));
    if let Ok(text) = std::fs::read_to_string(&file) {
        let cached: Vec<String> = text.lines().map(str::to_owned).collect();
        if cached.len() == users.len()
            && cached.iter().all(|e| PaymentEnvelope::decode(e.as_bytes(), 4096).is_ok())
        {
            return cached;
        }
    }
    eprintln!("proving {} requests once (cached in {})…", users.len(), file.display());
    let started = Instant::now();
    let bodies: Vec<Vec<u8>> = (0..users.len()).map(body).collect();
    let envelopes: Vec<String> = common::prove_all(h, users, CHAT, &bodies, 0)
        .into_iter()
        .map(|paid| paid.envelope.encode())
        .collect();
    eprintln!("proved in {:.0} s", started.elapsed().as_secs_f64());
    std::fs::create_dir_all(&dir).expect("cache dir");
    std::fs::write(&file, envelopes.join("\n")).expect("cache file");
    envelopes
}
