//! Slashing double spenders: the secret recovered from two shares of one ticket is stored
//! first (a crash cannot lose it), then a `slash` proof bound to the node's payout address and
//! the escrow's scope is made and submitted. The slash takes no tree state, so nothing can
//! block it; it condemns the leaf. Every pass also removes condemned leaves, whoever slashed
//! them, in the escrow's queue order, with siblings read at the chain head (deposits wait while
//! a removal is pending and only the queue head can be removed, so nothing makes those siblings
//! stale). The escrow's record drives each pass: a slash is `Pending` until it lands,
//! `Submitted` until its leaf is removed, then `Done`.

use crate::{Metrics, config::scrub_url};
use alloy::{
    network::EthereumWallet,
    primitives::Address,
    providers::{DynProvider, Provider, ProviderBuilder},
    signers::local::PrivateKeySigner,
};
use ark_ff::Field;
use std::{
    path::Path,
    sync::{Arc, Mutex},
};
use zkcredits_chain::{
    ChainError, Escrow, EscrowRevert, bindings::CreditEscrow::CreditEscrowErrors,
    events::read_events, follower::tree_change,
};
use zkcredits_primitives::{
    Fr,
    field::fr_from_be_bytes_mod_order,
    identity::{Secret, leaf},
    merkle::LeanImt,
    rln::{Share, nullifier},
};
use zkcredits_prover::{KeyFile, Manifest, WitnessCircuit, inputs::SlashInputs};
use zkcredits_storage::{PendingSlash, SlashStatus, Storage, StorageError};

/// The escrow's `Status` values a slash acts on: `Active` and `Exiting` deposits are paid
/// out, the leaf of an `Exited` one is condemned.
const STATUS_NONE: u8 = 0;
const STATUS_ACTIVE: u8 = 1;
const STATUS_EXITING: u8 = 2;
const STATUS_EXITED: u8 = 3;
/// The escrow's `LeafState` values past `InTree`.
const LEAF_CONDEMNED: u8 = 1;
const LEAF_REMOVED: u8 = 2;
/// The most condemned leaves one pass removes (each waits for its transaction).
const REMOVALS_PER_PASS: usize = 16;

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

/// Loads the slash circuit and key, both checked against the artifact manifest.
pub fn load_slash_prover(
    build_dir: &Path,
    key_path: &Path,
    manifest: &Manifest,
) -> Result<(WitnessCircuit, KeyFile), zkcredits_prover::ProverError> {
    let circuit = WitnessCircuit::load_checked(build_dir, "slash", manifest)?;
    let key = if key_path.extension().is_some_and(|e| e == "zkey") {
        KeyFile::import_zkey(key_path)?
    } else {
        KeyFile::read_dev(key_path)?
    };
    manifest.check_verifying_key("slash", key_path, &key.proving_key().vk)?;
    Ok((circuit, key))
}

