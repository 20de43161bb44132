//! The share network under load: five nodes of one escrow on loopback (real anvil, escrow,
//! RocksDB, libp2p swarms; bootstrapped through the first, Kademlia finds the rest).
//!
//! - **Detection latency.** For each trial a fresh identity's first share is published at one
//!   node and, once every node holds it, a second share of the same ticket at another: the
//!   time from that publish to the first node recording the slash (it holds `k`), p50 / p99.
//! - **Soak.** Five fresh nodes with wallets; `ZKCREDITS_GOSSIP_SOAK_TICKETS` tickets (default
//!   10,000) published at random nodes at `ZKCREDITS_GOSSIP_SOAK_RATE` shares/s (default 1,000),
//!   1 % of them (deposited identities) spent again a little later at another random node:
//!   double spends no node detected, and the slash transactions the nodes sent per detection
//!   (the hold-off of spec/07 at its default 15 s).
//! - **Absorption.** Fresh tickets' shares from several publisher processes at one node (the
//!   others stopped), as fast as they go: how many it judged and stored per second on the two
//!   cores it shares with them, and the CPU time its process spent per share, which gives the
//!   rate of a node with two cores of its own.
//! - **Under paid load.** A node of its own serves `ZKCREDITS_GOSSIP_PAID` paid requests with
//!   real proofs (made once and cached), a third alone and the rest while publish-only
//!   processes offer it `ZKCREDITS_GOSSIP_PAID_SHARE_RATE` shares/s: paid requests per second
//!   and p99 both ways, and the shares it stored meanwhile.
//!
//! The shares come from bare peers bound with a sixth key of the signer set, as a node's would;
//! their proofs are not proofs, so the nodes run with `verify_fraction = 0` (a share that
//! conflicts and reveals `k` is never proof-checked; spec/06 §Scale gives the bound with
//! sampling: `min(store rate, verification rate / f)`).
//!
//! Run: `cargo bench -p zkcredits-node --bench gossip` (or `make bench-gossip`). Environment:
//! `ZKCREDITS_GOSSIP_TRIALS` (default 1000), `ZKCREDITS_GOSSIP_SOAK_TICKETS` (default 10000),
//! `ZKCREDITS_GOSSIP_SOAK_RATE` (default 1000), `ZKCREDITS_GOSSIP_SHARES` (default 30000),
//! `ZKCREDITS_GOSSIP_PUBLISHERS` (default 4), `ZKCREDITS_GOSSIP_PAID` (default 3000),
//! `ZKCREDITS_GOSSIP_PAID_SHARE_RATE` (default 5000).

#[path = "../tests/common/mod.rs"]
mod common;

use common::fixed::{ms, percentile};
use rand::{Rng, SeedableRng, rngs::StdRng};
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
use zkcredits_storage::SlashStatus;

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
    publisher_at(topic, listen_address(node).await, scope, NODES, true).await
}

/// A bare peer bound with the key at `key` of [`keys`] (its index in the signer set),
/// connected to the node at `address`, subscribed to the topic or publishing only.
async fn publisher_at(
    topic: &str,
    address: zkcredits_p2p::Multiaddr,
    scope: &Fr,
    key: usize,
    subscribe: bool,
) -> (Client, PeerBinding) {
    let mut config = P2pConfig::new(Keypair::generate_ed25519(), topic);
    config.bootstrap = vec![address];
    config.max_message_bytes = zkcredits_node::gossip::MAX_MESSAGE_BYTES;
    config.subscribe = subscribe;
    let (client, _events, _task) = zkcredits_p2p::start(config).await.expect("peer");
    wait_for_topic_peers(&client, 1).await;
    let index = u8::try_from(key).expect("a signer index");
    let binding = PeerBinding::sign(&keys()[key], index, scope, &client.local_peer_id().to_bytes());
    (client, binding)
}

/// Set in the environment of a publisher process: what it publishes (see [`publisher_process`]).
const PUBLISHER_ENV: &str = "ZKCREDITS_GOSSIP_PUBLISHER";

