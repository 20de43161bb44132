//! The zkcredits share network: how nodes tell each other about every share they accept, so a
//! ticket spent at two nodes reveals its owner's secret at once.
//!
//! ## Bird's eye view
//!
//! This crate knows libp2p and nothing else: no HTTP, no storage, no proofs. It carries opaque
//! messages on one gossipsub topic and asks its user to judge each one.
//!
//! - [`start`] builds a swarm (TCP, Noise, Yamux; gossipsub with manual validation and
//!   content-addressed message ids; peer scoring; identify; ping; Kademlia discovery beyond the
//!   static bootstrap peers) and runs it in an [`EventLoop`](event_loop) task.
//! - The node talks to it through channels, in the shape of rust-libp2p's file-sharing example:
//!   a cloneable [`Client`] sends commands (publish, report a verdict, dial, ask for peers and
//!   scores, shut down), and a bounded receiver yields [`Event`]s (messages to judge, peers
//!   coming and going).
//! - Every message received must be judged with [`Client::report`]: [`Verdict::Accept`]
//!   forwards it, [`Verdict::Ignore`] drops it, [`Verdict::Reject`] drops it and costs every
//!   peer that sent it enough score to be graylisted (its traffic is then ignored).
//! - Before a message reaches the user, the loop drops (as ignored) what a peer sends beyond
//!   its allowance (`messages_per_peer_per_sec`, bursts of `message_burst`) and what arrives
//!   while the user's queue is full: a flood costs its sender, and memory stays bounded.
//! - A provider's own nodes ([`P2pConfig::provider_peers`]) also ask each other questions
//!   directly (request-response, one stream per question): [`Client::ask`] sends one, and an
//!   [`Event::Request`] delivers one, to be answered through its [`Responder`]. Nobody else is
//!   asked or answered; with no provider peers the protocol is not even offered.

mod error;
mod event_loop;

pub use error::P2pError;
pub use libp2p::{Multiaddr, PeerId, gossipsub::MessageId, identity::Keypair, multiaddr::Protocol};

use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// How a node joins the network.
#[derive(Debug, Clone)]
pub struct P2pConfig {
    /// The node's identity (its peer id is derived from it).
    pub keypair: Keypair,
    /// Where to listen, e.g. `/ip4/0.0.0.0/tcp/7788`.
    pub listen: Vec<Multiaddr>,
    /// Peers dialled at start; Kademlia finds more through them. Each ends in `/p2p/<peer id>`.
    pub bootstrap: Vec<Multiaddr>,
    /// The gossipsub topic, e.g. `zkcredits/shares/1/<chain id>/<escrow>`.
    pub topic: String,
    /// Largest message carried, in bytes (every node of a network must agree).
    pub max_message_bytes: usize,
    /// Messages one peer may send per second, sustained, before the rest are ignored.
    pub messages_per_peer_per_sec: u32,
    /// Messages one peer may send at once after a quiet spell.
    pub message_burst: u32,
    /// Messages waiting for the user's verdict at most; beyond, new ones are ignored.
    pub queue: usize,
    /// How long a connection without traffic is kept.
    pub idle_timeout: Duration,
    /// The other nodes of this node's provider: the only peers it asks and answers (their
    /// peer ids are authenticated by Noise).
    pub provider_peers: Vec<PeerId>,
    /// How long a question to a provider peer may take, answer included.
    pub ask_timeout: Duration,
    /// Whether to receive the topic's messages. A publish-only peer (a load generator, a
    /// client that only announces) does not: it publishes to the peers it knows subscribed.
    pub subscribe: bool,
}

