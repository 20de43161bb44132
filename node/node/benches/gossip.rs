//! The share network under load: five nodes of one escrow on loopback (real anvil, escrow,
//! RocksDB, libp2p swarms; bootstrapped through the first, Kademlia finds the rest).
//!
//! - **Detection latency.** For each trial a fresh identity's first share is published at one
//!   node and, once every node holds it, a second share of the same ticket at another: the
//!   time from that publish to the first node recording the slash (it holds `k`), p50 / p99.
//! - **Absorption.** Fresh tickets' shares from several publishers at one node (the others
//!   stopped), as fast as they go: how many it judged and stored per second.
//!
//! The shares come from bare peers bound with a sixth key of the signer set, as a node's would;
//! their proofs are not proofs, so the nodes run with `verify_fraction = 0` (a share that
//! conflicts and reveals `k` is never proof-checked; spec/06 §Scale gives the bound with
//! sampling: `min(store rate, verification rate / f)`).
//!
//! Run: `cargo bench -p zkcredits-node --bench gossip` (or `make bench-gossip`). Environment:
//! `ZKCREDITS_GOSSIP_TRIALS` (default 1000), `ZKCREDITS_GOSSIP_SHARES` (default 30000),
//! `ZKCREDITS_GOSSIP_PUBLISHERS` (default 4).

#[path = "../tests/common/mod.rs"]
mod common;

use common::fixed::{ms, percentile};
use std::time::{Duration, Instant};
use zkcredits_node::{
    NodeConfig, RunningNode,
    gossip::{PeerBinding, ShareMessage},
    keys::{public_key_to_string, write_signer_key},
};
use zkcredits_p2p::{Client, Keypair, P2pConfig, Protocol};
use zkcredits_primitives::{
    Fr, babyjubjub::BASE8, eddsa::PrivateKey, field::fr_to_dec, identity::Secret,
    merkle::FixedMerkleTree, rln::Share,
};
use zkcredits_prover::inputs::RequestStatement;

const NODES: usize = 5;

fn main() {
    common::fixed::bench_main(run);
}

fn keys() -> Vec<PrivateKey> {
    (0..=NODES).map(|i| PrivateKey::from_bytes([0x51 + i as u8; 32])).collect()
}

