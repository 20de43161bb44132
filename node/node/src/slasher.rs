//! Slashing double spenders: the secret recovered from two shares of one ticket is stored
//! first (a crash cannot lose it), then a `slash` proof bound to the node's payout address and
//! the escrow's scope is made and submitted. The slash takes no tree state, so nothing can
//! block it; it condemns the leaf, which the next deposit batch zeroes ([`crate::batcher`]).
//! The escrow's record drives each pass: a slash is `Pending` until it is sent, `Submitted`
//! until it lands, `Landed` until the follower applied its leaf's removal, then `Done`.

use crate::{Metrics, config::scrub_url, pipeline::unix_now as pipeline_now};
use alloy::{
    network::EthereumWallet,
    primitives::{Address, TxHash},
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::types::{TransactionReceipt, TransactionRequest},
    signers::local::PrivateKeySigner,
};
use ark_bn254::Bn254;
use ark_ff::Field;
use ark_groth16::Proof;
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};
use zkcredits_chain::{
    ChainError, Escrow, EscrowRevert, Fees, bindings::CreditEscrow::CreditEscrowErrors,
};
use zkcredits_primitives::{
    Fr,
    field::fr_from_be_bytes_mod_order,
    identity::{Secret, leaf},
    rln::{Share, nullifier},
};
use zkcredits_prover::{KeyFile, WitnessCircuit, inputs::SlashInputs};
use zkcredits_storage::{PendingSlash, SlashStatus, Storage, StorageError};

/// The escrow's `Status` values a slash acts on: `Active` and `Exiting` deposits are paid
/// out, the leaf of an `Exited` one is condemned.
const STATUS_NONE: u8 = 0;
const STATUS_ACTIVE: u8 = 1;
const STATUS_EXITING: u8 = 2;
const STATUS_EXITED: u8 = 3;
/// The escrow's `LeafState` values.
const LEAF_IN_TREE: u8 = 0;
const LEAF_CONDEMNED: u8 = 1;
const LEAF_REMOVED: u8 = 2;
/// How often a pass asks for the receipts it waits for.
const RECEIPT_POLL: std::time::Duration = std::time::Duration::from_millis(250);

/// What the slasher needs to submit: a wallet, where bounties go, and the slash prover.
pub struct SlashSubmitter {
    /// Signs slash transactions.
    pub wallet: PrivateKeySigner,
    /// Receives the bounty; bound into the proof.
    pub payout: Address,
    /// The compiled slash circuit.
    pub circuit: Mutex<WitnessCircuit>,
    /// The slash proving key.
    pub key: KeyFile,
}

impl std::fmt::Debug for SlashSubmitter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlashSubmitter").field("payout", &self.payout).finish_non_exhaustive()
    }
}

/// When slash transactions are waited for and replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlashTiming {
    /// Blocks behind the head at which a slash counts as landed (the follower's depth).
    pub confirmations: u64,
    /// How long a pass waits for the receipts of the slashes it sent, so their landing is seen
    /// in the same pass.
    pub receipt_wait: std::time::Duration,
    /// How long a slash transaction may stay unmined before it is replaced, same nonce, higher
    /// fees.
    pub replace_after: std::time::Duration,
    /// The highest `maxFeePerGas` a slash or a replacement offers, in wei.
    pub max_fee_per_gas: u128,
    /// How long each rank waits before sending a slash it detected (spec/07 §Racing slashers).
    pub holdoff: std::time::Duration,
    /// This node's signer index and the signer set's size: a slash's ranks are the indices
    /// ordered by `SHA-256(identity ‖ index)`; an index past the set (a passive slasher) ranks
    /// after every node. `None`: no hold-off (a node alone).
    pub rank_among: Option<(usize, usize)>,
}

impl SlashTiming {
    /// How long after its detection this node waits before sending the slash of `identity`:
    /// its rank times the hold-off, so that of the nodes that all saw one double spend, one
    /// sends and the others find it landed.
    pub fn holdoff_for(&self, identity: &Fr) -> std::time::Duration {
        use sha2::{Digest, Sha256};
        let Some((own, size)) = self.rank_among else { return std::time::Duration::ZERO };
        let order = |index: usize| {
            let mut hash = Sha256::new();
            hash.update(zkcredits_primitives::field::fr_to_be_bytes(identity));
            hash.update((index as u64).to_be_bytes());
            hash.finalize()
        };
        let rank = if own >= size {
            size
        } else {
            let own_order = order(own);
            (0..size).filter(|&i| i != own && order(i) < own_order).count()
        };
        self.holdoff.saturating_mul(u32::try_from(rank).unwrap_or(u32::MAX))
    }
}

