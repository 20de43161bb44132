//! The share network (spec/06): every share a node accepts is published, every share gossiped
//! to it is judged in ordered checks, cheap first, stored, and compared with the shares of its
//! ticket, so a ticket spent at two nodes reveals its owner's secret at both.
//!
//! A message is the share, its public signals, its proof and the publisher's binding of its
//! peer id to a signer-set key. The checks run in the order of [`Judgement`]; proofs are
//! checked for a sampled fraction of messages (`p2p.verify_fraction`) and always when a share
//! conflicts with a stored one without revealing a secret. An invalid proof under a valid
//! binding is evidence against its publisher: every later message of that peer is refused.
//! No message can frame anyone: a slash needs two shares whose slope hashes to the nullifier.

pub mod message;

pub use message::{DecodeError, PeerBinding, SHARE_MESSAGE_BYTES, ShareMessage};

use crate::{
    Metrics,
    pipeline::{NodeState, unix_now},
    verify::Lane,
};
use std::{
    collections::{HashMap, HashSet, VecDeque},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio_util::task::TaskTracker;
use zkcredits_p2p::{Client, Event, PeerId, Verdict};
use zkcredits_primitives::{Fr, rln::Share};
use zkcredits_prover::encoding::proof_from_bytes;
use zkcredits_storage::{ShareOrigin, ShareOutcome, StoredShare};

/// What a node decided about a gossiped share, in the order the checks run (spec/06
/// §Validation). Each has a stable reason string and a verdict for the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Judgement {
    /// IGNORE: a message version this node does not speak.
    UnsupportedVersion,
    /// REJECT: not a well-formed version-1 message.
    Malformed,
    /// REJECT: for another escrow.
    WrongScope,
    /// REJECT: another `C_MAX`.
    WrongCMax,
    /// REJECT: the publisher was caught publishing an invalid proof.
    FaultyPublisher,
    /// REJECT: the publisher's peer id is not bound to a key of the signer set.
    UnboundPublisher,
    /// IGNORE: the signer root is neither the escrow's nor an accepted earlier one.
    UnknownSignerRoot,
    /// IGNORE: `now` is ahead of the clock, or older than the share retention.
    TimeOutOfRange,
    /// IGNORE (held): the root is not one the node has applied; the share is checked again
    /// once the chain follower catches up.
    RootNotApplied,
    /// IGNORE: the node holds this share already.
    KnownShare,
    /// REJECT: the proof does not verify (or does not decode).
    InvalidProof,
    /// IGNORE: the node cannot check it now (its queues are full).
    Overloaded,
    /// ACCEPT: a new share, stored.
    NewShare,
    /// ACCEPT: a share that, with a stored one of its ticket, revealed the secret: stored, and
    /// the slash recorded.
    DoubleSpend,
}

impl Judgement {
    /// The stable reason string (spec/06, metrics labels).
    pub const fn reason(self) -> &'static str {
        match self {
            Self::UnsupportedVersion => "unsupported_version",
            Self::Malformed => "malformed",
            Self::WrongScope => "wrong_scope",
            Self::WrongCMax => "wrong_c_max",
            Self::FaultyPublisher => "faulty_publisher",
            Self::UnboundPublisher => "unbound_publisher",
            Self::UnknownSignerRoot => "unknown_signer_root",
            Self::TimeOutOfRange => "time_out_of_range",
            Self::RootNotApplied => "root_not_applied",
            Self::KnownShare => "known_share",
            Self::InvalidProof => "invalid_proof",
            Self::Overloaded => "overloaded",
            Self::NewShare => "new_share",
            Self::DoubleSpend => "double_spend",
        }
    }

    /// What the network is told.
    pub const fn verdict(self) -> Verdict {
        match self {
            Self::Malformed
            | Self::WrongScope
            | Self::WrongCMax
            | Self::FaultyPublisher
            | Self::UnboundPublisher
            | Self::InvalidProof => Verdict::Reject,
            Self::UnsupportedVersion
            | Self::UnknownSignerRoot
            | Self::TimeOutOfRange
            | Self::RootNotApplied
            | Self::KnownShare
            | Self::Overloaded => Verdict::Ignore,
            Self::NewShare | Self::DoubleSpend => Verdict::Accept,
        }
    }

    const fn verdict_label(self) -> &'static str {
        match self.verdict() {
            Verdict::Accept => "accept",
            Verdict::Ignore => "ignore",
            Verdict::Reject => "reject",
        }
    }
}

