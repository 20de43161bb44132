//! The share network end to end (spec/06, spec/07): two nodes of one escrow on a real anvil,
//! each with its own signer key, RocksDB and libp2p swarm on loopback; real request proofs.
//! A ticket spent at both is refused at the second and slashed on chain once; forged shares
//! never slash anyone and cost their sender.

mod common;

use common::{Harness, User, harness, node_config, node_signer, settlement_of};
use std::time::Duration;
use zkcredits_node::{
    NodeConfig, RunningNode,
    gossip::{PeerBinding, ShareMessage},
    keys::{public_key_to_string, write_signer_key},
};
use zkcredits_p2p::{Keypair, P2pConfig, Protocol};
use zkcredits_primitives::{Fr, eddsa::PrivateKey, merkle::FixedMerkleTree};
use zkcredits_storage::SlashStatus;

const CHAT: &str = "/v1/chat/completions";

/// The second node's signer key.
fn second_signer() -> PrivateKey {
    PrivateKey::from_bytes([0x52; 32])
}

/// The two-key signer set both nodes are in: the first node's key, then the second's.
fn both_signers() -> FixedMerkleTree {
    FixedMerkleTree::new(
        4,
        &[node_signer().public_key().signer_leaf(), second_signer().public_key().signer_leaf()],
    )
    .expect("fits")
}

fn both_entries() -> Vec<String> {
    vec![
        public_key_to_string(&node_signer().public_key()),
        public_key_to_string(&second_signer().public_key()),
    ]
}

/// A deposit of four times `C_MAX` for the user with secret `k`, proving under the two-key
/// signer set, with `second` following the chain up to it.
async fn user_of_both(h: &Harness, k: u64, second: &RunningNode) -> User {
    let mut user = h.deposit(k, u128::from(h.c_max()) * 4).await;
    user.signer_root = both_signers().root();
    second.sync_chain().await.expect("sync");
    user
}

fn gossiping(c: &mut NodeConfig) {
    c.p2p.enabled = true;
    c.p2p.listen = vec!["/ip4/127.0.0.1/tcp/0".into()];
    c.p2p.verify_fraction = 1.0;
    c.p2p.slash_holdoff_secs = 3;
}