/// Records and submits slashes.
pub struct Slasher {
    store: Arc<dyn Storage>,
    rpc_url: String,
    escrow: Address,
    submitter: Option<Arc<SlashSubmitter>>,
    timing: SlashTiming,
    metrics: Arc<Metrics>,
    wake: tokio::sync::Notify,
    /// One submission pass at a time: two would race to slash one deposit. The batcher holds
    /// it too while it sends, from the same wallet.
    pass: Arc<tokio::sync::Mutex<()>>,
    /// The secrets of slashes not complete yet: until its removal lands, a slashed leaf is in
    /// every root, and only these secrets tell its new tickets apart.
    open_secrets: std::sync::RwLock<Vec<Secret>>,
    /// Slash proofs made, by identity: a replacement or a retry sends the same proof.
    proofs: Mutex<HashMap<Fr, Proof<Bn254>>>,
}

impl std::fmt::Debug for Slasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slasher").field("escrow", &self.escrow).finish_non_exhaustive()
    }
}

impl Slasher {
    /// A slasher for `escrow`; without a submitter, slashes are recorded only.
    pub fn new(
        store: Arc<dyn Storage>,
        rpc_url: String,
        escrow: Address,
        submitter: Option<SlashSubmitter>,
        timing: SlashTiming,
        metrics: Arc<Metrics>,
    ) -> Self {
        let slasher = Self {
            store,
            rpc_url,
            escrow,
            submitter: submitter.map(Arc::new),
            timing,
            metrics,
            wake: tokio::sync::Notify::new(),
            pass: Arc::new(tokio::sync::Mutex::new(())),
            open_secrets: std::sync::RwLock::default(),
            proofs: Mutex::default(),
        };
        slasher.refresh_open_secrets();
        slasher
    }

    /// The lock a pass holds while it sends: whatever else sends from the slasher's wallet
    /// takes it too, so no two transactions pick the same nonce.
    pub fn wallet_lock(&self) -> Arc<tokio::sync::Mutex<()>> {
        Arc::clone(&self.pass)
    }

    /// Whether `share` was made by the secret of a slash not complete yet: a new ticket of an
    /// identity caught double spending, whose leaf is still in the roots the node accepts.
    /// One inversion, then one Poseidon hash per open slash.
    pub fn made_by_slashed(&self, share: &Share) -> bool {
        let Some(x_inv) = share.x.inverse() else { return false };
        self.open_secrets
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .any(|k| nullifier(&((share.y - k.expose()) * x_inv)) == share.nullifier)
    }

    fn refresh_open_secrets(&self) {
        let secrets = self.open_slashes().into_iter().map(|s| s.secret).collect();
        *self.open_secrets.write().unwrap_or_else(std::sync::PoisonError::into_inner) = secrets;
    }

    /// Records the slash of the secret recovered from two shares of `nullifier` (unless one is
    /// recorded already) and wakes the submission loop.
    pub fn detected(&self, secret: Secret, nullifier: Fr, now: u64) -> Result<(), StorageError> {
        let identity = secret.commitment();
        let inserted = self.store.insert_slash(&PendingSlash {
            identity,
            secret,
            nullifier,
            detected_at: now,
            status: SlashStatus::Pending,
        })?;
        if !inserted {
            return Ok(());
        }
        self.metrics.slash("detected");
        self.refresh_open_secrets();
        tracing::warn!(identity = %identity, "double spend detected; slashing");
        self.wake.notify_one();
        Ok(())
    }

    /// Takes up `count` slashes the chain follower stored with their blocks (exits that reuse a
    /// spent ticket); with 0, only re-reads which slashes are open.
    pub fn recorded(&self, count: usize) {
        for _ in 0..count {
            self.metrics.slash("detected");
        }
        self.refresh_open_secrets();
        if count > 0 {
            tracing::warn!(count, "exits reusing spent tickets detected; slashing");
        }
        self.wake.notify_one();
    }