/// A publisher in a process of its own, so that the node's CPU time can be told from the
/// publishers'. Its instructions (space-separated): the node's address, the topic, the
/// network's root, scope, signer root (decimal), `C_MAX`, `now`, the index of the key of
/// [`keys`] it binds with (its index in the signer set too), then the first ticket, the step
/// between tickets and how many, the shares it publishes per second (0: as fast as they go)
/// and whether it subscribes to the topic (1) or only publishes (0). It prints `ready` once on the topic, publishes when a
/// line arrives on its standard input, and ends a few seconds after the last publish (its
/// queue drained).
async fn publisher_process(instructions: &str) {
    let fields: Vec<&str> = instructions.split(' ').collect();
    let [
        address,
        topic,
        root,
        scope,
        signer_root,
        c_max,
        now,
        key,
        first,
        step,
        count,
        rate,
        subscribe,
    ] = fields[..]
    else {
        panic!("{PUBLISHER_ENV}: thirteen fields expected, got `{instructions}`");
    };
    let field = |s: &str| zkcredits_primitives::field::fr_from_dec(s).expect("decimal field");
    let number = |s: &str| s.parse::<u64>().expect("decimal");
    let network = Network {
        root: field(root),
        scope: field(scope),
        signer_root: field(signer_root),
        c_max: number(c_max),
        now: number(now),
    };
    let key = number(key) as usize;
    let address = address.parse().expect("multiaddr");
    let (client, binding) =
        publisher_at(topic, address, &network.scope, key, subscribe == "1").await;
    let messages: Vec<Vec<u8>> = (number(first)..)
        .step_by(number(step) as usize)
        .take(number(count) as usize)
        .map(|i| {
            let k = Secret::new(Fr::from(i)).expect("non-zero");
            network.message(Share::new(&k, &network.scope, 0, Fr::from(3u64)), binding)
        })
        .collect();
    println!("ready");
    tokio::task::spawn_blocking(|| std::io::stdin().read_line(&mut String::new()))
        .await
        .expect("stdin")
        .expect("go");
    let (rate, start) = (number(rate), Instant::now());
    for (i, message) in messages.into_iter().enumerate() {
        if rate > 0 {
            let due = start + Duration::from_secs_f64(i as f64 / rate as f64);
            tokio::time::sleep_until(due.into()).await;
        }
        while client.publish(message.clone()).await.is_err() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    client.shutdown().await;
}

/// CPU time this process has used (user and system), from `/proc/self/stat` (Linux, in ticks
/// of 10 ms).
fn process_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    let after_name = &stat[stat.rfind(')').expect("stat format") + 2..];
    let fields: Vec<&str> = after_name.split(' ').collect();
    // Fields 14 and 15 of proc(5), counted from the state (field 3) here.
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    Duration::from_millis(ticks * 10)
}

#[derive(Clone, Copy)]
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

/// On the share network on loopback, taking every share unsampled (the bench's proofs are not
/// proofs) and as fast as peers send them.
fn on_the_share_network(config: &mut NodeConfig) {
    config.p2p.enabled = true;
    config.p2p.listen = vec!["/ip4/127.0.0.1/tcp/0".into()];
    config.p2p.verify_fraction = 0.0;
    config.p2p.messages_per_peer_per_sec = 1_000_000;
    config.p2p.message_burst = 1_000_000;
    config.p2p.max_judging = 4_096;
}

/// Five nodes of the escrow on loopback, bootstrapped through the first; with wallets (dev
/// accounts 1 to 5) when `slashing`, so that they send the slashes they detect.
async fn start_nodes(
    net: &zkcredits_chain::devnet::Devnet,
    upstream: &str,
    set: &[String],
    slashing: bool,
) -> (Vec<RunningNode>, Vec<tempfile::TempDir>) {
    let mut dirs = Vec::new();
    let mut nodes: Vec<RunningNode> = Vec::new();
    for (i, key) in keys().iter().take(NODES).enumerate() {
        let dir = tempfile::tempdir().expect("temp dir");
        write_signer_key(&dir.path().join("signer.json"), key).expect("key file");
        let mut config: NodeConfig = common::node_config(net, dir.path(), upstream);
        config.chain.wallet_key_file = std::path::PathBuf::new();
        if slashing {
            let wallet = dir.path().join("wallet.hex");
            std::fs::write(&wallet, net.private_key_hex(i + 1)).expect("wallet file");
            config.chain.wallet_key_file = wallet;
        }
        config.signer.set = set.to_vec();
        on_the_share_network(&mut config);
        if let Some(first) = nodes.first() {
            config.p2p.bootstrap = vec![listen_address(first).await.to_string()];
        }
        nodes.push(zkcredits_node::start(config).await.expect("node starts"));
        dirs.push(dir);
    }
    for node in &nodes {
        wait_for_topic_peers(node.p2p().expect("p2p"), 1).await;
    }
    (nodes, dirs)
}

