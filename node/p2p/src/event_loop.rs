//! The swarm and the loop that drives it: commands from the [`Client`](crate::Client) in,
//! [`Event`]s out.

use crate::{Command, Event, P2pConfig, P2pError, Responder, Verdict};
use futures::{
    AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, StreamExt, future::BoxFuture,
    stream::FuturesUnordered,
};
use libp2p::{
    PeerId, StreamProtocol, Swarm, SwarmBuilder, gossipsub, identify, kad,
    multiaddr::Protocol,
    noise, ping,
    request_response::{self, OutboundRequestId, ProtocolSupport, ResponseChannel},
    swarm::{NetworkBehaviour, SwarmEvent},
    tcp, yamux,
};
use sha2::{Digest, Sha256};
use std::{
    collections::{HashMap, HashSet},
    io,
    time::{Duration, Instant},
};
use tokio::sync::{mpsc, oneshot};

/// The protocol names: identify's version string and the Kademlia protocol.
const PROTOCOL_VERSION: &str = "/zkcredits/1.0.0";
const KAD_PROTOCOL: StreamProtocol = StreamProtocol::new("/zkcredits/kad/1.0.0");
/// Questions between a provider's own nodes.
const PROVIDER_PROTOCOL: StreamProtocol = StreamProtocol::new("/zkcredits/provider/1.0.0");

/// Questions waiting for an answer at most, asked and being answered each: the provider's
/// nodes are few and answer from storage.
const MAX_OPEN_QUESTIONS: usize = 256;

/// Peers whose allowance is tracked at most; beyond, the allowances of peers that left go.
const MAX_TRACKED_PEERS: usize = 4_096;

/// The largest gossipsub frame (one RPC) accepted. libp2p-gossipsub 0.50 checks this against
/// everything buffered on the stream, not one frame: up to the largest frame plus one 8 KiB read.
/// Frames carry one message or at most [`MAX_CONTROL_BYTES`] of control, so 64 KiB always holds;
/// a tighter cap would make a receiver that falls behind drop a burst it was sent whole.
const MAX_FRAME_BYTES: usize = 64 << 10;

/// Control (IHAVE, IWANT, GRAFT, PRUNE, subscriptions) in one RPC at most (gossipsub's default),
/// and the message ids one IHAVE announces or one IWANT asks for: 400 ids of 32 bytes fit in it.
const MAX_CONTROL_BYTES: usize = 16 << 10;
const MAX_IDS_PER_CONTROL: usize = 400;

/// What gossipsub adds around a message's data (source, sequence number, topic, signature).
const ENVELOPE_BYTES: usize = 1 << 10;

#[derive(NetworkBehaviour)]
pub(crate) struct Behaviour {
    gossipsub: gossipsub::Behaviour,
    identify: identify::Behaviour,
    ping: ping::Behaviour,
    kademlia: kad::Behaviour<kad::store::MemoryStore>,
    provider: request_response::Behaviour<BytesCodec>,
}

/// Questions and answers as raw bytes, one per stream, from 1 to `max` bytes each: a stream
/// closed without a byte is a question left unanswered.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BytesCodec {
    max: usize,
}

impl BytesCodec {
    async fn read<T: AsyncRead + Unpin + Send>(&self, io: &mut T) -> io::Result<Vec<u8>> {
        let mut bytes = Vec::new();
        io.take(self.max as u64 + 1).read_to_end(&mut bytes).await?;
        if bytes.is_empty() {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed without an answer"));
        }
        if bytes.len() > self.max {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("more than {} bytes", self.max),
            ));
        }
        Ok(bytes)
    }

    async fn write<T: AsyncWrite + Unpin + Send>(
        &self,
        io: &mut T,
        bytes: &[u8],
    ) -> io::Result<()> {
        if bytes.is_empty() || bytes.len() > self.max {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} bytes, more than {}", bytes.len(), self.max),
            ));
        }
        io.write_all(bytes).await?;
        io.close().await
    }
}

impl request_response::Codec for BytesCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        self.read(io).await
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        self.read(io).await
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        self.write(io, &request).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        response: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        self.write(io, &response).await
    }
}

/// An answer the user is preparing, with the channel it goes out on.
type Answer = BoxFuture<'static, Option<(ResponseChannel<Vec<u8>>, Vec<u8>)>>;

/// A peer's message allowance (token bucket).
#[derive(Debug, Clone, Copy)]
struct Allowance {
    tokens: f64,
    at: Instant,
}