/// Where `node` listens on the share network, with its peer id.
async fn p2p_address(node: &RunningNode) -> zkcredits_p2p::Multiaddr {
    let client = node.p2p().expect("on the share network");
    for _ in 0..100 {
        if let Some(address) = client.listen_addresses().await.expect("addresses").first() {
            return address.clone().with(Protocol::P2p(client.local_peer_id()));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the node never listened")
}

/// Waits until `client` knows `count` peers on the topic.
async fn wait_for_topic_peers(client: &zkcredits_p2p::Client, count: usize) {
    for _ in 0..200 {
        if client.topic_peers().await.expect("peers").len() >= count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("peers never joined the topic")
}

/// The first node (the harness's), rotated with the escrow to the two-key set, and a second
/// node of the same escrow with the second key and another wallet, connected to it.
async fn two_nodes() -> (Harness, RunningNode, tempfile::TempDir) {
    two_nodes_with(|_| {}, |_| {}).await
}

/// [`two_nodes`] with `first` and `second` applied to the nodes' configurations.
async fn two_nodes_with(
    first: impl FnOnce(&mut NodeConfig),
    second: impl FnOnce(&mut NodeConfig),
) -> (Harness, RunningNode, tempfile::TempDir) {
    let h = first_node(first).await;
    let (second, dir) = second_node(&h, second).await;
    (h, second, dir)
}

/// The harness's node on the share network, rotated with the escrow to the two-key set.
async fn first_node(tweak: impl FnOnce(&mut NodeConfig)) -> Harness {
    let h = harness(|c| {
        gossiping(c);
        c.signer.next_set = both_entries();
        tweak(c);
    })
    .await;
    h.net.escrow.set_signer_root(both_signers().root()).await.expect("rotate");
    h.node.sync_chain().await.expect("sync");
    h
}

/// A second node of the harness's escrow, with the second key and another wallet, connected
/// to the first.
async fn second_node(
    h: &Harness,
    tweak: impl FnOnce(&mut NodeConfig),
) -> (RunningNode, tempfile::TempDir) {
    let (node, dir, _) = second_node_config(h, tweak).await;
    (node, dir)
}

/// [`second_node`], with its configuration (to start it again).
async fn second_node_config(
    h: &Harness,
    tweak: impl FnOnce(&mut NodeConfig),
) -> (RunningNode, tempfile::TempDir, NodeConfig) {
    let dir = tempfile::tempdir().expect("temp dir");
    write_signer_key(&dir.path().join("signer.json"), &second_signer()).expect("key file");
    let mut config = node_config(&h.net, dir.path(), &h.upstream.url());
    gossiping(&mut config);
    config.signer.set = both_entries();
    let wallet = dir.path().join("wallet2.hex");
    std::fs::write(&wallet, h.net.private_key_hex(2)).expect("wallet file");
    config.chain.wallet_key_file = wallet;
    config.p2p.bootstrap = vec![p2p_address(&h.node).await.to_string()];
    tweak(&mut config);
    let second = zkcredits_node::start(config.clone()).await.expect("second node starts");
    wait_for_topic_peers(second.p2p().expect("p2p"), 1).await;
    wait_for_topic_peers(h.node.p2p().expect("p2p"), 1).await;
    (second, dir, config)
}

/// Sends a paid request to `node`.
async fn send_to(
    node: &RunningNode,
    body: &[u8],
    envelope: &zkcredits_node::envelope::PaymentEnvelope,
) -> reqwest::Response {
    send_to_url(node.url(), body.to_vec(), envelope.clone()).await
}

/// Waits until `node` stores `count` shares of `nullifier`.
async fn wait_for_shares(node: &RunningNode, nullifier: &Fr, count: usize) {
    for _ in 0..400 {
        if node.store().shares(nullifier).expect("read").len() >= count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{count} shares never stored");
}

async fn error_code(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.expect("JSON");
    (status, body["error"]["code"].as_str().unwrap_or_default().to_owned())
}

/// Runs slash passes on both nodes until each records the slash of `identity` as landed.
async fn slash_until_landed(nodes: [&RunningNode; 2], identity: &Fr) -> [SlashStatus; 2] {
    for _ in 0..60 {
        for node in nodes {
            node.sync_chain().await.expect("sync");
            node.submit_slashes().await;
        }
        let statuses = nodes.map(|n| n.store().slash(identity).expect("read").map(|s| s.status));
        if statuses
            .iter()
            .all(|s| matches!(s, Some(SlashStatus::Landed { .. } | SlashStatus::Done { .. })))
        {
            return statuses.map(|s| s.expect("recorded"));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("the slash never landed at both nodes")
}

fn own_transaction(status: &SlashStatus) -> Option<[u8; 32]> {
    match status {
        SlashStatus::Landed { tx_hash } | SlashStatus::Done { tx_hash } => *tx_hash,
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_spent_at_two_nodes_is_refused_at_the_second_and_slashed_on_chain_once() {
    let (h, second, _dir) = two_nodes().await;
    let user = user_of_both(&h, 61, &second).await;

    // Served at the first node: its share reaches the second.
    let body = br#"{"messages":[{"content":"first spend"}]}"#;
    let paid = user.pay(&h, CHAT, body);
    let response = h.send(CHAT, body, Some(&paid.envelope)).await;
    assert_eq!(response.status(), 200);
    let _ = settlement_of(&response);
    let nullifier = paid.envelope.statement.nullifier;
    wait_for_shares(&second, &nullifier, 1).await;

    // The same ticket at the second node, for another request: refused, the secret recovered.
    let body = br#"{"messages":[{"content":"second spend, elsewhere"}]}"#;
    let again = user.pay(&h, CHAT, body);
    let response = send_to(&second, body, &again.envelope).await;
    assert_eq!(error_code(response).await, (403, "double_spend".into()));
    let identity = user.secret.commitment();
    assert!(second.store().slash(&identity).expect("read").is_some(), "detected at the second");

    // Its share goes out as evidence: the first node detects the double spend too.
    for _ in 0..200 {
        if h.node.store().slash(&identity).expect("read").is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(h.node.store().slash(&identity).expect("read").is_some(), "detected at the first");

    // Both detected; the one ranked first sends, the other finds it landed: one transaction.
    let statuses = slash_until_landed([&h.node, &second], &identity).await;
    let sent: Vec<_> = statuses.iter().filter_map(own_transaction).collect();
    assert_eq!(sent.len(), 1, "one slash transaction: {statuses:?}");
    second.shutdown().await.expect("second stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_shares_never_slash_convict_their_key_and_never_cost_honest_forwarders() {
    // The second node checks no proof (it forwards what it does not sample); the first checks
    // every one.
    let (h, second, _dir) = two_nodes_with(|_| {}, |c| c.p2p.verify_fraction = 0.0).await;
    let user = user_of_both(&h, 62, &second).await;
    let body = br#"{"messages":[{"content":"an honest spend"}]}"#;
    let paid = user.pay(&h, CHAT, body);
    assert_eq!(h.send(CHAT, body, Some(&paid.envelope)).await.status(), 200);
    let nullifier = paid.envelope.statement.nullifier;
    wait_for_shares(&second, &nullifier, 1).await;

    // A forger holding the second node's key binds its own peer id with it and publishes, to
    // both nodes, a share of the honest ticket with another x and a made-up y.
    let topic = zkcredits_node::share_topic(h.net.deployment.chain_id, &h.net.deployment.escrow);
    let forger = publisher(&topic, &[&h.node, &second]).await;
    let forged = forgery_of(&h, &paid.envelope, &forger);

    // First a share of a ticket nobody holds. The first node gets it from the forger and, as
    // a duplicate, from the second, which does not sample it and forwards it: the first finds
    // the proof invalid, bans the forger and convicts the key, and scores nobody, least of all
    // the honest forwarder (a penalty for the forger's own copy would reach every peer that
    // delivered the same bytes, and the second would be graylisted at the first).
    let mut fresh = forged.clone();
    fresh.statement.nullifier += Fr::from(2u64);
    forger.publish(fresh.encode()).await.expect("published");
    let first_metrics = h.url("/metrics");
    wait_for_metric(&first_metrics, r#"reason="invalid_proof"} 1"#).await;
    let second_metrics = format!("{}/metrics", second.url());
    wait_for_metric(&second_metrics, r#"reason="new_share"} 2"#).await;

    // Then the forgery of the honest ticket: at the second node it conflicts with the stored
    // share without revealing a secret, so the proof is checked there too: invalid, the key
    // convicted, the share not stored, nobody slashed.
    forger.publish(forged.encode()).await.expect("published");
    wait_for_metric(&second_metrics, r#"reason="invalid_proof"} 1"#).await;
    let identity = user.secret.commitment();
    assert!(second.store().slash(&identity).expect("read").is_none(), "nobody framed");
    assert!(h.node.store().slash(&identity).expect("read").is_none(), "nobody framed");
    assert_eq!(second.store().shares(&nullifier).expect("read").len(), 1, "not stored");

    // Anything bound to the convicted key, from any peer id, is refused before anything else.
    let again = publisher(&topic, &[&second]).await;
    let mut other = forged.clone();
    other.statement.nullifier += Fr::from(3u64);
    other.binding =
        PeerBinding::sign(&second_signer(), 1, &h.scope(), &again.local_peer_id().to_bytes());
    again.publish(other.encode()).await.expect("published");
    wait_for_metric(&second_metrics, r#"reason="faulty_publisher"} 1"#).await;

    // A key outside the signer set binds nothing.
    let stranger = publisher(&topic, &[&second]).await;
    let mut unbound = forged.clone();
    unbound.statement.nullifier += Fr::from(4u64);
    unbound.binding = PeerBinding::sign(
        &PrivateKey::from_bytes([0x77; 32]),
        0,
        &h.scope(),
        &stranger.local_peer_id().to_bytes(),
    );
    stranger.publish(unbound.encode()).await.expect("published");
    wait_for_metric(&second_metrics, r#"reason="unbound_publisher"} 1"#).await;

    // The honest nodes still hear each other and keep their scores. The first node's share
    // reaches the second; the second's reaches the first, which refuses it only because it
    // is bound to the convicted key (the operator must rotate it), not because the second
    // node was scored for the forger's copies: a graylisted peer is not heard at all.
    let next = user_of_both(&h, 66, &second).await;
    let body = br#"{"messages":[{"content":"after the forgeries"}]}"#;
    let paid = next.pay(&h, CHAT, body);
    assert_eq!(h.send(CHAT, body, Some(&paid.envelope)).await.status(), 200);
    wait_for_shares(&second, &paid.envelope.statement.nullifier, 1).await;
    let other = user_of_both(&h, 67, &second).await;
    let body = br#"{"messages":[{"content":"after the forgeries, at the second"}]}"#;
    let paid = other.pay(&h, CHAT, body);
    assert_eq!(send_to(&second, body, &paid.envelope).await.status(), 200);
    wait_for_metric(&first_metrics, r#"reason="faulty_publisher"} 1"#).await;
    let second_peer = second.p2p().expect("p2p").local_peer_id();
    let score = h.node.p2p().expect("p2p").score(second_peer).await.expect("score");
    assert!(matches!(score, Some(s) if s >= 0.0), "the forwarder keeps its score: {score:?}");
    for client in [forger, again, stranger] {
        client.shutdown().await;
    }
    second.shutdown().await.expect("second stops");
}

/// A share of `envelope`'s ticket with another `x` and a made-up `y`, its proof copied, bound
/// to `forger` with the second node's key (as someone holding that key could).
fn forgery_of(
    h: &Harness,
    envelope: &zkcredits_node::envelope::PaymentEnvelope,
    forger: &zkcredits_p2p::Client,
) -> ShareMessage {
    let mut statement = envelope.statement;
    statement.x += Fr::from(1u64);
    statement.y += Fr::from(7u64);
    ShareMessage {
        statement,
        proof: zkcredits_prover::encoding::proof_to_bytes(&envelope.proof)
            .try_into()
            .expect("128 bytes"),
        binding: PeerBinding::sign(
            &second_signer(),
            1,
            &h.scope(),
            &forger.local_peer_id().to_bytes(),
        ),
    }
}

/// A bare share-network peer on `topic`, connected to `nodes`.
async fn publisher(topic: &str, nodes: &[&RunningNode]) -> zkcredits_p2p::Client {
    let mut config = P2pConfig::new(Keypair::generate_ed25519(), topic);
    for node in nodes {
        config.bootstrap.push(p2p_address(node).await);
    }
    let (client, _events, _task) = zkcredits_p2p::start(config).await.expect("peer starts");
    wait_for_topic_peers(&client, nodes.len()).await;
    client
}

/// Waits until the metrics at `url` contain `needle`.
async fn wait_for_metric(url: &str, needle: &str) {
    let mut text = String::new();
    for _ in 0..400 {
        text = reqwest::get(url).await.expect("metrics").text().await.expect("text");
        if text.contains(needle) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{needle} never appeared in {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_being_served_stops_when_its_ticket_is_spent_at_another_node() {
    let (h, second, _dir) = two_nodes().await;
    let user = user_of_both(&h, 63, &second).await;

    // A slow upstream answer at the first node...
    let slow = br#"{"messages":[{"content":"slow"}],"sleep_ms":20000}"#;
    let paid = user.pay(&h, CHAT, slow);
    let first = tokio::spawn(send_to_url(h.node.url(), slow.to_vec(), paid.envelope.clone()));
    wait_for_shares(&second, &paid.envelope.statement.nullifier, 1).await;
    // ...while the ticket is spent at the second: refused there, and the evidence stops the
    // first, which answers at once instead of after the upstream's 20 s.
    let body = br#"{"messages":[{"content":"quick, elsewhere"}]}"#;
    let again = user.pay(&h, CHAT, body);
    assert_eq!(
        error_code(send_to(&second, body, &again.envelope).await).await,
        (403, "double_spend".into())
    );
    let response = first.await.expect("first request");
    assert_eq!(error_code(response).await, (403, "double_spend".into()));
    second.shutdown().await.expect("second stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_gossip_hold_a_double_spend_never_reaches_the_upstream() {
    let (h, second, _dir) = two_nodes_with(|c| c.p2p.gossip_hold_ms = 20_000, |_| {}).await;
    let user = user_of_both(&h, 64, &second).await;

    let held = br#"{"messages":[{"content":"held at the first node"}]}"#;
    let paid = user.pay(&h, CHAT, held);
    let first = tokio::spawn(send_to_url(h.node.url(), held.to_vec(), paid.envelope.clone()));
    wait_for_shares(&second, &paid.envelope.statement.nullifier, 1).await;
    let body = br#"{"messages":[{"content":"spent again at the second"}]}"#;
    let again = user.pay(&h, CHAT, body);
    assert_eq!(
        error_code(send_to(&second, body, &again.envelope).await).await,
        (403, "double_spend".into())
    );
    assert_eq!(error_code(first.await.expect("first request")).await, (403, "double_spend".into()));
    assert_eq!(h.upstream.calls.count(held), 0, "the held request never reached the upstream");
    assert_eq!(h.upstream.calls.count(body), 0);
    second.shutdown().await.expect("second stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_lagging_the_chain_holds_a_share_until_its_root_is_applied() {
    // The second node follows the chain only when told to.
    let (h, second, _dir) = two_nodes_with(
        |_| {},
        |c| {
            c.chain.poll_interval_ms = 3_600_000;
            c.limits.max_chain_lag_secs = 7_200;
        },
    )
    .await;
    let mut user = h.deposit(65, u128::from(h.c_max()) * 4).await;
    user.signer_root = both_signers().root();

    // Spent at the first node under a root the second has not applied: held, not stored.
    let body = br#"{"messages":[{"content":"under a new root"}]}"#;
    let paid = user.pay(&h, CHAT, body);
    assert_eq!(h.send(CHAT, body, Some(&paid.envelope)).await.status(), 200);
    let nullifier = paid.envelope.statement.nullifier;
    let metrics_url = format!("{}/metrics", second.url());
    for _ in 0..400 {
        let metrics =
            reqwest::get(&metrics_url).await.expect("metrics").text().await.expect("text");
        if metrics.contains("zkcredits_gossip_held 1") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let metrics = reqwest::get(&metrics_url).await.expect("metrics").text().await.expect("text");
    assert!(metrics.contains("zkcredits_gossip_held 1"), "{metrics}");
    assert!(second.store().shares(&nullifier).expect("read").is_empty());

    // Once it catches up, the held share is judged and stored: the same ticket spent there
    // is caught.
    second.sync_chain().await.expect("sync");
    wait_for_shares(&second, &nullifier, 1).await;
    let body = br#"{"messages":[{"content":"the same ticket at the lagging node"}]}"#;
    let again = user.pay(&h, CHAT, body);
    assert_eq!(
        error_code(send_to(&second, body, &again.envelope).await).await,
        (403, "double_spend".into())
    );
    assert!(second.store().slash(&user.secret.commitment()).expect("read").is_some());
    second.shutdown().await.expect("second stops");
}

async fn send_to_url(
    url: String,
    body: Vec<u8>,
    envelope: zkcredits_node::envelope::PaymentEnvelope,
) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{url}{CHAT}"))
        .header("content-type", "application/json")
        .header("zkcredits-payment", envelope.encode())
        .body(body)
        .send()
        .await
        .expect("answers")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_share_accepted_before_any_peer_joined_is_published_when_one_does() {
    let h = first_node(|_| {}).await;
    let mut user = h.deposit(67, u128::from(h.c_max()) * 4).await;
    user.signer_root = both_signers().root();
    let body = br#"{"messages":[{"content":"alone on the network"}]}"#;
    let paid = user.pay(&h, CHAT, body);
    assert_eq!(h.send(CHAT, body, Some(&paid.envelope)).await.status(), 200);

    let (second, _dir) = second_node(&h, |_| {}).await;
    wait_for_shares(&second, &paid.envelope.statement.nullifier, 1).await;
    second.shutdown().await.expect("second stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_served_at_one_node_and_sent_again_to_another_is_not_served_twice() {
    let (h, second, _dir) = two_nodes().await;
    let user = user_of_both(&h, 68, &second).await;
    let body = br#"{"messages":[{"content":"once"}]}"#;
    let paid = user.pay(&h, CHAT, body);
    assert_eq!(h.send(CHAT, body, Some(&paid.envelope)).await.status(), 200);
    wait_for_shares(&second, &paid.envelope.statement.nullifier, 1).await;
    // The same bytes at the other node: the same x, so no double spend, but served there.
    let response = send_to(&second, body, &paid.envelope).await;
    assert_eq!(error_code(response).await, (409, "served_elsewhere".into()));
    assert_eq!(h.upstream.calls.count(body), 1);
    second.shutdown().await.expect("second stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_at_another_node_of_the_provider_returns_the_settlement_of_the_node_that_served_it()
 {
    // The second node's libp2p key is made ahead, so each node can name the other.
    let key_dir = tempfile::tempdir().expect("temp dir");
    let second_key = Keypair::generate_ed25519();
    let second_key_file = key_dir.path().join("p2p.key");
    std::fs::write(&second_key_file, second_key.to_protobuf_encoding().expect("encodes"))
        .expect("key file");
    let second_peer = second_key.public().to_peer_id().to_base58();
    let h = first_node(|c| c.p2p.provider_peers = vec![second_peer]).await;
    let first_peer = h.node.p2p().expect("p2p").local_peer_id().to_base58();
    let (second, _dir) = second_node(&h, |c| {
        c.p2p.key_file = second_key_file;
        c.p2p.provider_peers = vec![first_peer];
    })
    .await;
    let user = user_of_both(&h, 73, &second).await;

    // Sent again to the second node while the first serves it: in progress there.
    let body = br#"{"messages":[{"content":"served by the first"}],"sleep_ms":8000}"#;
    let paid = user.pay(&h, CHAT, body);
    let first = tokio::spawn(send_to_url(h.node.url(), body.to_vec(), paid.envelope.clone()));
    wait_for_shares(&second, &paid.envelope.statement.nullifier, 1).await;
    let response = send_to(&second, body, &paid.envelope).await;
    assert_eq!(error_code(response).await, (409, "in_progress".into()));

    // Once served: the first node's settlement, fetched from it, and no second upstream call;
    // sent again, the settlement the second node checked and kept, without a question.
    let served = first.await.expect("first request");
    assert_eq!(served.status(), 200);
    let settlement = settlement_of(&served);
    for _ in 0..2 {
        let response = send_to(&second, body, &paid.envelope).await;
        assert_eq!(response.status(), 409);
        assert_eq!(settlement_of(&response), settlement);
        assert_eq!(error_code(response).await, (409, "replayed_request".into()));
    }
    assert_eq!(h.upstream.calls.count(body), 1);
    let metrics = reqwest::get(format!("{}/metrics", second.url())).await.expect("metrics");
    let metrics = metrics.text().await.expect("text");
    for outcome in ["settled", "in_progress"] {
        let line = format!(r#"zkcredits_settlements_asked_total{{outcome="{outcome}"}} 1"#);
        assert!(metrics.lines().any(|l| l == line), "{line} in\n{metrics}");
    }
    second.shutdown().await.expect("second stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_share_stored_ahead_of_a_ticket_does_not_stop_its_honest_spend() {
    // The second node checks no proof of a share it has no conflict for.
    let (h, second, _dir) = two_nodes_with(|_| {}, |c| c.p2p.verify_fraction = 0.0).await;
    let user = user_of_both(&h, 69, &second).await;
    let body = br#"{"messages":[{"content":"an honest spend, forged ahead"}]}"#;
    let paid = user.pay(&h, CHAT, body);

    // Someone holding a signer key and the ticket's nullifier (only its owner can compute it:
    // this is the worst case) stores a made-up share of it at the second node first.
    let topic = zkcredits_node::share_topic(h.net.deployment.chain_id, &h.net.deployment.escrow);
    let forger = publisher(&topic, &[&second]).await;
    let forged = forgery_of(&h, &paid.envelope, &forger);
    forger.publish(forged.encode()).await.expect("published");
    let nullifier = paid.envelope.statement.nullifier;
    wait_for_shares(&second, &nullifier, 1).await;

    // The honest spend at the second node: its share and the forged one reveal nothing, its
    // proof verifies, so it is served.
    let response = send_to(&second, body, &paid.envelope).await;
    assert_eq!(response.status(), 200);
    assert!(second.store().slash(&user.secret.commitment()).expect("read").is_none());
    forger.shutdown().await;
    second.shutdown().await.expect("second stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exit_reusing_a_ticket_spent_at_another_node_is_slashed_before_it_can_finish() {
    let (h, second, _dir) = two_nodes().await;
    let user = {
        let mut user = h.deposit(70, u128::from(h.c_max()) * 4).await;
        user.signer_root = both_signers().root();
        user
    };
    second.sync_chain().await.expect("sync");
    let body = br#"{"messages":[{"content":"spent at the second node"}]}"#;
    let paid = user.pay(&h, CHAT, body);
    assert_eq!(send_to(&second, body, &paid.envelope).await.status(), 200);
    wait_for_shares(&h.node, &paid.envelope.statement.nullifier, 1).await;

    // The user throws the settlement away and exits from the state it paid with: the exit
    // ticket is the one just spent at the second node.
    let (exit, proof) = user.exit(&h, h.net.anvil.addresses()[5]);
    h.net.escrow.request_exit(&exit, &proof).await.expect("exit requested");
    let identity = user.secret.commitment();
    let statuses = slash_until_landed([&h.node, &second], &identity).await;
    assert_eq!(statuses.iter().filter_map(own_transaction).count(), 1, "{statuses:?}");
    let record = h.net.escrow.deposit_record(identity).await.expect("record");
    assert_eq!(record.status, 4, "slashed while exiting");
    second.shutdown().await.expect("second stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_rejoins_with_its_peer_id_and_catches_spends_of_shares_it_stored_before() {
    let h = first_node(|_| {}).await;
    let (second, _dir, config) = second_node_config(&h, |_| {}).await;
    let peer = second.p2p().expect("p2p").local_peer_id();
    let user = user_of_both(&h, 71, &second).await;
    let body = br#"{"messages":[{"content":"before the restart"}]}"#;
    let paid = user.pay(&h, CHAT, body);
    assert_eq!(h.send(CHAT, body, Some(&paid.envelope)).await.status(), 200);
    wait_for_shares(&second, &paid.envelope.statement.nullifier, 1).await;
    second.shutdown().await.expect("second stops");

    let again = zkcredits_node::start(config).await.expect("second node starts again");
    assert_eq!(again.p2p().expect("p2p").local_peer_id(), peer, "same peer id");
    wait_for_topic_peers(again.p2p().expect("p2p"), 1).await;
    let body = br#"{"messages":[{"content":"after the restart, the same ticket"}]}"#;
    let reuse = user.pay(&h, CHAT, body);
    assert_eq!(
        error_code(send_to(&again, body, &reuse.envelope).await).await,
        (403, "double_spend".into())
    );
    again.shutdown().await.expect("second stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passive_slasher_with_no_upstream_catches_a_double_spend_between_two_nodes() {
    // Neither node has a wallet: only the slasher can send the slash.
    let no_wallet = |c: &mut NodeConfig| c.chain.wallet_key_file = std::path::PathBuf::new();
    let (h, second, _dir) = two_nodes_with(no_wallet, no_wallet).await;

    // The slasher: no signer key, an upstream that does not exist, the escrow's keys, a wallet.
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = node_config(&h.net, dir.path(), "http://127.0.0.1:1");
    gossiping(&mut config);
    config.p2p.passive = true;
    // Whatever key file the config names is not read.
    config.signer.key_file = dir.path().join("absent.json");
    config.signer.set = both_entries();
    let wallet = dir.path().join("wallet3.hex");
    std::fs::write(&wallet, h.net.private_key_hex(3)).expect("wallet file");
    config.chain.wallet_key_file = wallet;
    config.p2p.bootstrap = vec![p2p_address(&h.node).await.to_string()];
    let slasher = zkcredits_node::start(config).await.expect("the slasher starts");
    wait_for_topic_peers(slasher.p2p().expect("p2p"), 1).await;

    let user = user_of_both(&h, 72, &second).await;
    slasher.sync_chain().await.expect("sync");

    // It takes no payments, and says so.
    let info: serde_json::Value = reqwest::get(format!("{}/v1/info", slasher.url()))
        .await
        .expect("info")
        .json()
        .await
        .expect("JSON");
    assert_eq!(info["node"]["role"], "passive_slasher");
    assert!(info["payment"].is_null(), "{info}");
    let health: serde_json::Value = reqwest::get(format!("{}/healthz", slasher.url()))
        .await
        .expect("health")
        .json()
        .await
        .expect("JSON");
    assert_eq!(health["role"], "passive_slasher");
    let body = br#"{"messages":[{"content":"at the slasher"}]}"#;
    let paid = user.pay(&h, CHAT, body);
    assert_eq!(
        error_code(send_to(&slasher, body, &paid.envelope).await).await,
        (503, "not_in_signer_set".into())
    );

    // Spent at the first node, then at the second: the slasher holds both shares.
    let body = br#"{"messages":[{"content":"first"}]}"#;
    let paid = user.pay(&h, CHAT, body);
    assert_eq!(h.send(CHAT, body, Some(&paid.envelope)).await.status(), 200);
    wait_for_shares(&second, &paid.envelope.statement.nullifier, 1).await;
    let body = br#"{"messages":[{"content":"second"}]}"#;
    let again = user.pay(&h, CHAT, body);
    assert_eq!(
        error_code(send_to(&second, body, &again.envelope).await).await,
        (403, "double_spend".into())
    );
    let identity = user.secret.commitment();
    for _ in 0..120 {
        slasher.sync_chain().await.expect("sync");
        slasher.submit_slashes().await;
        if let Some(
            SlashStatus::Landed { tx_hash: Some(_) } | SlashStatus::Done { tx_hash: Some(_) },
        ) = slasher.store().slash(&identity).expect("read").map(|s| s.status)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let status = slasher.store().slash(&identity).expect("read").map(|s| s.status);
    assert!(own_transaction(status.as_ref().expect("detected")).is_some(), "{status:?}");
    assert_ne!(h.net.escrow.deposit_record(identity).await.expect("record").leaf, 0);
    slasher.shutdown().await.expect("slasher stops");
    second.shutdown().await.expect("second stops");
}
