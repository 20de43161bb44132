//! The deposit batcher: deposits wait in the escrow's queue until a `batch_insert` proof appends
//! their leaves (anyone may send one). A pass reads the queue and the tree at the chain head,
//! and when enough deposits wait, the oldest waited long enough, or a condemned leaf is due for
//! removal, proves the next batch (at most 64 deposits, with the removal) on a blocking thread
//! and sends `insertBatch`. A batch that another updater or a slash made stale reverts before the
//! pairing (`StaleBatch` when a rival appended deposits, `StaleRoot` when it only removed a leaf,
//! `StaleRemoval` when a slash made a removal due); the next pass proves again from the new tree.

use crate::{Metrics, config::scrub_url};
use alloy::{
    network::EthereumWallet,
    primitives::Address,
    providers::{DynProvider, Provider, ProviderBuilder},
    signers::local::PrivateKeySigner,
};
use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use zkcredits_chain::{
    ChainError, Escrow, EscrowRevert,
    bindings::CreditEscrow::{CreditEscrowErrors, CreditEscrowEvents},
    events::read_events,
    follower::{batch_change, queued_deposit},
};
use zkcredits_primitives::{Fr, constants::BATCH_INSERT_SIZE, merkle::LeanImt};
use zkcredits_prover::{
    KeyFile, WitnessCircuit,
    inputs::{BatchInsertInputs, QueuedNote},
};
use zkcredits_storage::{QueuedDeposit, Storage};

/// The leaves a tree was built from, and the tree.
type TreeCache = Mutex<Option<(Vec<Fr>, LeanImt)>>;

/// The escrow's `LeafState.Condemned`.
const LEAF_CONDEMNED: u8 = 1;
/// The longest wait between passes after failures.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// When a batch is worth its gas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchPolicy {
    /// Insert once this many deposits wait (at most 64 go into one batch).
    pub min_batch: u64,
    /// Insert whatever waits once the oldest deposit has waited this long (as this node saw it).
    pub max_delay: Duration,
    /// The most blocks the node may lag behind the head and still batch (the head's events
    /// above its cursor are read in one query).
    pub max_lag: u64,
    /// The highest `maxFeePerGas` a batch offers, in wei. While the current estimate (about twice
    /// the base fee plus the tip) is above it, batches wait: a batch is never urgent, and one
    /// sent at its ceiling could be outbid by a rising base fee and hold the wallet's later
    /// transactions behind it. The node uses half its `chain.max_fee_per_gas_gwei`, so that the
    /// slasher, whose ceiling is the whole of it, can always replace a stuck batch.
    pub max_fee_per_gas: u128,
}

/// What the batcher needs to prove and send: a wallet and the `batch_insert` prover.
pub struct BatchSubmitter {
    /// Signs `insertBatch` transactions.
    pub wallet: PrivateKeySigner,
    /// The compiled `batch_insert` circuit.
    pub circuit: Mutex<WitnessCircuit>,
    /// The `batch_insert` proving key.
    pub key: KeyFile,
}

impl std::fmt::Debug for BatchSubmitter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchSubmitter").field("account", &self.wallet.address()).finish()
    }
}

/// What one pass did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchPass {
    /// Nothing waits.
    Idle,
    /// Deposits wait, but too few and not long enough.
    Waiting {
        /// How many.
        waiting: u64,
    },
    /// The node's view lags or the chain moved while reading; the next pass tries again.
    NotReady(String),
    /// A batch landed.
    Inserted {
        /// The first position it appended.
        start: u64,
        /// How many it appended.
        count: u64,
        /// Whether it zeroed a condemned leaf.
        removed: bool,
    },
    /// Another batch from the same tree landed first.
    Stale,
}

/// Proves and sends deposit batches for one escrow.
pub struct Batcher {
    store: Arc<dyn Storage>,
    rpc_url: String,
    escrow: Address,
    submitter: Arc<BatchSubmitter>,
    policy: BatchPolicy,
    metrics: Arc<Metrics>,
    /// Held while sending: the slasher sends from the same wallet, and two senders would pick
    /// the same nonce.
    wallet_lock: Arc<tokio::sync::Mutex<()>>,
    /// The queue position that first waited, and when this node saw it waiting.
    waiting_since: Mutex<Option<(u64, Instant)>>,
    /// The leaves of the last tree built and the tree: the next pass hashes only what changed
    /// (appended leaves, zeroed ones) instead of up to 2^20 leaves again.
    tree_cache: Arc<TreeCache>,
}

