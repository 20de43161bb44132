//! The request pipeline (spec/05 §Checks): cheap checks first, the proof last, the share
//! persisted before anything is served, the settlement persisted before it is returned.

use crate::{
    Metrics, Rejection,
    config::LimitsConfig,
    envelope::{PROOF_BYTES, ReceivedEnvelope, RequestStatement, request_digest},
    pricing::Pricing,
    settlement::Settlement,
    slasher::Slasher,
    throttle::{AddressCounter, RequestLimiter},
    upstream::Upstream,
    verify::{Lane, PoolError, VerificationPool},
};
use alloy::primitives::Address;
use ark_ff::PrimeField;
use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc, Mutex, MutexGuard, OnceLock, RwLock,
        atomic::{AtomicU64, Ordering},
    },
};
use tokio::sync::Semaphore;
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use zkcredits_primitives::{
    Fr,
    babyjubjub::Point,
    eddsa::{PrivateKey, PublicKey},
    identity::Secret,
    rln::{Share, recover_secret, request_x},
};
use zkcredits_storage::{ShareOrigin, ShareOutcome, Storage, StorageError, StoredShare};

/// What the chain says about the deployment the node serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deployed {
    /// The chain id.
    pub chain_id: u64,
    /// The escrow.
    pub escrow: Address,
    /// The deposit token (zero: ETH).
    pub token: Address,
    /// `Poseidon(chainId, escrow)`.
    pub scope: Fr,
    /// `C_MAX`.
    pub c_max: u64,
}

/// A request that passed every check: its share is stored and the node owes it a settlement.
/// Dropping it without settling leaves the ticket to be settled with a full refund when the
/// client asks again.
#[derive(Debug)]
pub struct Ticket {
    node: Arc<NodeState>,
    /// The ticket's nullifier.
    pub nullifier: Fr,
    /// The request's rerandomized state.
    pub anon: Point,
    /// Fires when another share of the ticket arrives (gossip, spec/06): the ticket is being
    /// spent twice and serving it stops.
    spent_elsewhere: CancellationToken,
}

impl Ticket {
    /// Resolves when the ticket turns out to be spent at another node too.
    pub async fn spent_elsewhere(&self) {
        self.spent_elsewhere.cancelled().await;
    }

    /// Whether the ticket is known to be spent at another node too, now.
    pub fn is_spent_elsewhere(&self) -> bool {
        self.spent_elsewhere.is_cancelled()
    }

    /// Signs and persists the settlement for `charge` (on a blocking thread: it may wait for
    /// an fsync); the ticket is done.
    pub async fn settle(self, charge: u64) -> Result<Settlement, Rejection> {
        let (nullifier, anon) = (self.nullifier, self.anon);
        self.node.blocking(move |node| node.persist_settlement(&nullifier, &anon, charge)).await
    }

    /// Records that the ticket owes `charge` should the node stop before settling it: the
    /// upstream answered and is billing, so recovery must not refund it in full.
    pub async fn owe(&self, charge: u64) -> Result<(), Rejection> {
        let nullifier = self.nullifier;
        self.node
            .blocking(move |node| node.store.put_owed_charge(&nullifier, charge).map_err(internal))
            .await
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.node.inflight.shard(&self.nullifier).remove(&self.nullifier);
    }
}

/// Shards of the set of tickets being served: requests for different tickets rarely wait on
/// each other's lock.
const INFLIGHT_SHARDS: usize = 64;

/// Tickets being served right now, by nullifier, each with the token that stops serving it.
#[derive(Debug)]
pub(crate) struct Inflight([Mutex<HashMap<Fr, CancellationToken>>; INFLIGHT_SHARDS]);

impl Default for Inflight {
    fn default() -> Self {
        Self(std::array::from_fn(|_| Mutex::default()))
    }
}