    /// Submits pending slashes now and whenever woken or every `retry`, until `stop` fires.
    pub async fn run(&self, retry: std::time::Duration, stop: tokio::sync::watch::Receiver<bool>) {
        let mut stop = stop;
        loop {
            // A pass waiting on a silent RPC or a slow receipt must not hold up shutdown; what a
            // pass did is recorded as it goes, so the next start resumes it.
            tokio::select! {
                () = self.submit_pending() => {}
                _ = stop.changed() => return,
            }
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(retry) => {}
                _ = stop.changed() => return,
            }
        }
    }

    /// One pass: sends (or replaces) the slashes that have not landed, then records which
    /// slashes landed and which are complete, as the escrow shows them at the confirmation
    /// depth.
    pub async fn submit_pending(&self) {
        let Some(submitter) = &self.submitter else { return };
        let _one_pass = self.pass.lock().await;
        let url = match self.rpc_url.parse() {
            Ok(url) => url,
            Err(e) => {
                tracing::error!("the RPC URL does not parse: {e}");
                return;
            }
        };
        let provider = ProviderBuilder::new()
            .wallet(EthereumWallet::from(submitter.wallet.clone()))
            .connect_http(url)
            .erased();
        let escrow = Escrow::new(self.escrow, provider.clone());
        let mut sent = Vec::new();
        for mut slash in self.open_slashes() {
            match self.advance(submitter, &escrow, &provider, &slash).await {
                Ok(Some(status)) if status != slash.status => {
                    if let SlashStatus::Submitted { tx_hash, .. } = status {
                        sent.push(TxHash::from(tx_hash));
                    }
                    slash.status = status;
                    // Written before any wait: a crash or a lost receipt leaves the transaction
                    // known, to be found landed, or replaced.
                    self.record(&slash);
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(
                    identity = %slash.identity,
                    "slash not sent yet: {}",
                    scrub_url(&e.to_string(), &self.rpc_url)
                ),
            }
        }
        self.wait_for_receipts(&escrow, &sent).await;
        for mut slash in self.open_slashes() {
            let confirmed = match self.confirmed_block(&provider).await {
                Ok(block) => block,
                Err(e) => {
                    let e = scrub_url(&e.to_string(), &self.rpc_url);
                    tracing::warn!("cannot read the chain head: {e}");
                    break;
                }
            };
            match self.landed(&escrow, &slash, confirmed).await {
                Ok(Some(status)) if status != slash.status => {
                    slash.status = status;
                    self.record(&slash);
                }
                Ok(_) => {}
                Err(e) => {
                    let e = scrub_url(&e.to_string(), &self.rpc_url);
                    tracing::warn!(identity = %slash.identity, "cannot read the deposit: {e}");
                }
            }
        }
        self.refresh_open_secrets();
    }

    /// The stored slashes not complete yet.
    fn open_slashes(&self) -> Vec<PendingSlash> {
        match self.store.slashes() {
            Ok(all) => all.into_iter().filter(|s| s.status.is_open()).collect(),
            Err(e) => {
                tracing::error!("cannot read pending slashes: {e}");
                Vec::new()
            }
        }
    }

    fn record(&self, slash: &PendingSlash) {
        match &slash.status {
            SlashStatus::Submitted { .. } => self.metrics.slash("submitted"),
            SlashStatus::Landed { .. } => self.metrics.slash("landed"),
            SlashStatus::Failed { .. } => self.metrics.slash("failed"),
            SlashStatus::Pending | SlashStatus::Done { .. } => {}
        }
        if !slash.status.is_open() {
            self.proofs
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .remove(&slash.identity);
        }
        if let Err(e) = self.store.put_slash(slash) {
            tracing::error!("cannot record a slash outcome: {e}");
        }
    }

    /// The newest block at the follower's confirmation depth.
    async fn confirmed_block(&self, provider: &DynProvider) -> Result<u64, ChainError> {
        Ok(provider.get_block_number().await?.saturating_sub(self.timing.confirmations))
    }

    /// `Some(Landed | Done)` when the escrow shows the leaf condemned or removed at block
    /// `confirmed` (`Done` once the follower applied the removal too; the slash counts as the
    /// node's own when its transaction succeeded);
    /// `Some(Pending)` when a slash recorded as landed is no longer (a reorg deeper than the
    /// confirmations); `None` when it has not landed.
    async fn landed(
        &self,
        escrow: &Escrow<DynProvider>,
        slash: &PendingSlash,
        confirmed: u64,
    ) -> Result<Option<SlashStatus>, ChainError> {
        let record = escrow.deposit_record_at(slash.identity, confirmed).await?;
        if record.leaf != LEAF_CONDEMNED && record.leaf != LEAF_REMOVED {
            return Ok(
                matches!(slash.status, SlashStatus::Landed { .. }).then_some(SlashStatus::Pending)
            );
        }
        let own = match slash.status {
            SlashStatus::Submitted { tx_hash, .. } => escrow
                .receipt(TxHash::from(tx_hash))
                .await?
                .filter(TransactionReceipt::status)
                .map(|_| tx_hash),
            SlashStatus::Landed { tx_hash } | SlashStatus::Done { tx_hash } => tx_hash,
            SlashStatus::Pending | SlashStatus::Failed { .. } => None,
        };
        // Done only once the follower applied the removal too: until then the node's root
        // window still holds roots with the leaf, and the open secret keeps refusing it (9a).
        let removed_here = record.leaf == LEAF_REMOVED && {
            let own_leaf =
                leaf(slash.identity, record.amount.to::<u128>(), record.expiry.to::<u64>());
            !self.store.leaves()?.contains(&own_leaf)
        };
        Ok(Some(if removed_here {
            SlashStatus::Done { tx_hash: own }
        } else {
            SlashStatus::Landed { tx_hash: own }
        }))
    }

    /// Moves `slash` towards landing: `Some(status)` when it moved (a transaction sent or
    /// replaced, a landing seen, or a deposit that can never be slashed), `None` to look again
    /// on the next pass.
    async fn advance(
        &self,
        submitter: &Arc<SlashSubmitter>,
        escrow: &Escrow<DynProvider>,
        provider: &DynProvider,
        slash: &PendingSlash,
    ) -> Result<Option<SlashStatus>, ChainError> {
        let confirmed = self.confirmed_block(provider).await?;
        if let Some(status) = self.landed(escrow, slash, confirmed).await? {
            return Ok(Some(status));
        }
        if slash.status == SlashStatus::Pending {
            let holdoff = self.timing.holdoff_for(&slash.identity).as_secs();
            if pipeline_now() < slash.detected_at.saturating_add(holdoff) {
                // Another node ranks first: give its slash the time to land.
                return Ok(None);
            }
        }
        let mut replacing = None;
        if let SlashStatus::Submitted {
            tx_hash,
            nonce,
            max_fee_per_gas,
            max_priority_fee_per_gas,
            sent_at,
        } = slash.status
        {
            let earlier = Fees { max_fee_per_gas, max_priority_fee_per_gas };
            if let Some(receipt) = escrow.receipt(TxHash::from(tx_hash)).await? {
                // Mined: it lands once confirmed. Mined and reverted: the state changed since
                // estimation; send again.
                if receipt.status() {
                    return Ok(None);
                }
            } else {
                let mined = escrow.mined_nonce(submitter.wallet.address()).await?;
                let waited = pipeline_now().saturating_sub(sent_at);
                if mined > nonce {
                    // The nonce went to another transaction (perhaps an earlier version of this
                    // one): wait while the head shows the slash, else send again.
                    let head = escrow.deposit_record(slash.identity).await?;
                    if head.leaf != LEAF_IN_TREE {
                        return Ok(None);
                    }
                } else if waited < self.timing.replace_after.as_secs() {
                    return Ok(None);
                } else if mined < nonce {
                    // An earlier transaction of the wallet holds the queue: raising this one's
                    // fees would not help. Replace that one with an empty transfer.
                    self.unblock(escrow, submitter, mined).await?;
                    return Ok(None);
                } else if earlier.capped(self.timing.max_fee_per_gas)
                    == earlier.bumped().capped(self.timing.max_fee_per_gas)
                {
                    tracing::warn!(identity = %slash.identity, "slash stuck at the fee ceiling (chain.max_fee_per_gas_gwei)");
                    return Ok(None);
                } else {
                    replacing = Some((nonce, earlier));
                }
            }
        }
        let head = escrow.deposit_record(slash.identity).await?;
        if head.leaf != LEAF_IN_TREE {
            // Landed at the head (by anyone): it counts once confirmed.
            return Ok(None);
        }
        match head.status {
            STATUS_ACTIVE | STATUS_EXITING | STATUS_EXITED => {}
            // A lagging RPC may not show a deposit the node saw: look again later.
            STATUS_NONE => return Ok(None),
            status => {
                return Ok(Some(SlashStatus::Failed {
                    reason: format!("the deposit cannot be slashed (status {status})"),
                }));
            }
        }
        let proof = self.proof(submitter, slash, escrow).await?;
        let sender = submitter.wallet.address();
        match escrow
            .send_slash(
                slash.identity,
                submitter.payout,
                &proof,
                sender,
                replacing,
                self.timing.max_fee_per_gas,
            )
            .await
        {
            Ok(sent) => {
                let replaced =
                    if replacing.is_some() { "replaced a stuck slash" } else { "slash sent" };
                tracing::warn!(identity = %slash.identity, tx = %sent.tx_hash, nonce = sent.nonce, "{replaced}");
                Ok(Some(SlashStatus::Submitted {
                    tx_hash: sent.tx_hash.0,
                    nonce: sent.nonce,
                    max_fee_per_gas: sent.fees.max_fee_per_gas,
                    max_priority_fee_per_gas: sent.fees.max_priority_fee_per_gas,
                    sent_at: pipeline_now(),
                }))
            }
            // Someone else slashed first: it counts once confirmed, and a batch removes the leaf
            // whoever slashed it.
            Err(ChainError::Reverted(EscrowRevert(CreditEscrowErrors::DepositNotSlashable(_)))) => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// The slash proof for `slash`, bound to the payout address and the escrow's scope: made
    /// once, off the async runtime, and kept for replacements and retries.
    async fn proof(
        &self,
        submitter: &Arc<SlashSubmitter>,
        slash: &PendingSlash,
        escrow: &Escrow<DynProvider>,
    ) -> Result<Proof<Bn254>, ChainError> {
        let cached = self
            .proofs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&slash.identity)
            .cloned();
        if let Some(proof) = cached {
            return Ok(proof);
        }
        let statement = SlashInputs {
            secret: slash.secret,
            receiver: fr_from_be_bytes_mod_order(submitter.payout.as_slice()),
            scope: escrow.scope().await?,
        };
        let prover = Arc::clone(submitter);
        let proof = tokio::task::spawn_blocking(move || {
            // Each proof computes its witness afresh: a panic in an earlier one leaves nothing
            // this one reads.
            let mut circuit =
                prover.circuit.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            prover
                .key
                .prove(&mut circuit, statement.circom_inputs(), &mut rand::rngs::OsRng)
                .map(|(proof, _)| proof)
                .map_err(|e| ChainError::InvalidValue(format!("slash proof: {e}")))
        })
        .await
        .map_err(|e| ChainError::InvalidValue(format!("the slash prover task failed: {e}")))??;
        self.proofs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(slash.identity, proof.clone());
        Ok(proof)
    }

    /// Replaces the wallet's pending transaction at `nonce` (one this node sent earlier and
    /// did not track, a deposit batch most likely) with an empty transfer to itself, at twice the
    /// current fees within the ceiling, so the transactions behind it can be mined.
    async fn unblock(
        &self,
        escrow: &Escrow<DynProvider>,
        submitter: &SlashSubmitter,
        nonce: u64,
    ) -> Result<(), ChainError> {
        let provider = escrow.instance().provider();
        let current = provider.estimate_eip1559_fees().await?;
        let fees = Fees {
            max_fee_per_gas: current.max_fee_per_gas.saturating_mul(2),
            max_priority_fee_per_gas: current.max_priority_fee_per_gas.saturating_mul(2),
        }
        .capped(self.timing.max_fee_per_gas);
        let me = submitter.wallet.address();
        let transfer = TransactionRequest::default()
            .from(me)
            .to(me)
            .nonce(nonce)
            .gas_limit(21_000)
            .max_fee_per_gas(fees.max_fee_per_gas)
            .max_priority_fee_per_gas(fees.max_priority_fee_per_gas);
        let sent = provider.send_transaction(transfer).await?;
        tracing::warn!(nonce, tx = %sent.tx_hash(), "replaced a stuck transaction of the wallet to free the slash behind it");
        Ok(())
    }

    /// Waits, at most [`SlashTiming::receipt_wait`] in all, until each of `sent` is mined.
    async fn wait_for_receipts(&self, escrow: &Escrow<DynProvider>, sent: &[TxHash]) {
        let deadline = tokio::time::Instant::now() + self.timing.receipt_wait;
        for tx_hash in sent {
            while !matches!(escrow.receipt(*tx_hash).await, Ok(Some(_))) {
                if tokio::time::Instant::now() >= deadline {
                    return;
                }
                tokio::time::sleep(RECEIPT_POLL).await;
            }
        }
    }
}
