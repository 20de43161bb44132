//! The client's own view of the escrow: it replays the escrow's events with the node's chain
//! follower into a local RocksDB copy, so the identity tree and the note's path come from the
//! chain, never from a provider (asking one for a path would name the leaf). It also checks
//! what a provider says about the escrow against the escrow itself.

use crate::{ClientError, terms::PaymentTerms, wallet::ChainSettings};
use alloy::{
    network::EthereumWallet,
    providers::{DynProvider, Provider, ProviderBuilder},
    signers::local::PrivateKeySigner,
};
use std::{path::Path, sync::Arc};
use zkcredits_chain::{
    Escrow,
    follower::{Follower, FollowerConfig},
};
use zkcredits_primitives::{
    Fr,
    constants::SIGNER_TREE_DEPTH,
    merkle::{FixedMerkleTree, LeanImt},
    rln,
};
use zkcredits_storage::{ChainStore, RocksStorage};

/// The most blocks one log query spans (public RPC endpoints refuse wide ranges).
const MAX_LOG_RANGE: u64 = 2_000;
/// How often the chain is read again while a deposit waits for its batch.
const INSERTION_POLL: std::time::Duration = std::time::Duration::from_secs(1);

/// The escrow's parameters a request proof commits to, read from the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EscrowParameters {
    /// `Poseidon(chainId, escrow)`.
    pub scope: Fr,
    /// `C_MAX`.
    pub c_max: u64,
    /// The current signer root.
    pub signer_root: Fr,
    /// `EXIT_DELAY`, seconds.
    pub exit_delay: u64,
}

/// A read connection to the escrow and the local copy of its identity tree.
#[derive(Debug, Clone)]
pub struct ChainView {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    settings: ChainSettings,
    provider: DynProvider,
    store: RocksStorage,
    /// One sync at a time: the follower applies blocks in order.
    syncing: std::sync::Mutex<()>,
}

fn rpc_url(settings: &ChainSettings) -> Result<reqwest::Url, ClientError> {
    settings.rpc_url.parse().map_err(|e| {
        ClientError::Chain(zkcredits_chain::ChainError::Rpc(format!(
            "the wallet's RPC URL {:?} does not parse: {e}",
            settings.rpc_url
        )))
    })
}

impl ChainView {
    /// Connects to `settings.rpc_url` and opens (or creates) the local copy in `dir`.
    pub fn open(settings: &ChainSettings, dir: &Path) -> Result<Self, ClientError> {
        let provider = ProviderBuilder::new().connect_http(rpc_url(settings)?).erased();
        let store = RocksStorage::open(dir, true)?;
        Ok(Self {
            inner: Arc::new(Inner {
                settings: settings.clone(),
                provider,
                store,
                syncing: std::sync::Mutex::new(()),
            }),
        })
    }

    /// The escrow, read-only.
    pub fn escrow(&self) -> Escrow<DynProvider> {
        Escrow::new(self.inner.settings.escrow, self.inner.provider.clone())
    }

    /// The escrow with `signer`'s wallet, for deposits and exits.
    pub fn escrow_as(&self, signer: PrivateKeySigner) -> Result<Escrow<DynProvider>, ClientError> {
        let provider = ProviderBuilder::new()
            .wallet(EthereumWallet::from(signer))
            .connect_http(rpc_url(&self.inner.settings)?)
            .erased();
        Ok(Escrow::new(self.inner.settings.escrow, provider))
    }

    /// The RPC provider.
    pub fn provider(&self) -> &DynProvider {
        &self.inner.provider
    }