impl P2pConfig {
    /// A configuration with the defaults for `keypair` on `topic`: listen on a free loopback
    /// port, no bootstrap peers, 4 KiB messages, 500 messages per peer per second (bursts of
    /// 2,000), 8,192 waiting messages, connections kept 2 minutes, no provider peers, questions
    /// answered within 5 seconds, subscribed to the topic.
    pub fn new(keypair: Keypair, topic: impl Into<String>) -> Self {
        Self {
            keypair,
            listen: vec![
                Multiaddr::from(std::net::Ipv4Addr::LOCALHOST)
                    .with(libp2p::multiaddr::Protocol::Tcp(0)),
            ],
            bootstrap: Vec::new(),
            topic: topic.into(),
            max_message_bytes: 4 << 10,
            messages_per_peer_per_sec: 500,
            message_burst: 2_000,
            queue: 8_192,
            idle_timeout: Duration::from_secs(120),
            provider_peers: Vec::new(),
            ask_timeout: Duration::from_secs(5),
            subscribe: true,
        }
    }
}

/// What the user decides about a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Valid: forward it to the mesh.
    Accept,
    /// Not useful (a duplicate, a share of a root not applied yet that cannot be held): drop it,
    /// no penalty.
    Ignore,
    /// Invalid: drop it and penalize every peer that sent it.
    Reject,
}

/// Answers one [`Event::Request`]; dropping it leaves the question unanswered (the asker sees
/// a failure).
#[derive(Debug)]
pub struct Responder(oneshot::Sender<Vec<u8>>);

impl Responder {
    /// Sends `answer` (1 to [`P2pConfig::max_message_bytes`] bytes; any other is not sent).
    pub fn respond(self, answer: Vec<u8>) {
        let _ = self.0.send(answer);
    }
}

/// What the network reports.
#[derive(Debug)]
pub enum Event {
    /// A message to judge with [`Client::report`].
    Message {
        /// Its id (a hash of its bytes).
        id: MessageId,
        /// The peer that forwarded it to us (the one a verdict scores).
        source: PeerId,
        /// The peer that published it and signed it (gossipsub checks the signature).
        author: PeerId,
        /// Its bytes.
        data: Vec<u8>,
    },
    /// A question from one of this provider's nodes, to answer with `responder`.
    Request {
        /// The provider peer that asks.
        peer: PeerId,
        /// The question's bytes.
        data: Vec<u8>,
        /// Where the answer goes.
        responder: Responder,
    },
    /// A connection to a peer opened.
    PeerConnected(PeerId),
    /// The last connection to a peer closed.
    PeerDisconnected(PeerId),
}

/// Commands the [`Client`] sends to the event loop.
#[derive(Debug)]
enum Command {
    Publish { data: Vec<u8>, reply: oneshot::Sender<Result<MessageId, P2pError>> },
    Report { id: MessageId, source: PeerId, verdict: Verdict },
    Dial { address: Multiaddr, reply: oneshot::Sender<Result<(), P2pError>> },
    ListenAddresses { reply: oneshot::Sender<Vec<Multiaddr>> },
    Peers { reply: oneshot::Sender<Vec<PeerId>> },
    TopicPeers { reply: oneshot::Sender<Vec<PeerId>> },
    Ban { peer: PeerId },
    Unban { peer: PeerId },
    Score { peer: PeerId, reply: oneshot::Sender<Option<f64>> },
    Ask { peer: PeerId, data: Vec<u8>, reply: oneshot::Sender<Result<Vec<u8>, P2pError>> },
    Shutdown,
}

/// The node's handle on the network: cheap to clone, every call goes through the event loop.
#[derive(Debug, Clone)]
pub struct Client {
    commands: mpsc::Sender<Command>,
    local_peer_id: PeerId,
    ask_timeout: Duration,
}

/// Commands queued for the event loop at most (a full queue makes callers wait).
const COMMAND_QUEUE: usize = 1_024;

/// Starts the network: binds the listen addresses, dials the bootstrap peers, subscribes to the
/// topic and runs the event loop on the current tokio runtime. Returns the client, the events
/// and the loop's task (it ends after [`Client::shutdown`]).
pub async fn start(
    config: P2pConfig,
) -> Result<(Client, mpsc::Receiver<Event>, tokio::task::JoinHandle<()>), P2pError> {
    let local_peer_id = config.keypair.public().to_peer_id();
    let (commands, command_receiver) = mpsc::channel(COMMAND_QUEUE);
    let (events, event_receiver) = mpsc::channel(config.queue.max(1));
    let event_loop = event_loop::EventLoop::new(&config, command_receiver, events)?;
    let task = tokio::spawn(event_loop.run());
    let ask_timeout = config.ask_timeout;
    Ok((Client { commands, local_peer_id, ask_timeout }, event_receiver, task))
}