/// How the share network is run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GossipSettings {
    /// The fraction of shares from bound publishers whose proof is checked (1: all).
    pub verify_fraction: f64,
    /// Shares held for roots not applied yet, at most.
    pub max_held: usize,
    /// How long a share is held before it is dropped.
    pub hold: Duration,
    /// Shares received longer ago than this belong to notes long expired.
    pub retention_secs: u64,
    /// Messages judged at once, at most.
    pub max_judging: usize,
    /// How long a request waits between publishing its share and calling the upstream.
    pub serve_hold: Duration,
}

/// Peers remembered at most as bound or faulty.
const MAX_REMEMBERED_PEERS: usize = 4_096;
/// How often held shares are looked at again.
const HELD_RECHECK: Duration = Duration::from_millis(250);

/// A share waiting for its root.
#[derive(Debug)]
struct Held {
    message: ShareMessage,
    publisher: PeerId,
    until: Instant,
}

/// This node on the share network.
pub struct Gossip {
    state: Arc<NodeState>,
    client: Client,
    /// This node's binding; `None` for a passive slasher, which publishes nothing.
    binding: Option<PeerBinding>,
    settings: GossipSettings,
    /// Publishers whose binding verified, with the binding.
    bound: Mutex<HashMap<PeerId, PeerBinding>>,
    /// Publishers caught with an invalid proof under a valid binding.
    faulty: Mutex<HashSet<PeerId>>,
    held: Mutex<VecDeque<Held>>,
    judging: Arc<Semaphore>,
    tasks: TaskTracker,
}

