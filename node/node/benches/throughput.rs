//! Requests per second through one node, and the latency it adds, with a local upstream that
//! answers at once. Real anvil, real escrow, real request proofs, RocksDB.
//!
//! Run: `cargo bench -p zkcredits-node --bench throughput` (or `make bench-node`).
//! Environment: `ZKCREDITS_BENCH_REQUESTS` (default 2000), split evenly over the phases of
//! `ZKCREDITS_BENCH_CONCURRENCY` (default `32,4,1`: saturating, moderate, one at a time).
//!
//! Every request spends a distinct genesis ticket, so each needs its own proof (about 0.8 s on
//! one core), made once and kept (`common::fixed`).

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Instant;

use common::fixed::{drive, ms, percentile};

const CHAT: &str = "/v1/chat/completions";

fn body(i: usize) -> Vec<u8> {
    format!(r#"{{"model":"m","messages":[{{"role":"user","content":"bench {i}"}}]}}"#).into_bytes()
}

fn main() {
    common::fixed::bench_main(run);
}

async fn run() {
    let requests = common::fixed::env_usize("ZKCREDITS_BENCH_REQUESTS", 2_000);
    let phases: Vec<usize> = std::env::var("ZKCREDITS_BENCH_CONCURRENCY")
        .unwrap_or_else(|_| "32,4,1".into())
        .split(',')
        .filter_map(|c| c.trim().parse().ok())
        .collect();
    let h = common::harness(|c| {
        common::fixed::fixed_time_config(c);
        // One client address sends everything here: the per-address allowance is for the
        // load benchmark to measure.
        c.limits.requests_per_ip_per_sec = 0;
    })
    .await;

    let users = common::fixed::users_at_fixed_times(&h, requests).await;
    let envelopes = common::fixed::cached_envelopes(&h, &users, CHAT, body);
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
        let direct =
            drive(&h.http, &h.upstream.url(), CHAT, None, body, range.clone(), concurrency).await;
        let started = Instant::now();
        let through =
            drive(&h.http, &h.node.url(), CHAT, Some(&envelopes), body, range.clone(), concurrency)
                .await;
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