impl Inflight {
    fn shard(&self, nullifier: &Fr) -> MutexGuard<'_, HashMap<Fr, CancellationToken>> {
        let index = (nullifier.into_bigint().0[0] % INFLIGHT_SHARDS as u64) as usize;
        // A shard stays consistent even if a holder panicked: each operation is one call.
        self.0[index].lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// What the pipeline decided for a request that is not refused.
#[derive(Debug)]
pub enum Admission {
    /// Serve it.
    Serve(Ticket),
    /// The same request was served before: here is its settlement; do not serve again.
    Replay(Settlement),
}

/// A signer set the node is configured with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SignerSet {
    /// Its signer-tree root.
    pub(crate) root: Fr,
    /// Its keys, in tree order.
    pub(crate) keys: Vec<PublicKey>,
}

/// Everything the request path shares.
pub struct NodeState {
    pub(crate) provider_id: Fr,
    pub(crate) deployed: Deployed,
    pub(crate) signer: PrivateKey,
    /// `signer.set`, then `signer.next_set` when given: each contains the node's key.
    pub(crate) signer_sets: Vec<SignerSet>,
    /// The configured set whose root is the escrow's signer root; `None` refuses payments (the
    /// node cannot tell that its settlements would be usable).
    pub(crate) active_signer_set: RwLock<Option<usize>>,
    pub(crate) pricing: Pricing,
    pub(crate) mitigations: crate::privacy::Mitigations,
    pub(crate) limits: LimitsConfig,
    pub(crate) store: Arc<dyn Storage>,
    pub(crate) pool: VerificationPool,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) slasher: Arc<Slasher>,
    pub(crate) upstream: Upstream,
    /// The escrow's current signer root.
    pub(crate) signer_root: RwLock<Fr>,
    /// Earlier signer roots still accepted (`signer.previous_roots` not yet revoked).
    pub(crate) previous_signer_roots: RwLock<Vec<Fr>>,
    /// The accepted roots (spec/08 §Root window).
    pub(crate) roots: RwLock<Vec<Fr>>,
    /// The newest [`KNOWN_ROOTS`] roots: a gossiped share under one of them is a share of a
    /// real deposit even when a slash moved the window on since (spec/06).
    pub(crate) known_roots: RwLock<HashSet<Fr>>,
    /// The share network, when the node joined one (weak: the share network holds the state,
    /// and the running node holds the share network).
    pub(crate) gossip: OnceLock<std::sync::Weak<crate::gossip::Gossip>>,
    /// A passive slasher: it takes no payments.
    pub(crate) passive: bool,
    /// Unix seconds of the last chain step that caught up with the confirmed head.
    pub(crate) chain_synced_at: AtomicU64,
    /// Tickets being served right now.
    pub(crate) inflight: Inflight,
    /// Paid requests per client address, with penalties for junk proofs.
    pub(crate) throttle: RequestLimiter,
    /// Slots of paid requests checked or served at once (`limits.max_paid_in_flight`).
    pub(crate) paid_slots: Arc<Semaphore>,
    /// Paid requests in flight per client address (`limits.max_paid_in_flight_per_ip`).
    pub(crate) paid_per_ip: Arc<AddressCounter>,
    /// Tasks that serve tickets and relay streams: drained on shutdown.
    pub(crate) tasks: TaskTracker,
    /// Cancelled when shutdown starts: answers held for privacy leave at once.
    pub(crate) releasing: tokio_util::sync::CancellationToken,
}

impl std::fmt::Debug for NodeState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeState").field("deployed", &self.deployed).finish_non_exhaustive()
    }
}

pub(crate) fn internal(e: StorageError) -> Rejection {
    tracing::error!("storage failed: {e}");
    Rejection::Internal
}

/// Roots a gossiped share may be under.
const KNOWN_ROOTS: usize = 1_024;