async fn listen_address(node: &RunningNode) -> zkcredits_p2p::Multiaddr {
    let client = node.p2p().expect("p2p");
    loop {
        if let Some(address) = client.listen_addresses().await.expect("addresses").first() {
            return address.clone().with(Protocol::P2p(client.local_peer_id()));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn wait_for_topic_peers(client: &Client, count: usize) {
    while client.topic_peers().await.expect("peers").len() < count {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A bare peer bound with the publisher key, connected to `node`.
async fn publisher(topic: &str, node: &RunningNode, scope: &Fr) -> (Client, PeerBinding) {
    let mut config = P2pConfig::new(Keypair::generate_ed25519(), topic);
    config.bootstrap = vec![listen_address(node).await];
    config.max_message_bytes = zkcredits_node::gossip::MAX_MESSAGE_BYTES;
    let (client, _events, _task) = zkcredits_p2p::start(config).await.expect("peer");
    wait_for_topic_peers(&client, 1).await;
    let binding =
        PeerBinding::sign(&keys()[NODES], NODES as u8, scope, &client.local_peer_id().to_bytes());
    (client, binding)
}

struct Network {
    root: Fr,
    signer_root: Fr,
    scope: Fr,
    c_max: u64,
    now: u64,
}

impl Network {
    fn message(&self, share: Share, binding: PeerBinding) -> Vec<u8> {
        ShareMessage {
            statement: RequestStatement {
                root: self.root,
                scope: self.scope,
                signer_root: self.signer_root,
                c_max: self.c_max,
                now: self.now,
                x: share.x,
                anon: BASE8,
                nullifier: share.nullifier,
                y: share.y,
            },
            proof: [0x01; zkcredits_node::envelope::PROOF_BYTES],
            binding,
        }
        .encode()
    }
}

async fn metric(node: &RunningNode, needle: &str) -> u64 {
    let text = reqwest::get(format!("{}/metrics", node.url()))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    text.lines()
        .find_map(|line| line.strip_prefix(needle).map(|v| v.trim().parse::<f64>().unwrap_or(0.0)))
        .map_or(0, |v| v as u64)
}

const NEW_SHARES: &str = r#"zkcredits_gossip_messages_total{verdict="accept",reason="new_share"}"#;
const OVERLOADED: &str = r#"zkcredits_gossip_messages_total{verdict="ignore",reason="overloaded"}"#;

async fn run() {
    let trials = common::fixed::env_usize("ZKCREDITS_GOSSIP_TRIALS", 1_000);
    let count = common::fixed::env_usize("ZKCREDITS_GOSSIP_SHARES", 30_000);
    let publishers_count = common::fixed::env_usize("ZKCREDITS_GOSSIP_PUBLISHERS", 4).max(1);
    let keys = keys();
    let leaves: Vec<_> = keys.iter().map(|k| k.public_key().signer_leaf()).collect();
    let signer_root = FixedMerkleTree::new(4, &leaves).expect("fits").root();
    let net = zkcredits_chain::devnet::Devnet::start(
        &common::workspace(),
        &[("ZKCREDITS_SIGNER_ROOT", fr_to_dec(&signer_root))],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let upstream = common::upstream::TestUpstream::start().await;
    let set: Vec<String> = keys.iter().map(|k| public_key_to_string(&k.public_key())).collect();
    let mut dirs = Vec::new();
    let mut nodes: Vec<RunningNode> = Vec::new();
    for key in keys.iter().take(NODES) {
        let dir = tempfile::tempdir().expect("temp dir");
        write_signer_key(&dir.path().join("signer.json"), key).expect("key file");
        let mut config: NodeConfig = common::node_config(&net, dir.path(), &upstream.url());
        config.chain.wallet_key_file = std::path::PathBuf::new();
        config.signer.set = set.clone();
        config.p2p.enabled = true;
        config.p2p.listen = vec!["/ip4/127.0.0.1/tcp/0".into()];
        config.p2p.verify_fraction = 0.0;
        config.p2p.messages_per_peer_per_sec = 1_000_000;
        config.p2p.message_burst = 1_000_000;
        config.p2p.max_judging = 4_096;
        if let Some(first) = nodes.first() {
            config.p2p.bootstrap = vec![listen_address(first).await.to_string()];
        }
        nodes.push(zkcredits_node::start(config).await.expect("node starts"));
        dirs.push(dir);
    }
    for node in &nodes {
        wait_for_topic_peers(node.p2p().expect("p2p"), 1).await;
    }
    let scope = zkcredits_primitives::field::fr_from_dec(&net.deployment.scope).expect("scope");
    // One deposit, so the shares have a root every node applied.
    let depositor = Secret::new(Fr::from(77u64)).expect("non-zero");
    net.escrow
        .deposit(depositor.commitment(), alloy::primitives::U256::from(10u128.pow(15)))
        .await
        .expect("deposit");
    for node in &nodes {
        node.sync_chain().await.expect("sync");
    }
    let root = nodes[0].store().recent_roots(1).expect("roots")[0].root;
    let network = Network {
        root,
        signer_root,
        scope,
        c_max: net.deployment.c_max.parse().expect("decimal"),
        now: common::now_bucket(),
    };
    let topic = zkcredits_node::share_topic(net.deployment.chain_id, &net.deployment.escrow);
    let (first_publisher, first_binding) = publisher(&topic, &nodes[1], &scope).await;
    let (second_publisher, second_binding) = publisher(&topic, &nodes[3], &scope).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    println!("{NODES} nodes, verify_fraction 0; root {}", fr_to_dec(&network.root));

    // Detection latency.
    let mut latencies = Vec::with_capacity(trials);
    let mut missed = 0;
    for trial in 0..trials {
        let k = Secret::new(Fr::from(1_000_000 + trial as u64)).expect("non-zero");
        let first = Share::new(&k, &scope, 0, Fr::from(1u64));
        let second = Share::new(&k, &scope, 0, Fr::from(2u64));
        first_publisher.publish(network.message(first, first_binding)).await.expect("publish");
        let spread = Instant::now();
        while !nodes.iter().all(|n| !n.store().shares(&first.nullifier).expect("read").is_empty()) {
            if spread.elapsed() > Duration::from_secs(5) {
                break;
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        let identity = k.commitment();
        let start = Instant::now();
        second_publisher.publish(network.message(second, second_binding)).await.expect("publish");
        loop {
            if nodes.iter().any(|n| n.store().slash(&identity).expect("read").is_some()) {
                latencies.push(start.elapsed());
                break;
            }
            if start.elapsed() > Duration::from_secs(5) {
                missed += 1;
                break;
            }
            tokio::time::sleep(Duration::from_micros(100)).await;
        }
    }
    latencies.sort();
    println!(
        "detection: {} trials, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, missed {missed}",
        latencies.len(),
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.99)),
        ms(*latencies.last().unwrap_or(&Duration::ZERO)),
    );

    // Absorption, at one node alone (the machine's two cores run one node and the publishers,
    // not five nodes): fresh tickets' shares from several publishers as fast as their
    // connections take them (a full send queue makes a publisher wait and retry). The rate is
    // what the node stored over the time until its count stopped growing.
    for node in nodes.split_off(1) {
        let _ = node.shutdown().await;
    }
    let node = &nodes[0];
    let total = count;
    let mut publishers = Vec::new();
    for _ in 0..publishers_count {
        publishers.push(publisher(&topic, node, &scope).await);
    }
    let batches: Vec<Vec<Vec<u8>>> = publishers
        .iter()
        .enumerate()
        .map(|(p, (_, binding))| {
            (p..total)
                .step_by(publishers_count)
                .map(|i| {
                    let k = Secret::new(Fr::from(10_000_000 + i as u64)).expect("non-zero");
                    network.message(Share::new(&k, &scope, 0, Fr::from(3u64)), *binding)
                })
                .collect()
        })
        .collect();
    let before = metric(node, NEW_SHARES).await;
    let overloaded_before = metric(node, OVERLOADED).await;
    let start = Instant::now();
    let sending = publishers.iter().zip(batches).map(|((client, _), mine)| async move {
        for message in mine {
            while client.publish(message.clone()).await.is_err() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    });
    futures::future::join_all(sending).await;
    let sent = start.elapsed();
    let (mut stored, mut grew_at) = (0, start.elapsed());
    while start.elapsed() < grew_at + Duration::from_secs(2) {
        let now = metric(node, NEW_SHARES).await - before;
        if now > stored {
            (stored, grew_at) = (now, start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let ignored = metric(node, OVERLOADED).await - overloaded_before;
    println!(
        "absorption at one node: {total} shares from {publishers_count} publishers, sent in {:.2} s; \
         {stored} stored in {:.2} s = {:.0}/s, {ignored} ignored as overloaded, {} lost on the way",
        sent.as_secs_f64(),
        grew_at.as_secs_f64(),
        stored as f64 / grew_at.as_secs_f64(),
        total as u64 - stored,
    );
    for (client, _) in publishers {
        client.shutdown().await;
    }
    for client in [first_publisher, second_publisher] {
        client.shutdown().await;
    }
    for node in nodes {
        let _ = node.shutdown().await;
    }
}
