//! Real swarms on loopback: messages travel only once judged valid, an invalid one gets its
//! sender graylisted, duplicates are one message, a burst within the allowance arrives whole,
//! floods are cut at the allowance.

use std::time::Duration;
use tokio::sync::mpsc::Receiver;
use zkcredits_p2p::{
    Client, Event, Keypair, MessageId, Multiaddr, P2pConfig, P2pError, PeerId, Protocol, Verdict,
};

const TOPIC: &str = "zkcredits/test/1";

struct Node {
    client: Client,
    events: Receiver<Event>,
    address: Multiaddr,
}

async fn node(tweak: impl FnOnce(&mut P2pConfig)) -> Node {
    let mut config = P2pConfig::new(Keypair::generate_ed25519(), TOPIC);
    tweak(&mut config);
    let (client, events, _task) = zkcredits_p2p::start(config).await.expect("starts");
    let mut listening = Vec::new();
    for _ in 0..100 {
        listening = client.listen_addresses().await.expect("addresses");
        if !listening.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let address =
        listening.first().expect("listening").clone().with(Protocol::P2p(client.local_peer_id()));
    Node { client, events, address }
}

/// The next message, skipping peer events; `None` after `wait`.
async fn next_message(
    events: &mut Receiver<Event>,
    wait: Duration,
) -> Option<(MessageId, PeerId, Vec<u8>)> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(Event::Message { id, source, data, .. })) => return Some((id, source, data)),
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => return None,
        }
    }
}

/// Publishes once a peer has joined the topic (right after connecting, none has yet).
async fn publish(client: &Client, data: &[u8]) -> MessageId {
    for _ in 0..200 {
        match client.publish(data.to_vec()).await {
            Ok(id) => return id,
            Err(P2pError::Publish(_)) => tokio::time::sleep(Duration::from_millis(25)).await,
            Err(e) => panic!("{e}"),
        }
    }
    panic!("no peer joined the topic")
}

/// Three nodes in a line: a — b — c.
async fn line() -> (Node, Node, Node) {
    let (a, b, c) = (node(|_| {}).await, node(|_| {}).await, node(|_| {}).await);
    a.client.dial(b.address.clone()).await.expect("a dials b");
    c.client.dial(b.address.clone()).await.expect("c dials b");
    (a, b, c)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_travels_on_once_accepted_and_a_duplicate_is_one_message() {
    let (a, mut b, mut c) = line().await;
    let id = publish(&a.client, b"share 1").await;
    let (got, source, data) =
        next_message(&mut b.events, Duration::from_secs(10)).await.expect("b gets it");
    assert_eq!(
        (got.clone(), source, data.as_slice()),
        (id.clone(), a.client.local_peer_id(), &b"share 1"[..])
    );
    // Not forwarded before b judged it.
    assert!(next_message(&mut c.events, Duration::from_millis(500)).await.is_none());
    b.client.report(got, source, Verdict::Accept).await.expect("report");
    let (_, source, data) =
        next_message(&mut c.events, Duration::from_secs(10)).await.expect("c gets it");
    assert_eq!((source, data.as_slice()), (b.client.local_peer_id(), &b"share 1"[..]));

    // The same bytes again are the same message: nobody sees it twice.
    assert_eq!(a.client.publish(b"share 1".to_vec()).await.expect("publish"), id);
    assert!(next_message(&mut b.events, Duration::from_millis(500)).await.is_none());

    // Too large for the network: refused at once.
    let big = vec![0u8; 5_000];
    assert!(matches!(
        a.client.publish(big).await,
        Err(P2pError::TooLarge { size: 5_000, max: 4_096 })
    ));
    for n in [a, b, c] {
        n.client.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_message_stops_there_and_graylists_its_sender() {
    let (a, mut b, mut c) = line().await;
    publish(&a.client, b"forged share").await;
    let (id, source, _) =
        next_message(&mut b.events, Duration::from_secs(10)).await.expect("b gets it");
    b.client.report(id, source, Verdict::Reject).await.expect("report");
    assert!(
        next_message(&mut c.events, Duration::from_millis(800)).await.is_none(),
        "never forwarded"
    );
    // b now scores a below the graylist threshold (-80) and ignores what it sends.
    let mut score = None;
    for _ in 0..100 {
        score = b.client.score(a.client.local_peer_id()).await.expect("score");
        if score.is_some_and(|s| s < -80.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(score.is_some_and(|s| s < -80.0), "score {score:?}");
    assert_eq!(
        c.client.score(b.client.local_peer_id()).await.expect("score"),
        Some(0.0),
        "b is not blamed"
    );
    publish(&a.client, b"another").await;
    assert!(next_message(&mut b.events, Duration::from_millis(800)).await.is_none(), "graylisted");
    for n in [a, b, c] {
        n.client.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_from_one_peer_is_cut_at_its_allowance() {
    // No refill: whatever the timing, exactly the burst gets through.
    let a = node(|_| {}).await;
    let mut b = node(|c| {
        c.messages_per_peer_per_sec = 0;
        c.message_burst = 5;
    })
    .await;
    a.client.dial(b.address.clone()).await.expect("dial");
    publish(&a.client, b"message 0").await;
    for i in 1..40 {
        a.client.publish(format!("message {i}").into_bytes()).await.expect("publish");
    }
    let mut delivered = 0;
    while delivered < 5 {
        let (id, source, _) = next_message(&mut b.events, Duration::from_secs(30))
            .await
            .unwrap_or_else(|| panic!("only {delivered} of the burst of 5 delivered"));
        b.client.report(id, source, Verdict::Accept).await.expect("report");
        delivered += 1;
    }
    assert!(
        next_message(&mut b.events, Duration::from_secs(2)).await.is_none(),
        "the other 35 are ignored"
    );
    for n in [a, b] {
        n.client.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_within_the_allowance_arrives_whole() {
    // 1,000 messages of ~150 bytes queue up far more than one message's size on the stream
    // before the receiver reads: none may be lost to the frame limit.
    let a = node(|_| {}).await;
    let mut b = node(|_| {}).await;
    a.client.dial(b.address.clone()).await.expect("dial");
    publish(&a.client, b"burst 0").await;
    for i in 1..1_000 {
        a.client.publish(format!("burst {i}").into_bytes()).await.expect("publish");
    }
    let mut seen = std::collections::HashSet::new();
    while seen.len() < 1_000 {
        let (id, source, data) = next_message(&mut b.events, Duration::from_secs(30))
            .await
            .unwrap_or_else(|| panic!("only {} of 1,000 delivered", seen.len()));
        b.client.report(id, source, Verdict::Accept).await.expect("report");
        seen.insert(data);
    }
    for n in [a, b] {
        n.client.shutdown().await;
    }
}