impl std::fmt::Debug for Batcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batcher")
            .field("escrow", &self.escrow)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Batcher {
    /// A batcher for `escrow` that sends under `wallet_lock`.
    pub fn new(
        store: Arc<dyn Storage>,
        rpc_url: String,
        escrow: Address,
        submitter: BatchSubmitter,
        policy: BatchPolicy,
        metrics: Arc<Metrics>,
        wallet_lock: Arc<tokio::sync::Mutex<()>>,
    ) -> Self {
        Self {
            store,
            rpc_url,
            escrow,
            submitter: Arc::new(submitter),
            policy,
            metrics,
            wallet_lock,
            waiting_since: Mutex::new(None),
            tree_cache: Arc::default(),
        }
    }

    /// Runs a pass now and every `poll` until `stop` fires; a pass that inserted runs again at
    /// once (more may wait). After failures the wait doubles, up to [`MAX_BACKOFF`]: a pass that
    /// fails rebuilds the tree and may prove again each time.
    pub async fn run(&self, poll: Duration, stop: tokio::sync::watch::Receiver<bool>) {
        let mut stop = stop;
        let mut wait = poll;
        loop {
            let pass = tokio::select! {
                pass = self.pass() => pass,
                _ = stop.changed() => return,
            };
            let failed = pass.is_err();
            match pass {
                Ok(BatchPass::Inserted { .. } | BatchPass::Stale) => {
                    wait = poll;
                    continue;
                }
                Ok(BatchPass::NotReady(reason)) => {
                    tracing::debug!("no deposit batch this pass: {reason}");
                    wait = poll;
                }
                Ok(_) => wait = poll,
                Err(e) => {
                    self.metrics.deposit_batch("failed");
                    let e = scrub_url(&e.to_string(), &self.rpc_url);
                    tracing::warn!(retry_in = ?wait, "deposit batch not inserted yet: {e}");
                }
            }
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                _ = stop.changed() => return,
            }
            if failed {
                wait = (wait * 2).min(MAX_BACKOFF.max(poll));
            }
        }
    }

    /// One pass: reads the queue at the chain head and, when the policy says so, proves and
    /// sends the next batch.
    pub async fn pass(&self) -> Result<BatchPass, ChainError> {
        let url = self
            .rpc_url
            .parse()
            .map_err(|e| ChainError::Rpc(format!("the RPC URL does not parse: {e}")))?;
        let provider = ProviderBuilder::new()
            .wallet(EthereumWallet::from(self.submitter.wallet.clone()))
            .connect_http(url)
            .erased();
        let escrow = Escrow::new(self.escrow, provider.clone());
        let (root, size, queued) = escrow.tree().await?;
        let waiting = queued.saturating_sub(size);
        let mut count = waiting.min(BATCH_INSERT_SIZE as u64);
        let mut removal = self.due_removal(&escrow, size + count).await?;
        if waiting == 0 && removal.is_none() {
            *self.lock_waiting() = None;
            return Ok(BatchPass::Idle);
        }
        let overdue = {
            let mut since = self.lock_waiting();
            let (position, seen) = *since.get_or_insert((size, Instant::now()));
            if position != size {
                *since = Some((size, Instant::now()));
            }
            position == size && seen.elapsed() >= self.policy.max_delay
        };
        if removal.is_none() && waiting < self.policy.min_batch && !overdue {
            return Ok(BatchPass::Waiting { waiting });
        }
        // Before any work: the fees, and a transaction of the wallet still pending (checked
        // again under the wallet lock before sending).
        let fees = provider.estimate_eip1559_fees().await?;
        if fees.max_fee_per_gas > self.policy.max_fee_per_gas {
            return Ok(BatchPass::NotReady(format!(
                "the fees ({} wei a gas) are above the batch fee ceiling ({} wei): the batch waits",
                fees.max_fee_per_gas, self.policy.max_fee_per_gas
            )));
        }
        if let Some(waiting_transactions) = self.pending_transactions(&provider).await? {
            return Ok(BatchPass::NotReady(waiting_transactions));
        }
        let (leaves, queue) = match self.head_state(&provider).await? {
            Some(state) => state,
            None => return Ok(BatchPass::NotReady("the node is still catching up".into())),
        };
        if leaves.len() as u64 != size {
            return Ok(BatchPass::NotReady(format!(
                "the escrow holds {size} leaves, the node's view at the head {}",
                leaves.len()
            )));
        }
        if let Some(capped) = self.stop_before_condemned(&escrow, &queue, size, count).await?
            && capped != count
        {
            let capped_removal = self.due_removal(&escrow, size + capped).await?;
            // Appending nothing and removing nothing would be refused: then the condemned note
            // goes in as it is (the head's removal needs it appended), and is zeroed later.
            if capped > 0 || capped_removal.is_some() {
                (count, removal) = (capped, capped_removal);
            }
        }
        let notes: Vec<QueuedNote> = queue
            .range(size..size + count)
            .map(|(_, d)| QueuedNote { identity: d.identity, deposit: d.amount, expiry: d.expiry })
            .collect();
        if notes.len() as u64 != count {
            return Ok(BatchPass::NotReady("queued deposits not seen yet".into()));
        }
        let acc_start = escrow.accumulator_at(size).await?;
        let acc_end = escrow.accumulator_at(size + count).await?;
        let submitter = Arc::clone(&self.submitter);
        let cache = Arc::clone(&self.tree_cache);
        // Hashing a tree of up to 2^20 leaves and proving take seconds: off the runtime.
        let proven = tokio::task::spawn_blocking(move || {
            let tree = tree_of(&cache, leaves).map_err(|e| format!("tree: {e}"))?;
            if tree.root() != root {
                return Ok(None);
            }
            let batch = BatchInsertInputs { tree, acc_start, notes, removal };
            let signals = batch.public_signals().map_err(|e| e.to_string())?;
            if signals[5] != acc_end {
                return Err("the queued deposits seen do not match the escrow's accumulator".into());
            }
            let inputs = batch.circom_inputs().map_err(|e| e.to_string())?;
            let mut circuit =
                submitter.circuit.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let (proof, _) = submitter
                .key
                .prove(&mut circuit, inputs, &mut rand::rngs::OsRng)
                .map_err(|e| e.to_string())?;
            // The removal's identity is signal 6 (zero when none is due).
            Ok::<_, String>(Some((signals[6], signals[1], proof)))
        })
        .await
        .map_err(|e| ChainError::InvalidValue(format!("the batch prover failed: {e}")))?
        .map_err(ChainError::InvalidValue)?;
        let Some((removed_identity, post_root, proof)) = proven else {
            return Ok(BatchPass::NotReady("the tree moved while the node read it".into()));
        };
        let _sending = self.wallet_lock.lock().await;
        if let Some(waiting_transactions) = self.pending_transactions(&provider).await? {
            return Ok(BatchPass::NotReady(waiting_transactions));
        }
        match escrow
            .insert_batch(
                size,
                count,
                root,
                removed_identity,
                post_root,
                &proof,
                self.policy.max_fee_per_gas,
            )
            .await
        {
            Ok(sent) => {
                let removed = !sent.event.removedIdentity.is_zero();
                self.metrics.deposit_batch("inserted");
                tracing::info!(start = size, count, removed, tx = %sent.tx_hash, "deposit batch inserted");
                Ok(BatchPass::Inserted { start: size, count, removed })
            }
            Err(ChainError::Reverted(EscrowRevert(
                CreditEscrowErrors::StaleBatch(_)
                | CreditEscrowErrors::StaleRoot(_)
                | CreditEscrowErrors::StaleRemoval(_),
            ))) => {
                self.metrics.deposit_batch("stale");
                tracing::info!(
                    start = size,
                    "another deposit batch or a slash landed first; proving again"
                );
                Ok(BatchPass::Stale)
            }
            Err(e) => Err(e),
        }
    }

    /// A batch removes one condemned leaf, the removal queue's head. When other queued notes
    /// are condemned (slashed before a batch appended them), the batch stops before the first
    /// of them that is not the head, so that it enters the tree only with its removal: `None`
    /// when no other removal waits (the usual case, and no record is read).
    async fn stop_before_condemned(
        &self,
        escrow: &Escrow<DynProvider>,
        queue: &BTreeMap<u64, QueuedDeposit>,
        size: u64,
        count: u64,
    ) -> Result<Option<u64>, ChainError> {
        if escrow.pending_removals().await? < 2 {
            return Ok(None);
        }
        let head = escrow.next_removal().await?;
        for (position, deposit) in queue.range(size..size + count) {
            if deposit.identity != head
                && escrow.deposit_record(deposit.identity).await?.leaf == LEAF_CONDEMNED
            {
                return Ok(Some(position - size));
            }
        }
        Ok(Some(count))
    }

    /// A transaction of the wallet still pending (a batch stuck under low fees, a slash) would
    /// hold a batch behind it, and each batch sent meanwhile would land stale and pay for it:
    /// `Some(why)` while the wallet has transactions not mined yet.
    async fn pending_transactions(
        &self,
        provider: &DynProvider,
    ) -> Result<Option<String>, ChainError> {
        let account = self.submitter.wallet.address();
        let mined = provider.get_transaction_count(account).latest().await?;
        let pending = provider.get_transaction_count(account).pending().await?;
        Ok((pending > mined)
            .then(|| format!("{} transaction(s) of {account} are pending", pending - mined)))
    }

    fn lock_waiting(&self) -> std::sync::MutexGuard<'_, Option<(u64, Instant)>> {
        self.waiting_since.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The removal a batch ending at `end` must make: the oldest condemned leaf, once its index
    /// is below `end`.
    async fn due_removal(
        &self,
        escrow: &Escrow<DynProvider>,
        end: u64,
    ) -> Result<Option<(usize, QueuedNote)>, ChainError> {
        let identity = escrow.next_removal().await?;
        if identity == Fr::from(0u64) {
            return Ok(None);
        }
        let record = escrow.deposit_record(identity).await?;
        let index = u64::from(record.leafIndex);
        if index >= end {
            return Ok(None);
        }
        let note = QueuedNote {
            identity,
            deposit: record.amount.to::<u128>(),
            expiry: record.expiry.to::<u64>(),
        };
        Ok(Some((index as usize, note)))
    }

    /// The leaves and the deposits still queued at the chain head: the stored (confirmed) state
    /// plus the events of the blocks above the cursor. `None` while the node lags more than
    /// `max_lag` blocks.
    async fn head_state(
        &self,
        provider: &DynProvider,
    ) -> Result<Option<(Vec<Fr>, BTreeMap<u64, QueuedDeposit>)>, ChainError> {
        // The cursor before the leaves and the queue: a block applied in between is read again
        // below, and writing a leaf or a queue position twice changes nothing.
        let from = self.store.cursor()?.map_or(0, |c| c.number + 1);
        let mut leaves = self.store.leaves()?;
        let mut queue: BTreeMap<u64, QueuedDeposit> = self
            .store
            .queued(leaves.len() as u64, usize::MAX)?
            .into_iter()
            .map(|d| (d.position, d))
            .collect();
        let head = provider.get_block_number().await?;
        if from <= head {
            if head - from >= self.policy.max_lag {
                return Ok(None);
            }
            for log in read_events(provider, self.escrow, from, head).await? {
                match &log.event {
                    CreditEscrowEvents::Deposited(e) => {
                        let deposit = queued_deposit(e)?;
                        queue.insert(deposit.position, deposit);
                    }
                    CreditEscrowEvents::BatchInserted(e) => {
                        let known: Vec<QueuedDeposit> = queue.values().copied().collect();
                        let (updates, _) = batch_change(e, &known)?;
                        for update in updates {
                            let index = usize::try_from(update.index)
                                .map_err(|_| ChainError::InvalidValue("leaf index".into()))?;
                            if index >= leaves.len() {
                                leaves.resize(index + 1, Fr::from(0u64));
                            }
                            leaves[index] = update.leaf;
                        }
                    }
                    _ => {}
                }
            }
        }
        let size = leaves.len() as u64;
        queue.retain(|position, _| *position >= size);
        Ok(Some((leaves, queue)))
    }
}