    /// Replays the escrow's events up to the confirmed head and returns the identity tree.
    /// Storage writes and the tree build run on a blocking thread.
    pub async fn sync(&self) -> Result<LeanImt, ClientError> {
        let inner = Arc::clone(&self.inner);
        let runtime = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || {
            let _one_at_a_time =
                inner.syncing.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let config = FollowerConfig {
                escrow: inner.settings.escrow,
                start_block: inner.settings.deployment_block,
                confirmations: inner.settings.confirmations,
                max_range: MAX_LOG_RANGE,
            };
            let follower = Follower::new(&inner.provider, &inner.store, config);
            loop {
                let report = runtime.block_on(follower.sync_once())?;
                if report.applied_through.is_none() {
                    break;
                }
            }
            let leaves = inner.store.leaves()?;
            LeanImt::from_leaves(&leaves).map_err(|e| {
                ClientError::Chain(zkcredits_chain::ChainError::Rpc(format!(
                    "the escrow's leaves do not form a tree: {e}"
                )))
            })
        })
        .await
        .map_err(|e| ClientError::Task(e.to_string()))?
    }

    /// The escrow's parameters, read now.
    pub async fn parameters(&self) -> Result<EscrowParameters, ClientError> {
        let escrow = self.escrow();
        let parameters = escrow.parameters().await?;
        let scope = escrow.scope().await?;
        let chain_id = self
            .inner
            .provider
            .get_chain_id()
            .await
            .map_err(|e| ClientError::Chain(zkcredits_chain::ChainError::Rpc(e.to_string())))?;
        let expected = rln::scope(chain_id, &self.inner.settings.escrow.0.0);
        if chain_id != self.inner.settings.chain_id || scope != expected {
            return Err(ClientError::Terms(format!(
                "the RPC endpoint serves chain {chain_id}, the wallet pays on chain {}",
                self.inner.settings.chain_id
            )));
        }
        Ok(EscrowParameters {
            scope,
            c_max: parameters.cMax,
            signer_root: escrow.signer_root().await?,
            exit_delay: parameters.exitDelay,
        })
    }

    /// Checks a provider's payment description against the chain: the same chain and escrow,
    /// the escrow's scope and `C_MAX`, and a signer set whose root is the escrow's current
    /// signer root. Nothing a provider says is used before it passed.
    pub async fn check_terms(&self, terms: &PaymentTerms) -> Result<EscrowParameters, ClientError> {
        let settings = &self.inner.settings;
        if terms.chain_id != settings.chain_id || terms.escrow != settings.escrow {
            return Err(ClientError::Terms(format!(
                "the provider takes payments for escrow {} on chain {}, the wallet holds notes of escrow {} on chain {}",
                terms.escrow, terms.chain_id, settings.escrow, settings.chain_id
            )));
        }
        let parameters = self.parameters().await?;
        if terms.scope != parameters.scope {
            return Err(ClientError::Terms("the provider's scope is not the escrow's".into()));
        }
        if terms.c_max != parameters.c_max {
            return Err(ClientError::Terms(format!(
                "the provider's C_MAX {} is not the escrow's {}",
                terms.c_max, parameters.c_max
            )));
        }
        if terms.signer_root != parameters.signer_root {
            return Err(ClientError::Terms(
                "the provider's signer root is not the escrow's current one (it may be rotating keys; retry shortly)".into(),
            ));
        }
        if terms.signer_tree()?.root() != parameters.signer_root {
            return Err(ClientError::Terms(
                "the provider's signer keys do not hash to the escrow's signer root".into(),
            ));
        }
        Ok(parameters)
    }

    /// [`ChainView::sync`] until the tree holds leaf `leaf_index`, at most `wait`: a deposit
    /// can pay only once a batch has inserted its leaf (providers batch within minutes). The
    /// tree as it is at the deadline otherwise.
    pub async fn sync_until_inserted(
        &self,
        leaf_index: u64,
        wait: std::time::Duration,
    ) -> Result<LeanImt, ClientError> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut announced = false;
        loop {
            // The escrow's size first: one call, where a sync rebuilds the whole tree.
            let (_, size, _) = self.escrow().tree().await?;
            if size > leaf_index || tokio::time::Instant::now() >= deadline {
                let tree = self.sync().await?;
                if tree.size() as u64 > leaf_index || tokio::time::Instant::now() >= deadline {
                    return Ok(tree);
                }
            } else if !announced {
                tracing::info!(leaf_index, "the deposit waits for a batch to insert its leaf");
                announced = true;
            }
            tokio::time::sleep(INSERTION_POLL).await;
        }
    }
}

impl PaymentTerms {
    /// The signer set as a tree, the keys in the order given.
    pub fn signer_tree(&self) -> Result<FixedMerkleTree, ClientError> {
        let leaves: Vec<Fr> = self.signers.iter().map(|k| k.signer_leaf()).collect();
        FixedMerkleTree::new(SIGNER_TREE_DEPTH, &leaves).map_err(|e| {
            ClientError::Terms(format!(
                "the provider's signer set does not fit the signer tree: {e}"
            ))
        })
    }
}