/// Unix seconds.
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl NodeState {
    /// Runs storage work on a blocking thread (RocksDB reads, writes and fsyncs never run on
    /// the async workers).
    pub(crate) async fn blocking<T: Send + 'static>(
        self: &Arc<Self>,
        work: impl FnOnce(&Arc<Self>) -> Result<T, Rejection> + Send + 'static,
    ) -> Result<T, Rejection> {
        let node = Arc::clone(self);
        tokio::task::spawn_blocking(move || work(&node)).await.unwrap_or_else(|e| {
            tracing::error!("a storage task failed: {e}");
            Err(Rejection::Internal)
        })
    }

    /// Takes the escrow's signer root `root`: payments are taken while it is the root of a
    /// configured set (the node's key is in it), refused otherwise.
    pub(crate) fn observe_signer_root(&self, root: Fr) {
        let active = self.signer_sets.iter().position(|set| set.root == root);
        let mut current =
            self.active_signer_set.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        if active != *current {
            match active {
                Some(i) => tracing::info!(
                    set = i,
                    "the escrow's signer root is a configured set's; taking payments"
                ),
                None => tracing::error!(
                    root = %root,
                    "the escrow's signer root is neither signer.set's nor signer.next_set's: \
                     refusing payments until the node is configured with the new set"
                ),
            }
        }
        *current = active;
        *self.signer_root.write().unwrap_or_else(std::sync::PoisonError::into_inner) = root;
    }

    /// The configured signer set whose root is the escrow's, root and keys read together.
    pub(crate) fn active_set(&self) -> Option<SignerSet> {
        let active =
            *self.active_signer_set.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        active.map(|i| self.signer_sets[i].clone())
    }

    /// The keys of the signer set the node signs in now, if any.
    pub(crate) fn active_signers(&self) -> Option<Vec<PublicKey>> {
        let active =
            *self.active_signer_set.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        active.map(|i| self.signer_sets[i].keys.clone())
    }

    /// Recomputes the root window from the store: the newest `root_window` roots, cut after
    /// the newest root a slash produced (older roots still hold the slashed leaf).
    pub(crate) fn refresh_roots(&self) -> Result<(), StorageError> {
        let recent = self.store.recent_roots(self.limits.root_window)?;
        let cut = recent.iter().position(|r| r.after_removal).map_or(recent.len(), |i| i + 1);
        let window = recent[..cut].iter().map(|r| r.root).collect();
        *self.roots.write().unwrap_or_else(std::sync::PoisonError::into_inner) = window;
        let known = self.store.recent_roots(KNOWN_ROOTS)?.into_iter().map(|r| r.root).collect();
        *self.known_roots.write().unwrap_or_else(std::sync::PoisonError::into_inner) = known;
        Ok(())
    }

    /// The share network, while the node is on one.
    pub(crate) fn gossip(&self) -> Option<Arc<crate::gossip::Gossip>> {
        self.gossip.get().and_then(std::sync::Weak::upgrade)
    }

    /// Whether states signed under `root` are taken: the escrow's current signer root, or an
    /// earlier one not revoked.
    pub(crate) fn accepts_signer_root(&self, root: &Fr) -> bool {
        *root == *self.signer_root.read().unwrap_or_else(std::sync::PoisonError::into_inner)
            || self
                .previous_signer_roots
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .contains(root)
    }

    /// The stored shares of `nullifier`.
    pub(crate) fn shares_of(&self, nullifier: &Fr) -> Result<Vec<StoredShare>, Rejection> {
        self.store.shares(nullifier).map_err(internal)
    }

    /// Records `record` (see [`zkcredits_storage::ShareStore::record_share`]).
    pub(crate) fn record_share(&self, record: &StoredShare) -> Result<ShareOutcome, Rejection> {
        self.store.record_share(record).map_err(internal)
    }

    /// Seconds since the last chain step that caught up with the confirmed head.
    pub(crate) fn chain_age_secs(&self) -> u64 {
        unix_now().saturating_sub(self.chain_synced_at.load(Ordering::Relaxed))
    }

    fn check_time(&self, now: u64) -> Result<(), Rejection> {
        let clock = unix_now();
        let bucket = self.limits.time_bucket_secs;
        let tolerance = self.limits.clock_tolerance_secs;
        let floor = |t: u64| t - t % bucket;
        let accepted = [
            floor(clock.saturating_sub(tolerance)),
            floor(clock),
            floor(clock.saturating_add(tolerance)),
        ];
        if accepted.contains(&now) { Ok(()) } else { Err(Rejection::TimeOutOfRange { now, clock }) }
    }

    /// Checks 2–8 of spec/05: everything the payment header alone can settle, before a byte of
    /// the body is read.
    pub fn check_payment(&self, payment: Option<&[u8]>) -> Result<ReceivedEnvelope, Rejection> {
        let header = payment.ok_or(Rejection::PaymentRequired)?;
        let envelope = ReceivedEnvelope::decode(header, self.limits.max_envelope_bytes)
            .map_err(|e| Rejection::MalformedEnvelope(e.0))?;
        let s = &envelope.statement;
        if s.scope != self.deployed.scope {
            return Err(Rejection::WrongScope);
        }
        if self.passive
            || self
                .active_signer_set
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .is_none()
        {
            return Err(Rejection::NotInSignerSet);
        }
        if !self.accepts_signer_root(&s.signer_root) {
            return Err(Rejection::WrongSignerRoot);
        }
        if s.c_max != self.deployed.c_max {
            return Err(Rejection::WrongCMax);
        }
        let age_secs = self.chain_age_secs();
        if age_secs > self.limits.max_chain_lag_secs {
            return Err(Rejection::ChainStale { age_secs });
        }
        if !self.roots.read().unwrap_or_else(std::sync::PoisonError::into_inner).contains(&s.root) {
            return Err(Rejection::UnknownRoot);
        }
        self.check_time(s.now)?;
        Ok(envelope)
    }

    /// Checks 9–12 of spec/05 on a request whose payment passed [`NodeState::check_payment`]
    /// and whose body arrived: the binding, the stored shares, the proof (verified in `lane`);
    /// when all pass, the share is stored and the ticket is the caller's to serve.
    pub async fn admit(
        self: &Arc<Self>,
        envelope: ReceivedEnvelope,
        lane: Lane,
        method: &str,
        path_and_query: &str,
        body: &[u8],
    ) -> Result<Admission, Rejection> {
        let s = envelope.statement;
        let x = request_x(
            &self.provider_id,
            &request_digest(method, path_and_query, body),
            &envelope.nonce,
        );
        if x != s.x {
            return Err(Rejection::XMismatch);
        }
        let share = Share { nullifier: s.nullifier, x, y: s.y };
        if self.slasher.made_by_slashed(&share) {
            return Err(Rejection::SlashedIdentity);
        }

        // Two shares that recover a secret hashing to the nullifier are proof enough: no
        // verification is spent on a cheater before refusing it.
        let replayed = self
            .blocking(move |node| {
                let stored = node.store.shares(&share.nullifier).map_err(internal)?;
                if stored.iter().any(|t| t.share.x == x) {
                    return Ok(true);
                }
                node.double_spend(&share, &stored)?.map_or(Ok(false), Err)
            })
            .await
            .inspect_err(|refusal| {
                if matches!(refusal, Rejection::DoubleSpend | Rejection::ExitedTicket) {
                    self.publish_evidence(envelope.statement, envelope.proof);
                }
            })?;
        if replayed {
            return self.replay(&s).await;
        }

        let proof = envelope.decode_proof().map_err(|e| Rejection::MalformedProof(e.0))?;
        let valid =
            self.pool.verify(s.public_signals(), proof, lane).await.map_err(|e| match e {
                PoolError::Overloaded => Rejection::Overloaded,
                PoolError::WorkerFailed => Rejection::Internal,
            })?;
        if !valid {
            return Err(Rejection::InvalidProof);
        }

        let record = StoredShare {
            share,
            received_at: unix_now(),
            origin: ShareOrigin::Request { commitment: s.anon },
        };
        // The ticket is made where the share is marked in flight, on the blocking thread: if
        // the request is dropped meanwhile (its client hung up), dropping the ticket unmarks it.
        let outcome = self
            .blocking(move |node| {
                let nullifier = record.share.nullifier;
                let mut inflight = node.inflight.shard(&nullifier);
                let outcome = node.store.record_share(&record).map_err(internal)?;
                let revealed = match &outcome {
                    ShareOutcome::Conflict(others) => node.revealed(&record.share, others),
                    _ => None,
                };
                // Honest shares of one ticket always reveal its secret: a stored share that
                // conflicts with this one (whose proof verified) without revealing it is a
                // forgery gossiped in, and does not stop an honest request.
                let serve = match outcome {
                    ShareOutcome::New => true,
                    ShareOutcome::Conflict(_) => revealed.is_none(),
                    ShareOutcome::Replay(_) => false,
                };
                let ticket = serve.then(|| {
                    let spent_elsewhere = CancellationToken::new();
                    inflight.insert(nullifier, spent_elsewhere.clone());
                    Ticket { node: Arc::clone(node), nullifier, anon: s.anon, spent_elsewhere }
                });
                drop(inflight);
                if let Some((secret, refusal)) = revealed {
                    node.convict(secret, &nullifier)?;
                    return Err(refusal);
                }
                Ok(ticket)
            })
            .await
            .inspect_err(|refusal| {
                if matches!(refusal, Rejection::DoubleSpend | Rejection::ExitedTicket) {
                    self.publish_evidence(envelope.statement, envelope.proof);
                }
            })?;
        match outcome {
            Some(ticket) => {
                if let Some(gossip) = self.gossip() {
                    gossip.publish(&s, &envelope.proof).await;
                }
                Ok(Admission::Serve(ticket))
            }
            None => self.replay(&s).await,
        }
    }

    /// Publishes the share of a refused double spend once its proof verifies (in the
    /// background: the refusal does not wait), so that every node learns of the cheat and the
    /// slash goes to the first in its order (spec/07). A share whose proof fails is dropped:
    /// the node vouches for what it publishes.
    fn publish_evidence(self: &Arc<Self>, statement: RequestStatement, proof: [u8; PROOF_BYTES]) {
        let Some(gossip) = self.gossip() else { return };
        let node = Arc::clone(self);
        self.tasks.spawn(async move {
            let Ok(decoded) = zkcredits_prover::encoding::proof_from_bytes(&proof) else { return };
            if let Ok(true) =
                node.pool.verify(statement.public_signals(), decoded, Lane::Suspect).await
            {
                gossip.publish(&statement, &proof).await;
            }
        });
    }

    /// When `share` and a stored share of its ticket reveal the secret, records the slash and
    /// returns the refusal.
    pub(crate) fn double_spend(
        &self,
        share: &Share,
        stored: &[StoredShare],
    ) -> Result<Option<Rejection>, Rejection> {
        let Some((secret, refusal)) = self.revealed(share, stored) else { return Ok(None) };
        self.convict(secret, &share.nullifier)?;
        Ok(Some(refusal))
    }

    /// The secret `share` and a stored share of its ticket reveal, with the refusal a request
    /// making that share gets.
    fn revealed(&self, share: &Share, stored: &[StoredShare]) -> Option<(Secret, Rejection)> {
        stored.iter().find_map(|other| {
            let secret = Secret::new(recover_secret(&other.share, share).ok()?).ok()?;
            Some((
                secret,
                match other.origin {
                    ShareOrigin::Exit { .. } => Rejection::ExitedTicket,
                    _ => Rejection::DoubleSpend,
                },
            ))
        })
    }

    /// Records the slash of `secret`, caught spending the ticket `nullifier` twice, and stops
    /// serving that ticket if this node is.
    fn convict(&self, secret: Secret, nullifier: &Fr) -> Result<(), Rejection> {
        self.slasher.detected(secret, *nullifier, unix_now()).map_err(internal)?;
        if let Some(serving) = self.inflight.shard(nullifier).get(nullifier) {
            serving.cancel();
        }
        Ok(())
    }

    /// The answer to a request whose share (same `x`) is stored: its settlement; when this
    /// node holds none, the share came over the share network from the node that served it.
    /// A request with the `x` of a stored share: the settlement this node made, or, when the
    /// share came from gossip, the one the provider node that served it made (spec/06).
    async fn replay(self: &Arc<Self>, s: &RequestStatement) -> Result<Admission, Rejection> {
        if let Some(settlement) = self.stored_settlement(&s.nullifier).await? {
            return Ok(Admission::Replay(settlement));
        }
        match self.gossip() {
            Some(gossip) => gossip.settlement_elsewhere(s).await.map(Admission::Replay),
            None => Err(Rejection::ServedElsewhere),
        }
    }

    /// The settlement of the request `x` spending `nullifier`, when this node took it (for a
    /// provider peer that holds the request's share from gossip); as
    /// [`NodeState::stored_settlement`] otherwise.
    pub async fn settlement_of_request(
        self: &Arc<Self>,
        nullifier: Fr,
        x: Fr,
    ) -> Result<Option<Settlement>, Rejection> {
        self.blocking(move |node| {
            let taken = node
                .store
                .shares(&nullifier)
                .map_err(internal)?
                .iter()
                .any(|t| t.share.x == x && matches!(t.origin, ShareOrigin::Request { .. }));
            if taken { node.stored_settlement_now(&nullifier, Some(&x)) } else { Ok(None) }
        })
        .await
    }

    /// The settlement of a ticket this node took: stored, or made now when the node stopped
    /// between storing the share and settling: at the charge recorded once the upstream
    /// answered, else with a full refund (the request may or may not have reached the
    /// upstream; the provider carries that risk, never the client). `Err(InProgress)` while
    /// it is being served; `None` when the node took no such ticket.
    pub async fn stored_settlement(
        self: &Arc<Self>,
        nullifier: &Fr,
    ) -> Result<Option<Settlement>, Rejection> {
        let nullifier = *nullifier;
        self.blocking(move |node| node.stored_settlement_now(&nullifier, None)).await
    }

    /// [`NodeState::stored_settlement`]; when `x` is given, only for the request `x`.
    fn stored_settlement_now(
        &self,
        nullifier: &Fr,
        x: Option<&Fr>,
    ) -> Result<Option<Settlement>, Rejection> {
        let inflight = self.inflight.shard(nullifier);
        if inflight.contains_key(nullifier) {
            return Err(Rejection::InProgress);
        }
        if let Some(bytes) = self.store.settlement(nullifier).map_err(internal)? {
            return Settlement::from_bytes(&bytes).map(Some).map_err(|e| {
                tracing::error!("stored settlement unreadable: {e}");
                Rejection::Internal
            });
        }
        let shares = self.store.shares(nullifier).map_err(internal)?;
        drop(inflight);
        let taken = shares.iter().find_map(|s| match s.origin {
            ShareOrigin::Request { commitment } if x.is_none_or(|x| s.share.x == *x) => {
                Some((s.share, commitment))
            }
            _ => None,
        });
        let Some((share, anon)) = taken else { return Ok(None) };
        // A ticket spent twice gets no settlement made after the fact (a request refused as a
        // double spend in a race left its share here): its owner is slashed, not refunded.
        if self.revealed(&share, &shares).is_some() {
            return Ok(None);
        }
        if self.passive {
            // A passive slasher signs nothing (its key is not in the signer set); a node's
            // data directory given to it by mistake keeps its unsettled tickets for the node.
            return Ok(None);
        }
        let owed = self.store.owed_charge(nullifier).map_err(internal)?.unwrap_or(0);
        self.persist_settlement(nullifier, &anon, owed).map(Some)
    }

    fn persist_settlement(
        &self,
        nullifier: &Fr,
        anon: &Point,
        charge: u64,
    ) -> Result<Settlement, Rejection> {
        let settlement = Settlement::sign(
            &self.signer,
            *nullifier,
            anon,
            &self.deployed.scope,
            self.deployed.c_max,
            charge,
        );
        match self.store.put_settlement(nullifier, &settlement.to_bytes()) {
            Ok(()) => Ok(settlement),
            // Settled meanwhile (an interrupted ticket asked for twice): the first one stands.
            Err(StorageError::SettlementConflict) => self
                .store
                .settlement(nullifier)
                .map_err(internal)?
                .and_then(|bytes| Settlement::from_bytes(&bytes).ok())
                .ok_or(Rejection::Internal),
            Err(e) => Err(internal(e)),
        }
    }
}
