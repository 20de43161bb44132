//! What the benchmarks share. Users are deposited at fixed block times, so leaves, roots and
//! proofs are the same on every run: the benchmarks prove their tickets once and keep them in
//! `~/.cache/zkcredits/bench/`. Proofs use `now = 0` under a 2^32 s time bucket
//! ([`fixed_time_config`]).

use super::{Harness, User, prove_all, signer_tree};
use alloy::providers::Provider;
use sha2::{Digest, Sha256};
use std::{future::Future, path::PathBuf, time::Duration};
use zkcredits_node::{NodeConfig, envelope::PaymentEnvelope};
use zkcredits_primitives::field::fr_to_dec;

/// A benchmark's `main`: runs `run` on a two-thread runtime under `cargo bench` (which passes
/// `--bench`); `cargo test --benches` runs nothing.
pub fn bench_main<F: Future<Output = ()>>(run: impl FnOnce() -> F) {
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

/// The environment variable `name` as a number, or `default`.
pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The `p` quantile of sorted latencies.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// Milliseconds.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Deposits happen at these block times.
const FIRST_DEPOSIT_TIME: u64 = 2_000_000_000;
/// Deposits made before the queue is inserted (the escrow holds at most 255 waiting).
const DEPOSITS_PER_INSERTION: usize = 192;

/// A time bucket that holds `now = 0` forever, and a chain polled rarely (the benchmarks sync
/// it themselves).
pub fn fixed_time_config(c: &mut NodeConfig) {
    c.limits.time_bucket_secs = 1 << 32;
    c.chain.poll_interval_ms = 60_000;
}

/// Deposits `C_MAX` for `n` users, user `i` at leaf `i` and a fixed time, and inserts them.
pub async fn users_at_fixed_times(h: &Harness, n: usize) -> Vec<User> {
    eprintln!("depositing for {n} users at fixed block times…");
    let c_max = h.c_max();
    let mut users = Vec::with_capacity(n);
    for i in 0..n {
        if i > 0 && i % DEPOSITS_PER_INSERTION == 0 {
            h.insert_pending().await;
        }
        // Each run of deposits starts an hour after the last: the batches between them are
        // mined at whatever time proving took, always earlier.
        let time = FIRST_DEPOSIT_TIME + i as u64 + 3_600 * (i / DEPOSITS_PER_INSERTION) as u64;
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
        users.push(User {
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
            signer_root: signer_tree().root(),
        });
    }
    // Batches of 64: the leaves, and so the roots, do not depend on how they are grouped.
    h.insert_pending().await;
    let leaves = h.node.store().leaves().expect("leaves");
    for (i, user) in users.iter().enumerate() {
        let expected = zkcredits_primitives::identity::leaf(
            user.secret.commitment(),
            user.deposit,
            user.expiry,
        );
        assert_eq!(leaves.get(i), Some(&expected), "deposit {i} is at its fixed time");
    }
    users
}

/// The envelopes of every user's genesis ticket for `POST path` with `body(i)`, from the
/// cache or proven now on two threads.
pub fn cached_envelopes(
    h: &Harness,
    users: &[User],
    path: &str,
    body: fn(usize) -> Vec<u8>,
) -> Vec<String> {
    let vk = std::fs::read(&h.config.circuits.request_verifying_key).expect("verifying key");
    let key = Sha256::new()
        .chain_update(&vk)
        .chain_update(h.net.deployment.escrow.as_slice())
        .chain_update(fr_to_dec(&h.tree().root()))
        .chain_update(path)
        .chain_update(body(0))
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
    let started = std::time::Instant::now();
    let bodies: Vec<Vec<u8>> = (0..users.len()).map(body).collect();
    let envelopes: Vec<String> = prove_all(h, users, path, &bodies, 0)
        .into_iter()
        .map(|paid| paid.envelope.encode())
        .collect();
    eprintln!("proved in {:.0} s", started.elapsed().as_secs_f64());
    std::fs::create_dir_all(&dir).expect("cache dir");
    std::fs::write(&file, envelopes.join("\n")).expect("cache file");
    envelopes
}

/// Sends `POST path` with `body(i)` and envelope `i` (none: unpaid, to the upstream alone) for
/// each `i` of `requests`, `concurrency` in flight; returns the sorted latencies.
pub async fn drive(
    http: &reqwest::Client,
    base: &str,
    path: &str,
    envelopes: Option<&[String]>,
    body: fn(usize) -> Vec<u8>,
    requests: std::ops::Range<usize>,
    concurrency: usize,
) -> Vec<Duration> {
    use futures::StreamExt;
    let mut latencies: Vec<Duration> = futures::stream::iter(requests)
        .map(|i| {
            let mut request = http
                .post(format!("{base}{path}"))
                .header("content-type", "application/json")
                .body(body(i));
            if let Some(envelopes) = envelopes {
                request = request.header("zkcredits-payment", envelopes[i].clone());
            }
            async move {
                let started = std::time::Instant::now();
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