/// Records and submits slashes.
pub struct Slasher {
    store: Arc<dyn Storage>,
    rpc_url: String,
    escrow: Address,
    submitter: Option<SlashSubmitter>,
    metrics: Arc<Metrics>,
    wake: tokio::sync::Notify,
    /// One submission pass at a time: two would race to slash one deposit.
    pass: tokio::sync::Mutex<()>,
    /// The secrets of slashes not complete yet: until its removal lands, a slashed leaf is in
    /// every root, and only these secrets tell its new tickets apart.
    open_secrets: std::sync::RwLock<Vec<Secret>>,
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
        metrics: Arc<Metrics>,
    ) -> Self {
        let slasher = Self {
            store,
            rpc_url,
            escrow,
            submitter,
            metrics,
            wake: tokio::sync::Notify::new(),
            pass: tokio::sync::Mutex::new(()),
            open_secrets: std::sync::RwLock::default(),
        };
        slasher.refresh_open_secrets();
        slasher
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
        if self.store.slashes()?.iter().any(|s| s.identity == identity) {
            return Ok(());
        }
        self.store.put_slash(&PendingSlash {
            identity,
            secret,
            nullifier,
            detected_at: now,
            status: SlashStatus::Pending,
        })?;
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
            self.submit_pending().await;
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(retry) => {}
                _ = stop.changed() => return,
            }
        }
    }

    /// One pass: sends the slashes that have not landed, removes condemned leaves in the
    /// escrow's queue order (whoever slashed them), then records which slashes are complete.
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
        // A fresh provider per pass: its nonce comes from the chain, even after a reorg.
        let provider = ProviderBuilder::new()
            .wallet(EthereumWallet::from(submitter.wallet.clone()))
            .connect_http(url)
            .erased();
        let escrow = Escrow::new(self.escrow, provider.clone());
        for mut slash in self.open_slashes() {
            match self.slash_once(submitter, &escrow, &slash).await {
                Ok(Some(status)) => {
                    if matches!(status, SlashStatus::Failed { .. }) {
                        self.metrics.slash("failed");
                    }
                    slash.status = status;
                    self.record(&slash);
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(
                    identity = %slash.identity,
                    "slash not sent yet: {}",
                    scrub_url(&e.to_string(), &self.rpc_url)
                ),
            }
        }
        if let Err(e) = self.remove_condemned(&escrow, &provider).await {
            tracing::warn!(
                "condemned leaves not removed yet: {}",
                scrub_url(&e.to_string(), &self.rpc_url)
            );
        }
        for mut slash in self.open_slashes() {
            let SlashStatus::Submitted { tx_hash } = slash.status else { continue };
            match escrow.deposit_record(slash.identity).await {
                Ok(record) if record.leaf == LEAF_REMOVED => {
                    slash.status = SlashStatus::Done { tx_hash };
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
            Ok(all) => all
                .into_iter()
                .filter(|s| {
                    matches!(s.status, SlashStatus::Pending | SlashStatus::Submitted { .. })
                })
                .collect(),
            Err(e) => {
                tracing::error!("cannot read pending slashes: {e}");
                Vec::new()
            }
        }
    }

    fn record(&self, slash: &PendingSlash) {
        if let Err(e) = self.store.put_slash(slash) {
            tracing::error!("cannot record a slash outcome: {e}");
        }
    }

    /// Sends the slash of `slash` unless the escrow shows it landed: `Some(status)` when the
    /// slash moved (or can never move), `None` to look again on the next pass.
    async fn slash_once(
        &self,
        submitter: &SlashSubmitter,
        escrow: &Escrow<DynProvider>,
        slash: &PendingSlash,
    ) -> Result<Option<SlashStatus>, ChainError> {
        let record = escrow.deposit_record(slash.identity).await?;
        match (record.leaf, &slash.status) {
            (LEAF_REMOVED, SlashStatus::Pending) => {
                return Ok(Some(SlashStatus::Failed {
                    reason: "slashed and removed by someone else".into(),
                }));
            }
            // Landed: the removal and the final status follow in the same pass.
            (LEAF_CONDEMNED | LEAF_REMOVED, _) => return Ok(None),
            // In the tree: not slashed yet, or a reorg undid our slash.
            _ => {}
        }
        match record.status {
            STATUS_ACTIVE | STATUS_EXITING | STATUS_EXITED => {}
            // A lagging RPC may not show a deposit the node saw: look again later.
            STATUS_NONE => return Ok(None),
            status => {
                return Ok(Some(SlashStatus::Failed {
                    reason: format!("the deposit cannot be slashed (status {status})"),
                }));
            }
        }
        let statement = SlashInputs {
            secret: slash.secret,
            receiver: fr_from_be_bytes_mod_order(submitter.payout.as_slice()),
            scope: escrow.scope().await?,
        };
        let proof = {
            let mut circuit = submitter.circuit.lock().map_err(|_| {
                ChainError::InvalidValue("the slash prover panicked earlier".into())
            })?;
            submitter
                .key
                .prove(&mut circuit, statement.circom_inputs(), &mut rand::rngs::OsRng)
                .map_err(|e| ChainError::InvalidValue(format!("slash proof: {e}")))?
                .0
        };
        match escrow.slash(slash.identity, submitter.payout, &proof).await {
            Ok(done) => {
                tracing::warn!(identity = %slash.identity, tx = %done.tx_hash, "slashed");
                self.metrics.slash("submitted");
                Ok(Some(SlashStatus::Submitted { tx_hash: done.tx_hash.0 }))
            }
            // Someone else slashed first: their removal is ours to help with, nothing else.
            Err(ChainError::Reverted(EscrowRevert(CreditEscrowErrors::DepositNotSlashable(_)))) => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Removes condemned leaves, oldest first as the escrow requires, while any wait (at most
    /// [`REMOVALS_PER_PASS`]). Deposits are refused meanwhile, so only removals change the
    /// tree: siblings read at the head stay valid until the head is removed, by us or anyone.
    async fn remove_condemned(
        &self,
        escrow: &Escrow<DynProvider>,
        provider: &DynProvider,
    ) -> Result<(), ChainError> {
        for _ in 0..REMOVALS_PER_PASS {
            let next = escrow.next_removal().await?;
            if next == Fr::from(0u64) {
                return Ok(());
            }
            let record = escrow.deposit_record(next).await?;
            let own_leaf = leaf(next, record.amount.to::<u128>(), record.expiry.to::<u64>());
            let Some((index, siblings)) = self.siblings_at_head(provider, own_leaf).await? else {
                tracing::info!(identity = %next, "condemned leaf not seen yet; waiting for the chain");
                return Ok(());
            };
            match escrow.remove_leaf(next, &siblings).await {
                Ok(removed) => {
                    self.metrics.slash("removed");
                    tracing::info!(identity = %next, index, tx = %removed.tx_hash, "condemned leaf removed");
                }
                // Someone removed it first: the next head is read on the next round.
                Err(ChainError::Reverted(EscrowRevert(
                    CreditEscrowErrors::LeafNotCondemned(_)
                    | CreditEscrowErrors::RemovalOutOfOrder(_),
                ))) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// The index and LeanIMT siblings of `own_leaf` in the tree at the chain head: the stored
    /// (confirmed) leaves plus the insertions and removals of the blocks above the cursor.
    /// `None` while the leaf is not in the tree yet.
    async fn siblings_at_head(
        &self,
        provider: &impl Provider,
        own_leaf: Fr,
    ) -> Result<Option<(usize, Vec<Fr>)>, ChainError> {
        // The cursor before the leaves: a block applied in between is read again below, and
        // writing a leaf by its index twice gives the same tree.
        let from = self.store.cursor()?.map_or(0, |c| c.number + 1);
        let mut leaves = self.store.leaves()?;
        let head = provider.get_block_number().await?;
        if from <= head {
            for log in read_events(provider, self.escrow, from, head).await? {
                let Some((update, _)) = tree_change(&log.event)? else { continue };
                let index = usize::try_from(update.index)
                    .map_err(|_| ChainError::InvalidValue("leaf index".into()))?;
                if index >= leaves.len() {
                    leaves.resize(index + 1, Fr::from(0u64));
                }
                leaves[index] = update.leaf;
            }
        }
        let Some(index) = leaves.iter().position(|l| *l == own_leaf) else { return Ok(None) };
        // Up to 2^20 leaves: hash them off the async runtime.
        let siblings = tokio::task::spawn_blocking(move || {
            LeanImt::from_leaves(&leaves)
                .and_then(|tree| tree.proof(index))
                .map(|proof| proof.siblings)
        })
        .await
        .map_err(|e| ChainError::InvalidValue(format!("the tree task failed: {e}")))?
        .map_err(|e| ChainError::InvalidValue(format!("tree at the head: {e}")))?;
        Ok(Some((index, siblings)))
    }
}