impl std::fmt::Debug for Gossip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gossip").field("peer", &self.client.local_peer_id()).finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Gossip {
    /// The share network of `state`, publishing through `client` under `binding`.
    pub fn new(
        state: Arc<NodeState>,
        client: Client,
        binding: Option<PeerBinding>,
        settings: GossipSettings,
        tasks: TaskTracker,
    ) -> Self {
        Self {
            state,
            client,
            binding,
            settings,
            bound: Mutex::default(),
            faulty: Mutex::default(),
            held: Mutex::default(),
            judging: Arc::new(Semaphore::new(settings.max_judging.max(1))),
            tasks,
        }
    }

    /// How long a request waits, its share published, before the upstream is called.
    pub fn serve_hold(&self) -> Duration {
        self.settings.serve_hold
    }

    /// The network client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    fn metrics(&self) -> &Metrics {
        &self.state.metrics
    }

    /// Publishes a share this node accepted with a verified proof.
    pub async fn publish(
        &self,
        statement: &zkcredits_prover::inputs::RequestStatement,
        proof: &[u8; crate::envelope::PROOF_BYTES],
    ) {
        let Some(binding) = self.binding else { return };
        let message = ShareMessage { statement: *statement, proof: *proof, binding };
        match self.client.publish(message.encode()).await {
            Ok(_) => self.metrics().gossip_published("published"),
            Err(zkcredits_p2p::P2pError::Publish(e)) => {
                tracing::debug!("share not published: {e}");
                self.metrics().gossip_published("no_peers");
            }
            Err(e) => {
                tracing::warn!("share not published: {e}");
                self.metrics().gossip_published("failed");
            }
        }
    }

    /// Judges messages until `stop` fires or the network stops.
    pub async fn run(
        self: Arc<Self>,
        mut events: mpsc::Receiver<Event>,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut recheck = tokio::time::interval(HELD_RECHECK);
        recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                event = events.recv() => match event {
                    Some(Event::Message { id, source, author, data }) => {
                        let Ok(permit) = Arc::clone(&self.judging).try_acquire_owned() else {
                            self.judged(Judgement::Overloaded);
                            let _ = self.client.report(id, source, Verdict::Ignore).await;
                            continue;
                        };
                        let gossip = Arc::clone(&self);
                        self.tasks.spawn(async move {
                            let judgement = gossip.judge(author, &data).await;
                            gossip.judged(judgement);
                            let _ = gossip.client.report(id, source, judgement.verdict()).await;
                            drop(permit);
                        });
                    }
                    Some(Event::PeerConnected(_)) => self.metrics().gossip_peers(1),
                    Some(Event::PeerDisconnected(_)) => self.metrics().gossip_peers(-1),
                    None => return,
                },
                _ = recheck.tick() => self.recheck_held().await,
                _ = stop.changed() => return,
            }
        }
    }

    fn judged(&self, judgement: Judgement) {
        self.metrics().gossip_judged(judgement.verdict_label(), judgement.reason());
        if judgement.verdict() == Verdict::Reject {
            tracing::debug!(reason = judgement.reason(), "gossiped share rejected");
        }
    }

    /// Judges one message from `publisher` (spec/06 §Validation).
    pub async fn judge(self: &Arc<Self>, publisher: PeerId, data: &[u8]) -> Judgement {
        match self.check_message(publisher, data) {
            Err(judgement) => judgement,
            Ok(message) => {
                if !self.root_applied(&message.statement.root) {
                    self.hold(message, publisher);
                    return Judgement::RootNotApplied;
                }
                self.check_share(publisher, message).await
            }
        }
    }

    /// Checks 1–8: everything but the root, the store and the proof.
    fn check_message(&self, publisher: PeerId, data: &[u8]) -> Result<ShareMessage, Judgement> {
        let message = match ShareMessage::decode(data) {
            Ok(message) => message,
            Err(DecodeError::UnsupportedVersion(_)) => {
                return Err(Judgement::UnsupportedVersion);
            }
            Err(DecodeError::Malformed(_)) => return Err(Judgement::Malformed),
        };
        let s = &message.statement;
        let deployed = &self.state.deployed;
        if s.scope != deployed.scope {
            return Err(Judgement::WrongScope);
        }
        if s.c_max != deployed.c_max {
            return Err(Judgement::WrongCMax);
        }
        if lock(&self.faulty).contains(&publisher) {
            return Err(Judgement::FaultyPublisher);
        }
        if !self.is_bound(publisher, &message.binding) {
            return Err(Judgement::UnboundPublisher);
        }
        if !self.state.accepts_signer_root(&s.signer_root) {
            return Err(Judgement::UnknownSignerRoot);
        }
        let clock = unix_now();
        let ahead = self.state.limits.clock_tolerance_secs + self.state.limits.time_bucket_secs;
        if s.now > clock.saturating_add(ahead)
            || s.now.saturating_add(self.settings.retention_secs) < clock
        {
            return Err(Judgement::TimeOutOfRange);
        }
        Ok(message)
    }

    /// Whether `binding` binds `publisher` to a key of the escrow's signer set: checked once
    /// per publisher and binding, then remembered.
    fn is_bound(&self, publisher: PeerId, binding: &PeerBinding) -> bool {
        if lock(&self.bound).get(&publisher) == Some(binding) {
            return true;
        }
        let Some(keys) = self.state.active_signers() else { return false };
        let Some(key) = keys.get(usize::from(binding.signer_index)) else { return false };
        if !binding.verify(key, &self.state.deployed.scope, &publisher.to_bytes()) {
            return false;
        }
        let mut bound = lock(&self.bound);
        if bound.len() >= MAX_REMEMBERED_PEERS {
            bound.clear();
        }
        bound.insert(publisher, *binding);
        true
    }

    fn root_applied(&self, root: &Fr) -> bool {
        self.state
            .known_roots
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(root)
    }

    fn hold(&self, message: ShareMessage, publisher: PeerId) {
        let mut held = lock(&self.held);
        if held.len() >= self.settings.max_held {
            tracing::warn!(
                "held shares full (p2p.max_held_shares): a share of a root not applied yet is dropped"
            );
            return;
        }
        held.push_back(Held { message, publisher, until: Instant::now() + self.settings.hold });
        self.metrics().gossip_held(held.len());
    }

    /// Judges the held shares whose root was applied meanwhile; drops those held too long.
    async fn recheck_held(self: &Arc<Self>) {
        let ready: Vec<Held> = {
            let mut held = lock(&self.held);
            if held.is_empty() {
                return;
            }
            let now = Instant::now();
            let (ready, waiting): (Vec<_>, Vec<_>) =
                held.drain(..).partition(|h| self.root_applied(&h.message.statement.root));
            let before = waiting.len();
            held.extend(waiting.into_iter().filter(|h| h.until > now));
            if held.len() < before {
                tracing::info!(
                    dropped = before - held.len(),
                    "held shares whose root never came were dropped"
                );
            }
            self.metrics().gossip_held(held.len());
            ready
        };
        for h in ready {
            let judgement = self.check_share(h.publisher, h.message).await;
            self.judged(judgement);
        }
    }

    /// Checks 10–11 and the outcome: the store (a known share, a double spend), the proof when
    /// sampled or when the share conflicts without revealing a secret, then the share stored.
    async fn check_share(self: &Arc<Self>, publisher: PeerId, message: ShareMessage) -> Judgement {
        let s = &message.statement;
        let record = StoredShare {
            share: Share { nullifier: s.nullifier, x: s.x, y: s.y },
            received_at: unix_now(),
            origin: ShareOrigin::Gossip { peer: publisher.to_base58() },
        };
        let sampled = rand::random::<f64>() < self.settings.verify_fraction;
        let first = {
            let record = record.clone();
            self.state
                .blocking(move |node| {
                    let stored = node.shares_of(&record.share.nullifier)?;
                    if stored.iter().any(|t| t.share.x == record.share.x) {
                        return Ok(Some(Judgement::KnownShare));
                    }
                    if node.double_spend(&record.share, &stored)?.is_some() {
                        node.store_share(&record)?;
                        return Ok(Some(Judgement::DoubleSpend));
                    }
                    // A conflict that reveals nothing: one of the two proofs is invalid.
                    Ok((stored.is_empty() && !sampled)
                        .then(|| node.store_new(&record))
                        .transpose()?
                        .flatten())
                })
                .await
        };
        match first {
            Ok(Some(judgement)) => return judgement,
            Ok(None) => {}
            Err(_) => return Judgement::Overloaded,
        }
        match self.proof_valid(&message).await {
            Some(true) => {}
            Some(false) => {
                self.caught(publisher);
                return Judgement::InvalidProof;
            }
            None => return Judgement::Overloaded,
        }
        self.state
            .blocking(move |node| node.store_new(&record).map(|j| j.unwrap_or(Judgement::NewShare)))
            .await
            .unwrap_or(Judgement::Overloaded)
    }

    async fn proof_valid(&self, message: &ShareMessage) -> Option<bool> {
        let Ok(proof) = proof_from_bytes(&message.proof) else { return Some(false) };
        self.state.pool.verify(message.statement.public_signals(), proof, Lane::Batched).await.ok()
    }

    /// Records `publisher` as faulty: it published an invalid proof under a valid binding.
    fn caught(&self, publisher: PeerId) {
        tracing::error!(%publisher, "a bound publisher sent a share with an invalid proof; refusing its messages");
        let mut faulty = lock(&self.faulty);
        if faulty.len() < MAX_REMEMBERED_PEERS {
            faulty.insert(publisher);
        }
        lock(&self.bound).remove(&publisher);
    }
}

impl NodeState {
    /// Stores a gossiped share whose ticket had no share here: `Some(NewShare)`, or
    /// `Some(KnownShare)` / `Some(DoubleSpend)` when one arrived meanwhile, `None` when it
    /// conflicts without revealing a secret (stored as evidence; its proof decides).
    fn store_new(&self, record: &StoredShare) -> Result<Option<Judgement>, crate::Rejection> {
        match self.record_share(record)? {
            ShareOutcome::New => Ok(Some(Judgement::NewShare)),
            ShareOutcome::Replay(_) => Ok(Some(Judgement::KnownShare)),
            ShareOutcome::Conflict(others) => {
                Ok(self.double_spend(&record.share, &others)?.map(|_| Judgement::DoubleSpend))
            }
        }
    }

    fn store_share(&self, record: &StoredShare) -> Result<(), crate::Rejection> {
        self.record_share(record).map(|_| ())
    }
}
