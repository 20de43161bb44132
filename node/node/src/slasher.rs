//! Slashing double spenders: the secret recovered from two shares of one ticket is stored
//! first (a crash cannot lose it), then a `slash` proof bound to the node's payout address is
//! made and submitted with the leaf's siblings from the replayed tree. Pending slashes are
//! retried until they land or cannot (the deposit already left `Active`/`Exiting`).

use crate::Metrics;
use alloy::{
    network::EthereumWallet,
    primitives::Address,
    providers::{Provider, ProviderBuilder},
    signers::local::PrivateKeySigner,
};
use std::{
    path::Path,
    sync::{Arc, Mutex},
};
use zkcredits_chain::{ChainError, Escrow};
use zkcredits_primitives::{
    Fr,
    field::fr_from_be_bytes_mod_order,
    identity::{Secret, leaf},
    merkle::LeanImt,
};
use zkcredits_prover::{KeyFile, Manifest, WitnessCircuit, inputs::SlashInputs};
use zkcredits_storage::{PendingSlash, SlashStatus, Storage, StorageError};

/// Escrow statuses a deposit can be slashed in (`Active`, `Exiting`).
const SLASHABLE: [u8; 2] = [1, 2];

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
        Self {
            store,
            rpc_url,
            escrow,
            submitter,
            metrics,
            wake: tokio::sync::Notify::new(),
            pass: tokio::sync::Mutex::new(()),
        }
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
        tracing::warn!(identity = %identity, "double spend detected; slashing");
        self.wake.notify_one();
        Ok(())
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

    /// One pass over the pending slashes.
    pub async fn submit_pending(&self) {
        let Some(submitter) = &self.submitter else { return };
        let _one_pass = self.pass.lock().await;
        let pending = match self.store.slashes() {
            Ok(all) => all.into_iter().filter(|s| s.status == SlashStatus::Pending),
            Err(e) => {
                tracing::error!("cannot read pending slashes: {e}");
                return;
            }
        };
        for mut slash in pending.collect::<Vec<_>>() {
            match self.submit(submitter, &slash).await {
                Ok(Some(status)) => {
                    self.metrics.slash(match status {
                        SlashStatus::Done { .. } => "submitted",
                        _ => "failed",
                    });
                    slash.status = status;
                    if let Err(e) = self.store.put_slash(&slash) {
                        tracing::error!("cannot record a slash outcome: {e}");
                    }
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(identity = %slash.identity, "slash not sent yet: {e}"),
            }
        }
    }

    /// Tries one slash: `Some(status)` when it is settled either way, `None` to retry later.
    async fn submit(
        &self,
        submitter: &SlashSubmitter,
        slash: &PendingSlash,
    ) -> Result<Option<SlashStatus>, ChainError> {
        let url = self.rpc_url.parse().map_err(|e| ChainError::Rpc(format!("{e}")))?;
        // A fresh provider per slash: its nonce comes from the chain, even after a reorg.
        let provider = ProviderBuilder::new()
            .wallet(EthereumWallet::from(submitter.wallet.clone()))
            .connect_http(url)
            .erased();
        let escrow = Escrow::new(self.escrow, provider.clone());
        let record = escrow.deposit_record(slash.identity).await?;
        if !SLASHABLE.contains(&record.status) {
            return Ok(Some(SlashStatus::Failed {
                reason: format!("the deposit is no longer slashable (status {})", record.status),
            }));
        }
        let own_leaf = leaf(slash.identity, record.amount.to::<u128>(), record.expiry.to::<u64>());
        let leaves = self.store.leaves()?;
        let Some(index) = leaves.iter().position(|l| *l == own_leaf) else {
            tracing::info!(identity = %slash.identity, "leaf not applied yet; waiting for the chain");
            return Ok(None);
        };
        let tree = LeanImt::from_leaves(&leaves)
            .map_err(|e| ChainError::InvalidValue(format!("stored tree: {e}")))?;
        let siblings = tree
            .proof(index)
            .map_err(|e| ChainError::InvalidValue(format!("stored tree: {e}")))?
            .siblings;
        let statement = SlashInputs {
            secret: slash.secret,
            receiver: fr_from_be_bytes_mod_order(submitter.payout.as_slice()),
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
        match escrow.slash(slash.identity, submitter.payout, &proof, &siblings).await {
            Ok(done) => {
                tracing::warn!(identity = %slash.identity, tx = %done.tx_hash, "slashed");
                Ok(Some(SlashStatus::Done { tx_hash: done.tx_hash.0 }))
            }
            Err(ChainError::Reverted(revert)) => {
                // Someone slashed or the exit finished between our read and our call; a stale
                // tree (WrongSiblingNodes) is retried with the next block's leaves.
                let reason = revert.to_string();
                if reason.contains("WrongSiblingNodes") || reason.contains("LeafDoesNotExist") {
                    Err(ChainError::Reverted(revert))
                } else {
                    Ok(Some(SlashStatus::Failed { reason }))
                }
            }
            Err(e) => Err(e),
        }
    }
}