/// Drives the swarm.
pub(crate) struct EventLoop {
    swarm: Swarm<Behaviour>,
    topic: gossipsub::IdentTopic,
    commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<Event>,
    max_message_bytes: usize,
    rate: f64,
    burst: f64,
    allowances: HashMap<PeerId, Allowance>,
    provider_peers: HashSet<PeerId>,
    /// Questions asked, by request, with where their answer goes.
    asked: HashMap<OutboundRequestId, oneshot::Sender<Result<Vec<u8>, P2pError>>>,
    /// Questions the user is answering.
    answering: FuturesUnordered<Answer>,
}

/// The gossipsub score parameters: a rejected message costs its sender enough to fall below
/// the graylist threshold (its traffic is then ignored) for about two minutes; nothing else
/// counts, so an honest peer's score stays at zero.
fn score_parameters(topic: &gossipsub::IdentTopic) -> gossipsub::PeerScoreParams {
    let mut parameters = gossipsub::PeerScoreParams {
        // Test networks and co-hosted nodes share addresses.
        ip_colocation_factor_weight: 0.0,
        ..Default::default()
    };
    parameters.topics.insert(
        topic.hash(),
        gossipsub::TopicScoreParams {
            topic_weight: 1.0,
            time_in_mesh_weight: 0.0,
            first_message_deliveries_weight: 0.0,
            mesh_message_deliveries_weight: 0.0,
            mesh_failure_penalty_weight: 0.0,
            invalid_message_deliveries_weight: -1_000.0,
            invalid_message_deliveries_decay: 0.99,
            ..Default::default()
        },
    );
    parameters
}

impl EventLoop {
    pub(crate) fn new(
        config: &P2pConfig,
        commands: mpsc::Receiver<Command>,
        events: mpsc::Sender<Event>,
    ) -> Result<Self, P2pError> {
        let start = |e: &dyn std::fmt::Display| P2pError::Start(e.to_string());
        let topic = gossipsub::IdentTopic::new(&config.topic);
        let gossip_config = gossipsub::ConfigBuilder::default()
            .validation_mode(gossipsub::ValidationMode::Strict)
            .validate_messages()
            // Content-addressed: the same bytes from two nodes are one message.
            .message_id_fn(|message: &gossipsub::Message| {
                gossipsub::MessageId::from(Sha256::digest(&message.data).to_vec())
            })
            .max_transmit_size(MAX_FRAME_BYTES)
            .max_transmit_size_for_topic(config.max_message_bytes + ENVELOPE_BYTES, topic.hash())
            .max_control_message_size(MAX_CONTROL_BYTES)
            .max_control_messages_sent(MAX_IDS_PER_CONTROL)
            .heartbeat_interval(Duration::from_millis(500))
            .duplicate_cache_time(Duration::from_secs(120))
            .build()
            .map_err(|e| start(&e))?;
        let mut swarm = SwarmBuilder::with_existing_identity(config.keypair.clone())
            .with_tokio()
            .with_tcp(
                tcp::Config::default().nodelay(true),
                noise::Config::new,
                yamux::Config::default,
            )
            .map_err(|e| start(&e))?
            .with_behaviour(|key| -> Result<Behaviour, Box<dyn std::error::Error + Send + Sync>> {
                let mut gossipsub = gossipsub::Behaviour::new(
                    gossipsub::MessageAuthenticity::Signed(key.clone()),
                    gossip_config,
                )?;
                gossipsub.with_peer_score(
                    score_parameters(&topic),
                    gossipsub::PeerScoreThresholds::default(),
                )?;
                let peer_id = key.public().to_peer_id();
                let mut kademlia = kad::Behaviour::with_config(
                    peer_id,
                    kad::store::MemoryStore::new(peer_id),
                    kad::Config::new(KAD_PROTOCOL),
                );
                kademlia.set_mode(Some(kad::Mode::Server));
                // Offered only to a provider with other nodes: nobody else has anything to ask.
                let protocols = (!config.provider_peers.is_empty())
                    .then_some((PROVIDER_PROTOCOL, ProtocolSupport::Full));
                let provider = request_response::Behaviour::with_codec(
                    BytesCodec { max: config.max_message_bytes },
                    protocols,
                    request_response::Config::default()
                        .with_request_timeout(config.ask_timeout)
                        .with_max_concurrent_streams(MAX_OPEN_QUESTIONS),
                );
                Ok(Behaviour {
                    gossipsub,
                    identify: identify::Behaviour::new(identify::Config::new(
                        PROTOCOL_VERSION.into(),
                        key.public(),
                    )),
                    ping: ping::Behaviour::new(ping::Config::new()),
                    kademlia,
                    provider,
                })
            })
            .map_err(|e| start(&e))?
            .with_swarm_config(|c| c.with_idle_connection_timeout(config.idle_timeout))
            .build();
        if config.subscribe {
            swarm.behaviour_mut().gossipsub.subscribe(&topic).map_err(|e| start(&e))?;
        }
        for address in &config.listen {
            swarm.listen_on(address.clone()).map_err(|e| P2pError::Listen {
                address: address.to_string(),
                reason: e.to_string(),
            })?;
        }
        for address in &config.bootstrap {
            if let Some(Protocol::P2p(peer)) = address.iter().last() {
                swarm.behaviour_mut().kademlia.add_address(&peer, address.clone());
            }
            swarm.dial(address.clone()).map_err(|e| P2pError::Dial {
                address: address.to_string(),
                reason: e.to_string(),
            })?;
        }
        Ok(Self {
            swarm,
            topic,
            commands,
            events,
            max_message_bytes: config.max_message_bytes,
            rate: f64::from(config.messages_per_peer_per_sec),
            burst: f64::from(config.message_burst.max(1)),
            allowances: HashMap::new(),
            provider_peers: config.provider_peers.iter().copied().collect(),
            asked: HashMap::new(),
            answering: FuturesUnordered::new(),
        })
    }

