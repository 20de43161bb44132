//! The share network (spec/06): every share a node accepts is published, every share gossiped
//! to it is judged in ordered checks, cheap first, stored, and compared with the shares of its
//! ticket, so a ticket spent at two nodes reveals its owner's secret at both.
//!
//! A message is the share, its public signals, its proof and the publisher's binding of its
//! peer id to a signer-set key. The checks run in the order of [`Judgement`]; proofs are
//! checked for a sampled fraction of messages (`p2p.verify_fraction`) and always when a share
//! conflicts with a stored one without revealing a secret. An invalid proof under a valid
//! binding is evidence against the key that bound it: every later message bound to that key is
//! refused. Only faults any node would find in the bytes alone are REJECTed (scored against the
//! peer that forwarded them); what depends on a node's own view (its sample, its signer set,
//! the keys it caught) is IGNOREd and held against the author, never against honest forwarders.
//! No message can frame anyone: a slash needs two shares whose slope hashes to the nullifier.

pub mod message;
pub mod settlements;
#[cfg(test)]
mod vectors;

pub use message::{DecodeError, PeerBinding, SHARE_MESSAGE_BYTES, ShareMessage};
pub use settlements::{SettlementAnswer, SettlementQuestion};

use crate::{
    Metrics, Rejection,
    pipeline::{NodeState, unix_now},
    settlement::Settlement,
    verify::Lane,
};
use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio_util::task::TaskTracker;
use zkcredits_p2p::{Client, Event, P2pError, PeerId, Responder, Verdict};
use zkcredits_primitives::{Fr, eddsa::PublicKey, rln::Share};
use zkcredits_prover::{encoding::proof_from_bytes, inputs::RequestStatement};
use zkcredits_storage::{ShareOrigin, ShareOutcome, StoredShare};