impl Client {
    /// This node's peer id.
    pub fn local_peer_id(&self) -> PeerId {
        self.local_peer_id
    }

    async fn call<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, P2pError> {
        let (reply, answer) = oneshot::channel();
        self.commands.send(command(reply)).await.map_err(|_| P2pError::Stopped)?;
        answer.await.map_err(|_| P2pError::Stopped)
    }

    /// Publishes `data` on the topic. The same bytes published twice are one message: the
    /// second publish returns the same id.
    pub async fn publish(&self, data: Vec<u8>) -> Result<MessageId, P2pError> {
        self.call(|reply| Command::Publish { data, reply }).await?
    }

    /// Judges a message [`Event::Message`] delivered.
    pub async fn report(
        &self,
        id: MessageId,
        source: PeerId,
        verdict: Verdict,
    ) -> Result<(), P2pError> {
        self.commands
            .send(Command::Report { id, source, verdict })
            .await
            .map_err(|_| P2pError::Stopped)
    }

    /// Dials `address` (ending in `/p2p/<peer id>`); returns once the dial started.
    pub async fn dial(&self, address: Multiaddr) -> Result<(), P2pError> {
        self.call(|reply| Command::Dial { address, reply }).await?
    }

    /// The addresses the node listens on.
    pub async fn listen_addresses(&self) -> Result<Vec<Multiaddr>, P2pError> {
        self.call(|reply| Command::ListenAddresses { reply }).await
    }

    /// The peers the node is connected to.
    pub async fn peers(&self) -> Result<Vec<PeerId>, P2pError> {
        self.call(|reply| Command::Peers { reply }).await
    }

    /// Drops everything `peer` publishes or sends from now on, without scoring the peers that
    /// forward its messages (gossipsub's blacklist).
    pub async fn ban(&self, peer: PeerId) -> Result<(), P2pError> {
        self.commands.send(Command::Ban { peer }).await.map_err(|_| P2pError::Stopped)
    }

    /// Lifts a [`Client::ban`].
    pub async fn unban(&self, peer: PeerId) -> Result<(), P2pError> {
        self.commands.send(Command::Unban { peer }).await.map_err(|_| P2pError::Stopped)
    }

    /// The peers known to be subscribed to the topic: those a publish reaches.
    pub async fn topic_peers(&self) -> Result<Vec<PeerId>, P2pError> {
        self.call(|reply| Command::TopicPeers { reply }).await
    }

    /// Asks `peer`, one of this provider's nodes, the question `data` (1 to
    /// [`P2pConfig::max_message_bytes`] bytes) and waits for its answer (at most
    /// [`P2pConfig::ask_timeout`]).
    pub async fn ask(&self, peer: PeerId, data: Vec<u8>) -> Result<Vec<u8>, P2pError> {
        // The swarm's own timeout starts once a stream is open: dialling and negotiating come
        // first.
        let asked = self.call(|reply| Command::Ask { peer, data, reply });
        tokio::time::timeout(self.ask_timeout, asked).await.map_err(|_| {
            P2pError::Unanswered {
                peer: peer.to_base58(),
                reason: format!("no answer within {:?}", self.ask_timeout),
            }
        })??
    }

    /// `peer`'s gossipsub score as this node sees it.
    pub async fn score(&self, peer: PeerId) -> Result<Option<f64>, P2pError> {
        self.call(|reply| Command::Score { peer, reply }).await
    }

    /// Stops the event loop (its connections close).
    pub async fn shutdown(&self) {
        let _ = self.commands.send(Command::Shutdown).await;
    }
}