    /// Runs until [`Command::Shutdown`] or until every [`Client`](crate::Client) is gone.
    pub(crate) async fn run(mut self) {
        loop {
            tokio::select! {
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                Some(answer) = self.answering.next(), if !self.answering.is_empty() => {
                    if let Some((channel, data)) = answer {
                        // Fails when the asker gave up meanwhile: nothing to do.
                        let _ = self.swarm.behaviour_mut().provider.send_response(channel, data);
                    }
                }
                command = self.commands.recv() => match command {
                    Some(Command::Shutdown) | None => return,
                    Some(command) => self.on_command(command),
                },
            }
        }
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Publish { data, reply } => {
                let _ = reply.send(self.publish(data));
            }
            Command::Report { id, source, verdict } => {
                let acceptance = match verdict {
                    Verdict::Accept => gossipsub::MessageAcceptance::Accept,
                    Verdict::Ignore => gossipsub::MessageAcceptance::Ignore,
                    Verdict::Reject => gossipsub::MessageAcceptance::Reject,
                };
                // False when the message left the cache meanwhile: nothing to forward then.
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .gossipsub
                    .report_message_validation_result(&id, &source, acceptance);
            }
            Command::Dial { address, reply } => {
                let dialled = self.swarm.dial(address.clone()).map_err(|e| P2pError::Dial {
                    address: address.to_string(),
                    reason: e.to_string(),
                });
                let _ = reply.send(dialled);
            }
            Command::ListenAddresses { reply } => {
                let _ = reply.send(self.swarm.listeners().cloned().collect());
            }
            Command::Peers { reply } => {
                let _ = reply.send(self.swarm.connected_peers().copied().collect());
            }
            Command::Ban { peer } => self.swarm.behaviour_mut().gossipsub.blacklist_peer(&peer),
            Command::Unban { peer } => {
                self.swarm.behaviour_mut().gossipsub.remove_blacklisted_peer(&peer);
            }
            Command::TopicPeers { reply } => {
                let topic = self.topic.hash();
                let peers = self
                    .swarm
                    .behaviour()
                    .gossipsub
                    .all_peers()
                    .filter(|(_, topics)| topics.contains(&&topic))
                    .map(|(peer, _)| *peer)
                    .collect();
                let _ = reply.send(peers);
            }
            Command::Score { peer, reply } => {
                let _ = reply.send(self.swarm.behaviour().gossipsub.peer_score(&peer));
            }
            Command::Ask { peer, data, reply } => {
                if !self.provider_peers.contains(&peer) {
                    let _ = reply.send(Err(P2pError::NotProviderPeer { peer: peer.to_base58() }));
                } else if data.len() > self.max_message_bytes {
                    let _ = reply.send(Err(P2pError::TooLarge {
                        size: data.len(),
                        max: self.max_message_bytes,
                    }));
                } else if self.asked.len() >= MAX_OPEN_QUESTIONS {
                    let _ = reply.send(Err(P2pError::Busy(self.asked.len())));
                } else {
                    let request = self.swarm.behaviour_mut().provider.send_request(&peer, data);
                    self.asked.insert(request, reply);
                }
            }
            Command::Shutdown => {}
        }
    }

    fn publish(&mut self, data: Vec<u8>) -> Result<gossipsub::MessageId, P2pError> {
        if data.len() > self.max_message_bytes {
            return Err(P2pError::TooLarge { size: data.len(), max: self.max_message_bytes });
        }
        let id = gossipsub::MessageId::from(Sha256::digest(&data).to_vec());
        match self.swarm.behaviour_mut().gossipsub.publish(self.topic.clone(), data) {
            Ok(id) => Ok(id),
            // Published before: the network has it already.
            Err(gossipsub::PublishError::Duplicate) => Ok(id),
            Err(e) => Err(P2pError::Publish(e.to_string())),
        }
    }

    /// Takes one message from `peer`'s allowance; `false` when it has none left.
    fn allow(&mut self, peer: PeerId) -> bool {
        let now = Instant::now();
        if self.allowances.len() >= MAX_TRACKED_PEERS {
            let connected: std::collections::HashSet<PeerId> =
                self.swarm.connected_peers().copied().collect();
            self.allowances.retain(|peer, _| connected.contains(peer));
        }
        let burst = self.burst;
        let allowance = self.allowances.entry(peer).or_insert(Allowance { tokens: burst, at: now });
        let tokens = (allowance.tokens
            + now.duration_since(allowance.at).as_secs_f64() * self.rate)
            .min(burst);
        *allowance = Allowance { tokens: (tokens - 1.0).max(0.0), at: now };
        tokens >= 1.0
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            })) => {
                // Strict validation refuses unsigned messages: every one here names its author.
                if let Some(author) = message.source {
                    self.on_message(propagation_source, author, message_id, message.data);
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Provider(event)) => self.on_provider_event(event),
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) if info.protocols.contains(&KAD_PROTOCOL) => {
                for address in info.listen_addrs {
                    self.swarm.behaviour_mut().kademlia.add_address(&peer_id, address);
                }
            }
            SwarmEvent::ConnectionEstablished { peer_id, num_established, .. }
                if num_established.get() == 1 =>
            {
                let _ = self.events.try_send(Event::PeerConnected(peer_id));
            }
            SwarmEvent::ConnectionClosed { peer_id, num_established: 0, .. } => {
                self.allowances.remove(&peer_id);
                let _ = self.events.try_send(Event::PeerDisconnected(peer_id));
            }
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!(%address, "p2p listening");
            }
            _ => {}
        }
    }

    fn on_provider_event(&mut self, event: request_response::Event<Vec<u8>, Vec<u8>>) {
        match event {
            request_response::Event::Message {
                peer,
                message: request_response::Message::Request { request, channel, .. },
                ..
            } => {
                // Dropping the channel leaves a stranger's (or a question too many) unanswered.
                if !self.provider_peers.contains(&peer) {
                    tracing::debug!(%peer, "question from a peer of another provider");
                    return;
                }
                if self.answering.len() >= MAX_OPEN_QUESTIONS {
                    tracing::debug!(%peer, "too many questions being answered");
                    return;
                }
                let (answer, answered) = oneshot::channel();
                let event = Event::Request { peer, data: request, responder: Responder(answer) };
                if let Err(e) = self.events.try_send(event) {
                    tracing::debug!("event queue full, question dropped: {e}");
                    return;
                }
                self.answering
                    .push(Box::pin(async move { answered.await.ok().map(|data| (channel, data)) }));
            }
            request_response::Event::Message {
                message: request_response::Message::Response { request_id, response },
                ..
            } => {
                if let Some(reply) = self.asked.remove(&request_id) {
                    let _ = reply.send(Ok(response));
                }
            }
            request_response::Event::OutboundFailure { peer, request_id, error, .. } => {
                if let Some(reply) = self.asked.remove(&request_id) {
                    let _ = reply.send(Err(P2pError::Unanswered {
                        peer: peer.to_base58(),
                        reason: error.to_string(),
                    }));
                }
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                tracing::debug!(%peer, "question not answered: {error}");
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }

    /// A message from `source`: rejected when larger than the network carries; handed to the
    /// user unless `source` is over its allowance or the user's queue is full (then ignored:
    /// dropped without penalty, never forwarded).
    fn on_message(
        &mut self,
        source: PeerId,
        author: PeerId,
        id: gossipsub::MessageId,
        data: Vec<u8>,
    ) {
        let judge = |swarm: &mut Swarm<Behaviour>, id: &gossipsub::MessageId, acceptance| {
            let _ = swarm
                .behaviour_mut()
                .gossipsub
                .report_message_validation_result(id, &source, acceptance);
        };
        if data.len() > self.max_message_bytes {
            tracing::debug!(%source, size = data.len(), "message larger than the network carries");
            judge(&mut self.swarm, &id, gossipsub::MessageAcceptance::Reject);
            return;
        }
        if !self.allow(source) {
            tracing::debug!(%source, "peer over its message allowance");
            judge(&mut self.swarm, &id, gossipsub::MessageAcceptance::Ignore);
            return;
        }
        if let Err(e) =
            self.events.try_send(Event::Message { id: id.clone(), source, author, data })
        {
            tracing::debug!("message queue full: {e}");
            judge(&mut self.swarm, &id, gossipsub::MessageAcceptance::Ignore);
        }
    }
}