/// The tree of `leaves`, from the cached tree when `leaves` extends the cached leaves with only
/// appended leaves and zeroed ones (what batches do); built anew otherwise (a reorg). The cache
/// then holds `leaves` and their tree.
fn tree_of(cache: &TreeCache, leaves: Vec<Fr>) -> Result<LeanImt, zkcredits_primitives::TreeError> {
    let mut cache = cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let grown = match cache.take() {
        Some((known, mut tree))
            if known.len() <= leaves.len()
                && known
                    .iter()
                    .zip(&leaves)
                    .all(|(old, new)| old == new || *new == Fr::from(0u64)) =>
        {
            for (index, (old, new)) in known.iter().zip(&leaves).enumerate() {
                if old != new {
                    tree.remove(index)?;
                }
            }
            tree.append(&leaves[known.len()..])?;
            tree
        }
        _ => LeanImt::from_leaves(&leaves)?,
    };
    *cache = Some((leaves, grown.clone()));
    Ok(grown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cached_tree_grows_like_a_rebuilt_one_and_a_reorg_rebuilds_it() {
        let leaf = |x: u64| Fr::from(x + 1_000);
        let cache = Mutex::new(None);
        let first: Vec<Fr> = (0..5).map(leaf).collect();
        assert_eq!(
            tree_of(&cache, first.clone()).expect("tree").root(),
            LeanImt::from_leaves(&first).expect("tree").root()
        );
        // A batch appends three leaves and zeroes one.
        let mut grown = first;
        grown[1] = Fr::from(0u64);
        grown.extend((5..8).map(leaf));
        let expected = LeanImt::from_leaves(&grown).expect("tree");
        let cached = tree_of(&cache, grown.clone()).expect("tree");
        assert_eq!(cached.root(), expected.root());
        assert_eq!(cached.size(), expected.size());
        // A reorg replaced a leaf: built anew.
        let mut reorged = grown[..6].to_vec();
        reorged[5] = leaf(99);
        assert_eq!(
            tree_of(&cache, reorged.clone()).expect("tree").root(),
            LeanImt::from_leaves(&reorged).expect("tree").root()
        );
    }
}