/// The largest message the network carries (a version-1 message has
/// [`SHARE_MESSAGE_BYTES`]; the rest is room for later versions, which are IGNOREd).
pub const MAX_MESSAGE_BYTES: usize = 1 << 10;

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
    /// IGNORE: the binding names a signer key caught vouching for an invalid proof.
    FaultyPublisher,
    /// IGNORE (the author is banned): the author's peer id is not bound to a key of the
    /// escrow's signer set as this node knows it.
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
    /// IGNORE (the author is banned, its key convicted): the proof does not verify or decode.
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

    /// What the network is told. Only what the bytes alone show is REJECTed: every honest node
    /// refuses it too, so none forwards it and only its sender is scored. A fault of the author
    /// is IGNOREd even when the author sent the message itself: a REJECT would score every peer
    /// that delivered the same bytes, honest forwarders included; the author is banned instead.
    pub const fn verdict(self) -> Verdict {
        match self {
            Self::Malformed | Self::WrongScope | Self::WrongCMax => Verdict::Reject,
            Self::UnsupportedVersion
            | Self::FaultyPublisher
            | Self::UnboundPublisher
            | Self::UnknownSignerRoot
            | Self::TimeOutOfRange
            | Self::RootNotApplied
            | Self::KnownShare
            | Self::InvalidProof
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

/// Authors remembered at most as bound, as unbound, or banned.
const MAX_REMEMBERED_PEERS: usize = 4_096;
/// How long an author stays banned.
const BAN: Duration = Duration::from_secs(600);
/// Settlements fetched from provider peers remembered at most.
const MAX_REMEMBERED_SETTLEMENTS: usize = 4_096;
/// Kept shares published per round, at most (a backlog must not flood the peer that joined).
const PUBLISH_PER_ROUND: usize = 256;
/// Shares waiting for a peer to publish to, at most (the oldest go first).
const MAX_UNPUBLISHED: usize = 65_536;
/// How often held and unpublished shares are looked at again.
const RECHECK: Duration = Duration::from_millis(250);

/// A share waiting for its root.
#[derive(Debug)]
struct Held {
    message: ShareMessage,
    publisher: PeerId,
    until: Instant,
}

/// A binding that verified, under the signer root it verified against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Bound {
    signer_root: Fr,
    binding: PeerBinding,
}

/// This node on the share network.
pub struct Gossip {
    state: Arc<NodeState>,
    client: Client,
    /// Whether this node publishes (a passive slasher does not).
    publishes: bool,
    settings: GossipSettings,
    /// This node's binding, for the signer root it was made under.
    own_binding: Mutex<Option<Bound>>,
    /// Authors whose binding verified, with the key it verified under.
    bound: Mutex<HashMap<PeerId, (Bound, PublicKey)>>,
    /// Authors whose binding did not verify, with that binding.
    unbound: Mutex<HashMap<PeerId, PeerBinding>>,
    /// Signer keys caught vouching for an invalid proof.
    faulty: Mutex<Vec<PublicKey>>,
    /// Authors banned, oldest first, with when (the swarm drops their messages; nobody else is
    /// scored).
    banned: Mutex<VecDeque<(PeerId, Instant)>>,
    held: Mutex<VecDeque<Held>>,
    /// Shares this node could not publish yet (no peer on the topic).
    unpublished: Mutex<VecDeque<Vec<u8>>>,
    /// Whether a task is publishing kept shares.
    publishing: std::sync::atomic::AtomicBool,
    judging: Arc<Semaphore>,
    /// Settlements provider peers answered, checked, by ticket and request (they never
    /// change): a replay sent again costs no question.
    settled: Mutex<HashMap<(Fr, Fr), Settlement>>,
    /// The judging tasks: drained on shutdown after the requests.
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
    /// The share network of `state` through `client`; `publishes` when the node's key is in
    /// the signer set.
    pub fn new(
        state: Arc<NodeState>,
        client: Client,
        publishes: bool,
        settings: GossipSettings,
    ) -> Self {
        let tasks = TaskTracker::new();
        Self {
            state,
            client,
            publishes,
            settings,
            own_binding: Mutex::default(),
            bound: Mutex::default(),
            unbound: Mutex::default(),
            faulty: Mutex::default(),
            banned: Mutex::default(),
            held: Mutex::default(),
            unpublished: Mutex::default(),
            publishing: std::sync::atomic::AtomicBool::new(false),
            judging: Arc::new(Semaphore::new(settings.max_judging.max(1))),
            settled: Mutex::default(),
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

    /// This node's binding under the escrow's current signer set: made again after a rotation
    /// moves its key. `None` while its key is not in the set.
    fn own_binding(&self) -> Option<PeerBinding> {
        let set = self.state.active_set()?;
        let signer_root = set.root;
        let mut own = lock(&self.own_binding);
        if let Some(bound) = *own
            && bound.signer_root == signer_root
        {
            return Some(bound.binding);
        }
        let key = self.state.signer.public_key();
        let index = set.keys.iter().position(|k| *k == key)?;
        let binding = PeerBinding::sign(
            &self.state.signer,
            u8::try_from(index).ok()?,
            &self.state.deployed.scope,
            &self.client.local_peer_id().to_bytes(),
        );
        *own = Some(Bound { signer_root, binding });
        Some(binding)
    }

    /// Publishes a share this node accepted with a verified proof; kept to publish later
    /// when no peer is on the topic yet.
    pub async fn publish(
        &self,
        statement: &RequestStatement,
        proof: &[u8; crate::envelope::PROOF_BYTES],
    ) {
        if !self.publishes {
            return;
        }
        let Some(binding) = self.own_binding() else {
            tracing::warn!(
                "the node's key is not in the escrow's signer set: its shares are not published"
            );
            self.metrics().gossip_published("failed");
            return;
        };
        let message = ShareMessage { statement: *statement, proof: *proof, binding }.encode();
        if let Err(message) = self.send(message).await {
            let mut unpublished = lock(&self.unpublished);
            if unpublished.len() >= MAX_UNPUBLISHED {
                unpublished.pop_front();
            }
            unpublished.push_back(message);
        }
    }

    /// Publishes `message`; gives it back when no peer took it.
    async fn send(&self, message: Vec<u8>) -> Result<(), Vec<u8>> {
        match self.client.publish(message.clone()).await {
            Ok(_) => {
                self.metrics().gossip_published("published");
                Ok(())
            }
            Err(P2pError::Publish(e)) => {
                tracing::debug!("share not published yet: {e}");
                self.metrics().gossip_published("no_peers");
                Err(message)
            }
            Err(e) => {
                tracing::warn!("share not published: {e}");
                self.metrics().gossip_published("failed");
                Ok(())
            }
        }
    }

    /// Publishes, in a task of its own, up to [`PUBLISH_PER_ROUND`] of the shares kept while no
    /// peer was on the topic, oldest first, until one finds no peer again.
    fn publish_kept(self: &Arc<Self>) {
        use std::sync::atomic::Ordering;
        if lock(&self.unpublished).is_empty() || self.publishing.swap(true, Ordering::AcqRel) {
            return;
        }
        let gossip = Arc::clone(self);
        self.tasks.spawn(async move {
            for _ in 0..PUBLISH_PER_ROUND {
                let Some(message) = lock(&gossip.unpublished).pop_front() else { break };
                if let Err(message) = gossip.send(message).await {
                    lock(&gossip.unpublished).push_front(message);
                    break;
                }
            }
            gossip.publishing.store(false, Ordering::Release);
        });
    }

    /// Lifts the bans older than [`BAN`].
    fn lift_old_bans(&self) {
        let mut banned = lock(&self.banned);
        while banned.front().is_some_and(|(_, at)| at.elapsed() >= BAN) {
            if let Some((author, _)) = banned.pop_front() {
                self.unban(author);
            }
        }
    }

    /// Judges messages until `stop` fires or the network stops.
    pub async fn run(
        self: Arc<Self>,
        mut events: mpsc::Receiver<Event>,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut recheck = tokio::time::interval(RECHECK);
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
                    Some(Event::Request { peer, data, responder }) => {
                        let gossip = Arc::clone(&self);
                        self.tasks.spawn(async move { gossip.answer(peer, &data, responder).await });
                    }
                    Some(Event::PeerConnected(_)) => self.metrics().gossip_peers(1),
                    Some(Event::PeerDisconnected(_)) => self.metrics().gossip_peers(-1),
                    None => return,
                },
                _ = recheck.tick() => {
                    self.recheck_held();
                    self.publish_kept();
                    self.lift_old_bans();
                }
                _ = stop.changed() => break,
            }
        }
        // The judging under way ends before the swarm does.
        self.tasks.close();
        self.tasks.wait().await;
    }

    /// Answers a provider peer's [`SettlementQuestion`]; a question that does not decode, or a
    /// storage failure, goes unanswered.
    async fn answer(&self, peer: PeerId, data: &[u8], responder: Responder) {
        let question = match SettlementQuestion::decode(data) {
            Ok(question) => question,
            Err(e) => {
                tracing::debug!(%peer, "settlement question not understood: {e}");
                return;
            }
        };
        let answer = match self.state.settlement_of_request(question.nullifier, question.x).await {
            Ok(Some(settlement)) => SettlementAnswer::Settled(Box::new(settlement)),
            Ok(None) => SettlementAnswer::NotTaken,
            Err(Rejection::InProgress) => SettlementAnswer::InProgress,
            Err(_) => return,
        };
        responder.respond(answer.encode());
    }

    /// The settlement of a request whose share this node holds only from gossip, asked of the
    /// node that published it. `served_elsewhere` when that node is not one of this provider's
    /// (`p2p.provider_peers`), does not answer, or answers with something that does not check
    /// out; `in_progress` while it serves the request.
    pub async fn settlement_elsewhere(
        &self,
        statement: &RequestStatement,
    ) -> Result<Settlement, Rejection> {
        let (nullifier, x) = (statement.nullifier, statement.x);
        let remembered = lock(&self.settled).get(&(nullifier, x)).cloned();
        if let Some(settlement) = remembered {
            return match self.check_settlement(&settlement, statement) {
                Ok(()) => Ok(settlement),
                Err(_) => Err(Rejection::ServedElsewhere),
            };
        }
        let publisher = self.state.gossip_publisher(nullifier, x).await?;
        let Some(peer) = publisher else { return Err(Rejection::ServedElsewhere) };
        let question = SettlementQuestion { nullifier, x }.encode();
        let outcome = match self.client.ask(peer, question).await {
            Ok(answer) => SettlementAnswer::decode(&answer),
            Err(e) => {
                tracing::debug!("settlement not fetched: {e}");
                self.metrics().settlement_asked(match e {
                    P2pError::NotProviderPeer { .. } => "not_provider_peer",
                    P2pError::Busy(_) => "busy",
                    _ => "unanswered",
                });
                return Err(Rejection::ServedElsewhere);
            }
        };
        let refusal = match outcome {
            Ok(SettlementAnswer::Settled(settlement)) => {
                match self.check_settlement(&settlement, statement) {
                    Ok(()) => {
                        self.metrics().settlement_asked("settled");
                        let mut settled = lock(&self.settled);
                        if settled.len() >= MAX_REMEMBERED_SETTLEMENTS {
                            settled.clear();
                        }
                        settled.insert((nullifier, x), (*settlement).clone());
                        return Ok(*settlement);
                    }
                    Err(reason) => reason,
                }
            }
            Ok(SettlementAnswer::InProgress) => {
                self.metrics().settlement_asked("in_progress");
                return Err(Rejection::InProgress);
            }
            Ok(SettlementAnswer::NotTaken) => {
                self.metrics().settlement_asked("not_taken");
                return Err(Rejection::ServedElsewhere);
            }
            Err(e) => e.to_string(),
        };
        tracing::warn!(%peer, "provider peer answered a settlement that does not check out: {refusal}");
        self.metrics().settlement_asked("invalid");
        Err(Rejection::ServedElsewhere)
    }

    /// Whether `settlement` settles the request `statement`: its ticket, its amounts, the next
    /// state from this request's `A_anon`, signed by a key of a signer set the node accepts
    /// (one before a rotation included).
    fn check_settlement(
        &self,
        settlement: &Settlement,
        statement: &RequestStatement,
    ) -> Result<(), String> {
        let deployed = &self.state.deployed;
        settlement
            .verify(&statement.nullifier, &statement.anon, &deployed.scope, deployed.c_max)
            .map_err(|e| e.to_string())?;
        let signer_accepted = self.state.signer_sets.iter().any(|set| {
            set.keys.contains(&settlement.signer) && self.state.accepts_signer_root(&set.root)
        });
        if signer_accepted { Ok(()) } else { Err("signed by a key outside the signer set".into()) }
    }

    fn judged(&self, judgement: Judgement) {
        self.metrics().gossip_judged(judgement.verdict_label(), judgement.reason());
    }

    /// Judges one message of `author` (spec/06 §Validation).
    pub async fn judge(self: &Arc<Self>, author: PeerId, data: &[u8]) -> Judgement {
        let message = match ShareMessage::decode(data) {
            Ok(message) => message,
            Err(DecodeError::UnsupportedVersion(_)) => return Judgement::UnsupportedVersion,
            Err(DecodeError::Malformed(_)) => return Judgement::Malformed,
        };
        let key = match self.check_statement(author, &message) {
            Ok(key) => key,
            Err(judgement) => return judgement,
        };
        if !self.root_applied(&message.statement.root) {
            self.hold(message, author);
            return Judgement::RootNotApplied;
        }
        self.check_share(author, key, message).await
    }

    /// Checks 3–8: the deployment, the author, the signer root, the time. `Ok` with the key
    /// the author's binding verified under.
    fn check_statement(
        &self,
        author: PeerId,
        message: &ShareMessage,
    ) -> Result<PublicKey, Judgement> {
        let s = &message.statement;
        let deployed = &self.state.deployed;
        if s.scope != deployed.scope {
            return Err(Judgement::WrongScope);
        }
        if s.c_max != deployed.c_max {
            return Err(Judgement::WrongCMax);
        }
        if self.state.active_set().is_none() {
            // The node does not know the escrow's set: it cannot tell, and blames nobody.
            return Err(Judgement::UnknownSignerRoot);
        }
        let index = usize::from(message.binding.signer_index);
        // The sets whose states the node takes: around a rotation, nodes see it at different
        // times, and a binding made under either set is honest.
        let sets: Vec<_> = self
            .state
            .signer_sets
            .iter()
            .filter(|set| self.state.accepts_signer_root(&set.root))
            .filter_map(|set| set.keys.get(index).map(|key| (set.root, *key)))
            .collect();
        if sets.iter().any(|(_, key)| lock(&self.faulty).contains(key)) {
            return Err(Judgement::FaultyPublisher);
        }
        let Some(key) = self.bound_key(author, &message.binding, &sets) else {
            self.ban(author);
            return Err(Judgement::UnboundPublisher);
        };
        if !self.state.accepts_signer_root(&s.signer_root) {
            return Err(Judgement::UnknownSignerRoot);
        }
        let clock = unix_now();
        let ahead = self
            .state
            .limits
            .clock_tolerance_secs
            .saturating_add(self.state.limits.time_bucket_secs);
        if s.now > clock.saturating_add(ahead)
            || s.now.saturating_add(self.settings.retention_secs) < clock
        {
            return Err(Judgement::TimeOutOfRange);
        }
        Ok(key)
    }

    /// The key of `sets` (signer root, key at the binding's index) under which `binding` binds
    /// `author`: checked once per author, binding and root, then remembered; a binding that
    /// failed is remembered too, so junk repeated costs a lookup.
    fn bound_key(
        &self,
        author: PeerId,
        binding: &PeerBinding,
        sets: &[(Fr, PublicKey)],
    ) -> Option<PublicKey> {
        if let Some((bound, key)) = lock(&self.bound).get(&author)
            && bound.binding == *binding
            && sets.iter().any(|(root, _)| *root == bound.signer_root)
        {
            return Some(*key);
        }
        if lock(&self.unbound).get(&author) == Some(binding) {
            return None;
        }
        let scope = &self.state.deployed.scope;
        let peer = author.to_bytes();
        let Some((root, key)) = sets.iter().find(|(_, key)| binding.verify(key, scope, &peer))
        else {
            let mut unbound = lock(&self.unbound);
            if unbound.len() >= MAX_REMEMBERED_PEERS {
                unbound.clear();
            }
            unbound.insert(author, *binding);
            return None;
        };
        let mut remembered = lock(&self.bound);
        if remembered.len() >= MAX_REMEMBERED_PEERS {
            remembered.clear();
        }
        remembered.insert(author, (Bound { signer_root: *root, binding: *binding }, *key));
        Some(*key)
    }

    /// Has the swarm drop everything `author` publishes or sends for [`BAN`] (forwarders of
    /// its messages are not scored). At most [`MAX_REMEMBERED_PEERS`] authors at once: peer ids
    /// cost nothing, so a new ban lifts the oldest.
    fn ban(&self, author: PeerId) {
        let mut banned = lock(&self.banned);
        if banned.iter().any(|(peer, _)| *peer == author) {
            return;
        }
        if banned.len() >= MAX_REMEMBERED_PEERS
            && let Some((oldest, _)) = banned.pop_front()
        {
            self.unban(oldest);
        }
        banned.push_back((author, Instant::now()));
        let client = self.client.clone();
        self.tasks.spawn(async move {
            let _ = client.ban(author).await;
        });
    }

    fn unban(&self, author: PeerId) {
        let client = self.client.clone();
        self.tasks.spawn(async move {
            let _ = client.unban(author).await;
        });
    }

    /// Convicts `key`, which bound `author`, of vouching for an invalid proof: every message
    /// bound to it is refused from now on (spec/06 §Scale).
    fn convict(&self, author: PeerId, key: PublicKey) {
        tracing::error!(
            %author,
            key = %crate::keys::public_key_to_string(&key),
            "a signer-set key vouched for a share with an invalid proof; refusing every message bound to it"
        );
        let mut faulty = lock(&self.faulty);
        if !faulty.contains(&key) {
            faulty.push(key);
        }
        drop(faulty);
        lock(&self.bound).remove(&author);
        self.ban(author);
    }

    fn root_applied(&self, root: &Fr) -> bool {
        self.state
            .known_roots
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(root)
    }

    /// Holds `message` until its root is applied. Each signer key holds at most its share of
    /// `p2p.max_held_shares`; a full quota or a full queue makes room by dropping the oldest.
    fn hold(&self, message: ShareMessage, author: PeerId) {
        let keys = self.state.active_signers().map_or(1, |keys| keys.len().max(1));
        let quota = (self.settings.max_held / keys).max(1);
        let index = message.binding.signer_index;
        let mut held = lock(&self.held);
        let same_key = held.iter().filter(|h| h.message.binding.signer_index == index).count();
        if same_key >= quota {
            if let Some(oldest) = held.iter().position(|h| h.message.binding.signer_index == index)
            {
                held.remove(oldest);
            }
        } else if held.len() >= self.settings.max_held {
            held.pop_front();
        }
        let until = Instant::now().checked_add(self.settings.hold).unwrap_or_else(Instant::now);
        held.push_back(Held { message, publisher: author, until });
        self.metrics().gossip_held(held.len());
    }

    /// Judges, in tracked tasks within the judging bound, the held shares whose root was
    /// applied meanwhile; drops those held too long.
    fn recheck_held(self: &Arc<Self>) {
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
        let mut ready = ready.into_iter();
        for h in ready.by_ref() {
            // Live messages first: without a free slot, the share waits for the next round.
            let Ok(permit) = Arc::clone(&self.judging).try_acquire_owned() else {
                lock(&self.held).push_front(h);
                break;
            };
            let gossip = Arc::clone(self);
            self.tasks.spawn(async move {
                // The author's key may have been convicted meanwhile.
                let judgement = match gossip.check_statement(h.publisher, &h.message) {
                    Ok(key) => gossip.check_share(h.publisher, key, h.message).await,
                    Err(judgement) => judgement,
                };
                gossip.judged(judgement);
                drop(permit);
            });
        }
        let mut held = lock(&self.held);
        for h in ready {
            held.push_front(h);
        }
    }

    /// Checks 10–11 and the outcome: the store (a known share, a double spend), the proof when
    /// sampled or when the share conflicts without revealing a secret, then the share stored.
    async fn check_share(
        self: &Arc<Self>,
        author: PeerId,
        key: PublicKey,
        message: ShareMessage,
    ) -> Judgement {
        let s = &message.statement;
        let record = StoredShare {
            share: Share { nullifier: s.nullifier, x: s.x, y: s.y },
            received_at: unix_now(),
            origin: ShareOrigin::Gossip { peer: author.to_base58() },
        };
        let sampled = rand::random::<f64>() < self.settings.verify_fraction;
        let stored = {
            let record = record.clone();
            self.state
                .blocking(move |node| {
                    let stored = node.shares_of(&record.share.nullifier)?;
                    if stored.iter().any(|t| t.share == record.share) {
                        return Ok(Err(Judgement::KnownShare));
                    }
                    if node.double_spend(&record.share, &stored)?.is_some() {
                        node.record_share(&record)?;
                        return Ok(Err(Judgement::DoubleSpend));
                    }
                    // The common case, a new ticket not sampled, is stored in the same trip.
                    if stored.is_empty() && !sampled {
                        return node.store_gossiped(&record).map(Err);
                    }
                    Ok(Ok(stored.is_empty()))
                })
                .await
        };
        // `clean`: no stored share of the ticket; otherwise one conflicts (or has this `x` with
        // another `y`) without revealing a secret: one of the two proofs is invalid.
        let clean = match stored {
            Ok(Ok(clean)) => clean,
            Ok(Err(judgement)) => return judgement,
            Err(_) => return Judgement::Overloaded,
        };
        if sampled || !clean {
            match self.proof_valid(&message).await {
                Some(true) => {}
                Some(false) => {
                    self.convict(author, key);
                    return Judgement::InvalidProof;
                }
                // A busy pool skips the sample, never the share: a forged share cannot get
                // anyone slashed. A conflict waits for a check it can have.
                None if clean => {}
                None => return Judgement::Overloaded,
            }
        }
        self.state
            .blocking(move |node| node.store_gossiped(&record))
            .await
            .unwrap_or(Judgement::Overloaded)
    }

    async fn proof_valid(&self, message: &ShareMessage) -> Option<bool> {
        let Ok(proof) = proof_from_bytes(&message.proof) else { return Some(false) };
        self.state.pool.verify(message.statement.public_signals(), proof, Lane::Batched).await.ok()
    }
}