async fn run() {
    if let Ok(instructions) = std::env::var(PUBLISHER_ENV) {
        return publisher_process(&instructions).await;
    }
    let trials = common::fixed::env_usize("ZKCREDITS_GOSSIP_TRIALS", 1_000);
    let soak_tickets = common::fixed::env_usize("ZKCREDITS_GOSSIP_SOAK_TICKETS", 10_000);
    let soak_rate = common::fixed::env_usize("ZKCREDITS_GOSSIP_SOAK_RATE", 1_000).max(1);
    let count = common::fixed::env_usize("ZKCREDITS_GOSSIP_SHARES", 30_000);
    let publishers_count = common::fixed::env_usize("ZKCREDITS_GOSSIP_PUBLISHERS", 4).max(1);
    let paid = common::fixed::env_usize("ZKCREDITS_GOSSIP_PAID", 3_000).max(3);
    let paid_share_rate = common::fixed::env_usize("ZKCREDITS_GOSSIP_PAID_SHARE_RATE", 5_000);
    let keys = keys();
    let leaves: Vec<_> = keys.iter().map(|k| k.public_key().signer_leaf()).collect();
    let signer_root = FixedMerkleTree::new(4, &leaves).expect("fits").root();
    let net = zkcredits_chain::devnet::Devnet::start(
        &common::workspace(),
        &[("ZKCREDITS_SIGNER_ROOT", fr_to_dec(&signer_root))],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let upstream = common::upstream::TestUpstream::start().await.expect("upstream starts");
    let set: Vec<String> = keys.iter().map(|k| public_key_to_string(&k.public_key())).collect();
    let (nodes, _dirs) = start_nodes(&net, &upstream.url(), &set, false).await;
    let scope = zkcredits_primitives::field::fr_from_dec(&net.deployment.scope).expect("scope");
    // One deposit, so the shares have a root every node applied.
    let depositor = Secret::new(Fr::from(77u64)).expect("non-zero");
    net.escrow
        .deposit(depositor.commitment(), alloy::primitives::U256::from(10u128.pow(15)))
        .await
        .expect("deposit");
    common::insert_all(&net, nodes[0].store()).await;
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

    for client in [first_publisher, second_publisher] {
        client.shutdown().await;
    }
    for node in nodes {
        let _ = node.shutdown().await;
    }

    let (mut nodes, _soak_dirs) = start_nodes(&net, &upstream.url(), &set, true).await;
    let network =
        Network { root: soak(&net, &nodes, &network, soak_tickets, soak_rate).await, ..network };

    // Absorption, at one node alone (the machine's two cores run one node and the publishers,
    // not five nodes): fresh tickets' shares from several publishers as fast as their
    // connections take them (a full send queue makes a publisher wait and retry). The rate is
    // what the node stored over the time until its count stopped growing.
    for node in nodes.split_off(1) {
        let _ = node.shutdown().await;
    }
    let node = &nodes[0];
    let flood = Load { count, first: 10_000_000, rate: 0, subscribe: true };
    let mut publishers =
        publisher_processes(node, &topic, &network, NODES, flood, publishers_count).await;
    let before = metric(node, NEW_SHARES).await;
    let overloaded_before = metric(node, OVERLOADED).await;
    let cpu_before = process_cpu();
    let start = Instant::now();
    publishers.go();
    let (stored, grew_at) = stored_until_quiet(node, before, start).await;
    let cpu = process_cpu() - cpu_before;
    let ignored = metric(node, OVERLOADED).await - overloaded_before;
    publishers.wait();
    let per_share = cpu.as_secs_f64() / stored.max(1) as f64;
    println!(
        "absorption at one node: {count} shares from {publishers_count} publisher processes; \
         {stored} stored in {:.2} s = {:.0}/s, {ignored} ignored as overloaded, {} lost on the \
         way; the node's process used {:.2} s of CPU = {:.0} µs per share, {:.0} shares/s on \
         two cores of its own",
        grew_at.as_secs_f64(),
        stored as f64 / grew_at.as_secs_f64(),
        count as u64 - stored,
        cpu.as_secs_f64(),
        per_share * 1e6,
        2.0 / per_share,
    );
    for node in nodes {
        let _ = node.shutdown().await;
    }
    drop(net);
    under_paid_load(paid, paid_share_rate, publishers_count).await;
}

/// A cheap deterministic stream of choices (the soak is the same for a seed).
fn soak_rng() -> StdRng {
    StdRng::seed_from_u64(common::fixed::env_usize("ZKCREDITS_GOSSIP_SEED", 7) as u64)
}

/// The soak: `tickets` tickets published at random nodes at `rate` shares/s, 1 % of them spent
/// again at another node a few dozen shares later; waits for every slash to land and reports
/// the double spends missed and the slash transactions sent per detection. Returns the root
/// its deposits made.
async fn soak(
    net: &zkcredits_chain::devnet::Devnet,
    nodes: &[RunningNode],
    network: &Network,
    tickets: usize,
    rate: usize,
) -> Fr {
    let scope = network.scope;
    let cheaters: Vec<Secret> = (0..(tickets / 100).max(1))
        .map(|i| Secret::new(Fr::from(50_000_000 + i as u64)).expect("non-zero"))
        .collect();
    let amount = alloy::primitives::U256::from(network.c_max) * alloy::primitives::U256::from(4);
    for secret in &cheaters {
        net.escrow.deposit(secret.commitment(), amount).await.expect("deposit");
    }
    common::insert_all(net, nodes[0].store()).await;
    for node in nodes {
        node.sync_chain().await.expect("sync");
    }
    let root = nodes[0].store().recent_roots(1).expect("roots")[0].root;
    let network = Network { root, ..*network };
    let topic = zkcredits_node::share_topic(net.deployment.chain_id, &net.deployment.escrow);
    let mut publishers = Vec::new();
    for node in nodes {
        publishers.push(publisher(&topic, node, &scope).await);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    // The schedule: (position, publisher, message); a cheater's second share goes out 1 to 50
    // positions after its first, through another node.
    let mut rng = soak_rng();
    let spacing = tickets / cheaters.len();
    let mut schedule: Vec<(usize, usize, Vec<u8>)> = Vec::with_capacity(tickets + cheaters.len());
    for t in 0..tickets {
        let at = rng.gen_range(0..NODES);
        let cheater = (t % spacing == spacing / 2).then(|| cheaters.get(t / spacing)).flatten();
        let Some(k) = cheater else {
            let k = Secret::new(Fr::from(200_000_000 + t as u64)).expect("non-zero");
            let share = Share::new(&k, &scope, 0, Fr::from(3u64));
            schedule.push((t, at, network.message(share, publishers[at].1)));
            continue;
        };
        let elsewhere = (at + rng.gen_range(1..NODES)) % NODES;
        for (position, node, x) in [(t, at, 1u64), (t + rng.gen_range(1..=50), elsewhere, 2)] {
            let share = Share::new(k, &scope, 0, Fr::from(x));
            schedule.push((position, node, network.message(share, publishers[node].1)));
        }
    }
    schedule.sort_by_key(|(position, _, _)| *position);
    let submitted_before = submitted(nodes).await;
    let shares = schedule.len();
    let start = Instant::now();
    for (i, (_, node, message)) in schedule.into_iter().enumerate() {
        let due = start + Duration::from_secs_f64(i as f64 / rate as f64);
        tokio::time::sleep_until(due.into()).await;
        while publishers[node].0.publish(message.clone()).await.is_err() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let published = start.elapsed();

    // Every slash lands within the hold-offs of the five ranks; a few seconds more let any
    // node that was about to send do so.
    let identities: Vec<Fr> = cheaters.iter().map(Secret::commitment).collect();
    let deadline = Instant::now() + Duration::from_secs(6 * 15 + 30);
    let landed = |identity: &Fr| {
        nodes.iter().any(|n| {
            matches!(
                n.store().slash(identity).expect("read").map(|s| s.status),
                Some(SlashStatus::Landed { .. } | SlashStatus::Done { .. })
            )
        })
    };
    while Instant::now() < deadline && !identities.iter().all(landed) {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    let detected = identities
        .iter()
        .filter(|id| nodes.iter().any(|n| n.store().slash(id).expect("read").is_some()))
        .count();
    let slashed = identities.iter().filter(|id| landed(id)).count();
    let transactions = submitted(nodes).await - submitted_before;
    println!(
        "soak: {tickets} tickets over {NODES} nodes, {shares} shares published in {:.1} s \
         ({:.0}/s, paced at most {rate}/s), {} double spent: {} missed, {slashed} slashed on \
         chain, {transactions} slash transactions sent ({:.2} per detection)",
        published.as_secs_f64(),
        shares as f64 / published.as_secs_f64(),
        identities.len(),
        identities.len() - detected,
        transactions as f64 / detected.max(1) as f64,
    );
    for (client, _) in publishers {
        client.shutdown().await;
    }
    root
}

const SUBMITTED: &str = r#"zkcredits_slashes_total{outcome="submitted"}"#;

/// Slash transactions the nodes sent (replacements included).
async fn submitted(nodes: &[RunningNode]) -> u64 {
    let mut total = 0;
    for node in nodes {
        total += metric(node, SUBMITTED).await;
    }
    total
}

/// Publisher processes, ready on the node's topic.
struct Publishers(Vec<std::process::Child>);

impl Publishers {
    /// Tells every publisher to start.
    fn go(&mut self) {
        use std::io::Write;
        for child in &mut self.0 {
            writeln!(child.stdin.as_mut().expect("stdin"), "go").expect("go");
        }
    }

    /// Waits for every publisher to finish.
    fn wait(self) {
        for mut child in self.0 {
            let _ = child.wait();
        }
    }
}

/// How publisher processes send: `count` fresh tickets' shares from ticket `first` on, at
/// `rate` shares/s in all (0: as fast as they go), subscribed to the topic (the node forwards
/// what it accepts to them, as to mesh peers) or publishing only.
struct Load {
    count: usize,
    first: usize,
    rate: usize,
    subscribe: bool,
}

/// `load` split over `publishers` processes connected to `node` and bound with the key at
/// `key` of [`keys`].
async fn publisher_processes(
    node: &RunningNode,
    topic: &str,
    network: &Network,
    key: usize,
    load: Load,
    publishers: usize,
) -> Publishers {
    let address = listen_address(node).await;
    let exe = std::env::current_exe().expect("this benchmark's path");
    let mut children = Vec::new();
    for p in 0..publishers {
        let instructions = format!(
            "{address} {topic} {} {} {} {} {} {key} {} {publishers} {} {} {}",
            fr_to_dec(&network.root),
            fr_to_dec(&network.scope),
            fr_to_dec(&network.signer_root),
            network.c_max,
            network.now,
            load.first + p,
            (load.count + publishers - 1 - p) / publishers,
            load.rate / publishers,
            u8::from(load.subscribe),
        );
        let mut child = std::process::Command::new(&exe)
            .arg("--bench")
            .env(PUBLISHER_ENV, instructions)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("publisher process");
        let stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
        let line = tokio::task::spawn_blocking(move || {
            use std::io::BufRead;
            let mut stdout = stdout;
            let mut line = String::new();
            stdout.read_line(&mut line).expect("publisher output");
            line
        })
        .await
        .expect("publisher ready");
        assert_eq!(line.trim(), "ready", "publisher process failed");
        children.push(child);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    Publishers(children)
}

/// The new shares `node` stored since its count was `before`, until the count stops growing
/// for 2 s, and the time from `start` to the last growth.
async fn stored_until_quiet(node: &RunningNode, before: u64, start: Instant) -> (u64, Duration) {
    let (mut stored, mut grew_at) = (0, start.elapsed());
    while start.elapsed() < grew_at + Duration::from_secs(2) {
        let now = metric(node, NEW_SHARES).await - before;
        if now > stored {
            (stored, grew_at) = (now, start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    (stored, grew_at)
}

fn paid_body(i: usize) -> Vec<u8> {
    format!(r#"{{"model":"m","messages":[{{"role":"user","content":"paid {i}"}}]}}"#).into_bytes()
}

/// Absorption while the node serves paid requests: the harness's node (its signer set is its
/// own key, which the publishers bind with, as the provider's other nodes would), `paid`
/// genesis requests with real proofs (made once, cached), a third sent alone and the rest
/// while publish-only processes offer it `share_rate` shares/s (they take little CPU: a
/// signature per share). The paid clients share the node's process, so this reports rates.
async fn under_paid_load(paid: usize, share_rate: usize, publishers_count: usize) {
    const CHAT: &str = "/v1/chat/completions";
    const CONCURRENCY: usize = 8;
    let h = common::harness(|c| {
        common::fixed::fixed_time_config(c);
        c.limits.requests_per_ip_per_sec = 0;
        on_the_share_network(c);
    })
    .await;
    let users = common::fixed::users_at_fixed_times(&h, paid).await;
    let envelopes = common::fixed::cached_envelopes(&h, &users, CHAT, paid_body);
    let network = Network {
        root: h.tree().root(),
        scope: h.scope(),
        signer_root: common::signer_tree().root(),
        c_max: h.c_max(),
        now: common::now_bucket(),
    };
    let alone_count = paid / 3;
    let base = h.node.url();
    let drive = |requests| {
        common::fixed::drive(
            &h.http,
            &base,
            CHAT,
            Some(&envelopes),
            paid_body,
            requests,
            CONCURRENCY,
        )
    };
    let started = Instant::now();
    let alone = drive(0..alone_count).await;
    let alone_rate = alone_count as f64 / started.elapsed().as_secs_f64();

    // Shares for longer than the paid requests last at their rate alone.
    let seconds = 2.0 * (paid - alone_count) as f64 / alone_rate + 2.0;
    let load = Load {
        count: (share_rate as f64 * seconds) as usize,
        first: 30_000_000,
        rate: share_rate,
        subscribe: false,
    };
    let topic = zkcredits_node::share_topic(h.net.deployment.chain_id, &h.net.deployment.escrow);
    let mut publishers =
        publisher_processes(&h.node, &topic, &network, 0, load, publishers_count).await;
    let before = metric(&h.node, NEW_SHARES).await;
    publishers.go();
    // The shares' rate settles before the paid requests start.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (stored_at_start, start) = (metric(&h.node, NEW_SHARES).await, Instant::now());
    let loaded = drive(alone_count..paid).await;
    let paid_time = start.elapsed();
    let stored_meanwhile = metric(&h.node, NEW_SHARES).await - stored_at_start;
    publishers.wait();
    let stored = metric(&h.node, NEW_SHARES).await - before;
    println!(
        "paid load at concurrency {CONCURRENCY}, {alone_count} requests alone: {alone_rate:.0} \
         req/s (p99 {:.2} ms); {} requests while {publishers_count} publish-only processes offer \
         {share_rate} shares/s: {:.0} req/s (p99 {:.2} ms), {:.0} shares/s stored meanwhile \
         ({stored} stored in all)",
        ms(percentile(&alone, 0.99)),
        paid - alone_count,
        (paid - alone_count) as f64 / paid_time.as_secs_f64(),
        ms(percentile(&loaded, 0.99)),
        stored_meanwhile as f64 / paid_time.as_secs_f64(),
    );
    assert_eq!(h.upstream.calls.all().len(), paid, "every paid request served");
    h.node.shutdown().await.expect("shutdown");
}
