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

/// Answers every question `events` delivers with its bytes reversed.
fn answer_reversed(mut events: Receiver<Event>) {
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            if let Event::Request { data, responder, .. } = event {
                responder.respond(data.into_iter().rev().collect());
            }
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_providers_nodes_ask_each_other_and_nobody_else_asks_or_is_asked() {
    let (a_key, b_key) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
    let (a_id, b_id) = (a_key.public().to_peer_id(), b_key.public().to_peer_id());
    let a = node(|c| {
        c.keypair = a_key;
        c.provider_peers = vec![b_id];
    })
    .await;
    let b = node(|c| {
        c.keypair = b_key;
        c.provider_peers = vec![a_id];
    })
    .await;
    // A stranger lists `a` as its provider peer; `a` does not list it.
    let stranger = node(|c| c.provider_peers = vec![a_id]).await;
    a.client.dial(b.address.clone()).await.expect("a dials b");
    stranger.client.dial(a.address.clone()).await.expect("the stranger dials a");
    answer_reversed(a.events);
    answer_reversed(b.events);

    let mut answer = Err(P2pError::Stopped);
    for _ in 0..100 {
        answer = a.client.ask(b_id, b"question".to_vec()).await;
        if answer.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(answer.expect("b answers a"), b"noitseuq".to_vec());
    assert_eq!(b.client.ask(a_id, b"ab".to_vec()).await.expect("a answers b"), b"ba".to_vec());

    // Nobody outside the list is asked, and a question from outside goes unanswered.
    let stranger_id = stranger.client.local_peer_id();
    assert!(matches!(
        a.client.ask(stranger_id, b"?".to_vec()).await,
        Err(P2pError::NotProviderPeer { .. })
    ));
    assert!(matches!(
        stranger.client.ask(a_id, b"let me in".to_vec()).await,
        Err(P2pError::Unanswered { .. })
    ));
    // Questions larger than a message are not sent.
    assert!(matches!(a.client.ask(b_id, vec![0; 5_000]).await, Err(P2pError::TooLarge { .. })));
}