impl NodeState {
    /// The peer that published the gossiped share of the request `x` spending `nullifier`.
    async fn gossip_publisher(
        self: &Arc<Self>,
        nullifier: Fr,
        x: Fr,
    ) -> Result<Option<PeerId>, Rejection> {
        self.blocking(move |node| {
            let shares = node.store.shares(&nullifier).map_err(crate::pipeline::internal)?;
            Ok(shares.into_iter().find_map(|stored| match stored.origin {
                ShareOrigin::Gossip { peer } if stored.share.x == x => peer.parse().ok(),
                _ => None,
            }))
        })
        .await
    }

    /// Stores a gossiped share: [`Judgement::NewShare`], or [`Judgement::KnownShare`] /
    /// [`Judgement::DoubleSpend`] when a share of its ticket arrived meanwhile. A share that
    /// conflicts without revealing a secret is stored too (its proof was checked).
    fn store_gossiped(&self, record: &StoredShare) -> Result<Judgement, Rejection> {
        match self.record_share(record)? {
            ShareOutcome::New => Ok(Judgement::NewShare),
            // The stored share has this `x` and another `y`: one of the two is forged. This
            // one's proof verified, so it goes on to the peers, who may hold only the forgery.
            ShareOutcome::Replay(stored) if stored.share.y != record.share.y => {
                Ok(Judgement::NewShare)
            }
            ShareOutcome::Replay(_) => Ok(Judgement::KnownShare),
            ShareOutcome::Conflict(others) => Ok(self
                .double_spend(&record.share, &others)?
                .map_or(Judgement::NewShare, |_| Judgement::DoubleSpend)),
        }
    }
}
