//! The zkcredits provider node: it sits in front of a provider's API, accepts only requests
//! paid with a valid, fresh, solvent ticket, serves each ticket once, signs the refund, and
//! slashes whoever spends a ticket twice.
//!
//! ## Bird's eye view
//!
//! - [`config`]: the TOML configuration, every key defaulted (`node.example.toml`).
//! - [`envelope`]: the payment envelope (proof, public signals, nonce) in the
//!   `zkcredits-payment` header.
//! - [`pipeline`]: the ordered checks of spec/05 ([`Rejection`] names each refusal), the
//!   share written before serving, the settlement written before answering.
//! - [`verify`]: the bounded, batching proof-verification pool.
//! - [`upstream`] and [`pricing`]: forwarding, and metering from the upstream's `usage`.
//! - [`privacy`]: answer timing and padding, the metadata mitigations of spec/10.
//! - [`settlement`]: the signed next state returned with every response.
//! - [`slasher`]: recovered secrets stored, proven and submitted to the escrow.
//! - [`batcher`]: queued deposits (and condemned leaves' removals) proven into the tree.
//! - [`test_upstream`]: a deterministic OpenAI-compatible upstream for the devnet and tests.
//! - [`api`]: the axum routes; [`metrics`]: Prometheus counters and histograms.
//! - [`start`] wires it all: reads the deployment from the chain, follows the escrow's events
//!   into RocksDB, serves until [`RunningNode::shutdown`].

pub mod api;
pub mod batcher;
pub mod config;
mod error;
pub mod gossip;
pub mod keys;
pub mod metrics;
pub mod pipeline;
pub mod pricing;
pub mod privacy;
mod rejection;
mod server;
pub mod slasher;
pub mod test_upstream;
pub mod throttle;
pub mod upstream;
pub mod verify;

pub use config::NodeConfig;
pub use error::NodeError;
pub use metrics::Metrics;
pub use rejection::{Rejection, codes};
pub use zkcredits_wire::{envelope, settlement};

use alloy::{
    primitives::Address,
    providers::{DynProvider, Provider, ProviderBuilder},
};
use batcher::{BatchPolicy, BatchSubmitter, Batcher};
use pipeline::{Deployed, NodeState};
use slasher::{SlashSubmitter, Slasher};
use std::{net::SocketAddr, sync::Arc, time::Duration};
use tokio::{sync::watch, task::JoinHandle};
use tokio_util::task::TaskTracker;
use zkcredits_chain::{
    ChainError, Deployment, Escrow,
    follower::{Follower, FollowerConfig, SyncReport},
};
use zkcredits_primitives::{Fr, constants::SIGNER_TREE_DEPTH, merkle::FixedMerkleTree, rln};
use zkcredits_prover::{Manifest, Verifier, encoding::verifying_key_from_json};
use zkcredits_storage::{RocksStorage, Storage};

/// The chain id of anvil and other local devnets.
const ANVIL_CHAIN_ID: u64 = 31_337;

/// Public signals of the request circuit.
const REQUEST_PUBLIC_SIGNALS: usize = 10;
/// Blocks below the cursor whose undo records are kept: a reorg deeper than this is beyond
/// any chain's finality (Ethereum finalizes within 64 blocks).
const UNDO_BLOCKS: u64 = 1_024;
/// How often the node prunes.
const PRUNE_EVERY_SECS: u64 = 3_600;
/// Margin added to the share retention.
const RETENTION_MARGIN_SECS: u64 = 86_400;

/// How long a slasher pass waits, at most, for the slashes it sent before it goes on to the
/// removals (never longer than `chain.slash_replace_after_secs`).
const SLASH_RECEIPT_WAIT: Duration = Duration::from_secs(15);

/// Follows the escrow into the store, one step at a time, from the loop or on demand.
struct ChainSync {
    provider: DynProvider,
    store: Arc<dyn Storage>,
    follower: FollowerConfig,
    state: Arc<NodeState>,
    slasher: Arc<Slasher>,
    /// `signer.previous_roots`: accepted until their revocation is announced.
    previous_signer_roots: Vec<Fr>,
    /// The RPC endpoint, to keep it out of logged errors.
    rpc_url: String,
    /// Shares received longer ago than this belong to notes long expired (spec/08 §Retention).
    share_retention_secs: u64,
    /// Unix seconds of the last prune.
    pruned_at: std::sync::atomic::AtomicU64,
    step: tokio::sync::Mutex<()>,
}

impl ChainSync {
    /// Syncs until caught up (or an error), then refreshes the roots and the signer root.
    async fn catch_up(&self) -> Result<(), ChainError> {
        let _one_at_a_time = self.step.lock().await;
        let follower = Follower::new(&self.provider, &*self.store, self.follower);
        loop {
            let report = match follower.sync_once().await {
                Ok(report) => report,
                Err(e) => {
                    // A failed step may have rolled blocks back or stored slashes first.
                    self.state.refresh_roots()?;
                    self.slasher.recorded(0);
                    return Err(e);
                }
            };
            self.absorb(&report)?;
            if report.applied_through.is_none() {
                break;
            }
        }
        let escrow = Escrow::new(self.follower.escrow, self.provider.clone());
        let root = escrow.signer_root().await?;
        // A root is dropped the moment its revocation is announced: re-signing a state under
        // it could carry a forgery made with a leaked key over to the current root.
        let mut previous = Vec::with_capacity(self.previous_signer_roots.len());
        for earlier in &self.previous_signer_roots {
            if *earlier != root && escrow.signer_root_revoked_at(*earlier).await? == 0 {
                previous.push(*earlier);
            }
        }
        self.state.observe_signer_root(root);
        *self
            .state
            .previous_signer_roots
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = previous;
        let now = pipeline::unix_now();
        self.state.chain_synced_at.store(now, std::sync::atomic::Ordering::Relaxed);
        self.prune(now).await
    }

    /// Once an hour, after a step that caught up: forgets the undo records of blocks
    /// [`UNDO_BLOCKS`] below the cursor, and shares (with their settlements) older than the
    /// retention. Only a node that caught up prunes: one that was offline applies old exits
    /// first, against the shares they may conflict with.
    async fn prune(&self, now: u64) -> Result<(), ChainError> {
        use std::sync::atomic::Ordering;
        if now.saturating_sub(self.pruned_at.load(Ordering::Relaxed)) < PRUNE_EVERY_SECS {
            return Ok(());
        }
        self.pruned_at.store(now, Ordering::Relaxed);
        let store = Arc::clone(&self.store);
        let received_before = now.saturating_sub(self.share_retention_secs);
        // A scan of every share: on a blocking thread, so the chain thread's runtime (the
        // follower, the slasher) goes on meanwhile.
        let pruned = tokio::task::spawn_blocking(move || {
            if let Some(cursor) = store.cursor()? {
                store.prune_below(cursor.number.saturating_sub(UNDO_BLOCKS))?;
            }
            store.prune_shares(received_before)
        })
        .await
        .map_err(|e| ChainError::InvalidValue(format!("the prune task failed: {e}")))??;
        if pruned > 0 {
            tracing::info!(pruned, "forgot shares of notes long expired");
        }
        Ok(())
    }

    fn absorb(&self, report: &SyncReport) -> Result<(), ChainError> {
        if let Some(block) = report.applied_through {
            self.state.metrics.chain_block(block);
        }
        // The follower stored their slashes with their blocks.
        if !report.exit_conflicts.is_empty() {
            self.slasher.recorded(report.exit_conflicts.len());
        }
        self.state.refresh_roots()?;
        Ok(())
    }

    async fn run(&self, every: Duration, mut stop: watch::Receiver<bool>) {
        loop {
            // A step stuck on a silent RPC must not hold up shutdown.
            let stepped = tokio::select! {
                stepped = self.catch_up() => stepped,
                _ = stop.changed() => return,
            };
            if let Err(e) = stepped {
                self.state.metrics.chain_error();
                let e = config::scrub_url(&e.to_string(), &self.rpc_url);
                tracing::warn!("chain sync failed, serving from stored roots: {e}");
            }
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                _ = stop.changed() => return,
            }
        }
    }
}

/// A started node.
pub struct RunningNode {
    address: SocketAddr,
    stop: watch::Sender<bool>,
    server: Option<JoinHandle<()>>,
    /// The chain follower and the slasher, on their own thread.
    background: Option<std::thread::JoinHandle<()>>,
    /// Connections, served tickets and stream relays.
    tasks: TaskTracker,
    /// How long shutdown waits for them.
    grace: Duration,
    /// Releases the answers held for privacy when shutdown starts.
    releasing: tokio_util::sync::CancellationToken,
    chain: Arc<ChainSync>,
    slasher: Arc<Slasher>,
    batcher: Option<Arc<Batcher>>,
    store: Arc<dyn Storage>,
    gossip: Option<ShareNetwork>,
}

/// A node dropped without [`RunningNode::shutdown`] (a test, a failed start) still stops its
/// chain thread and waits for it: a thread left inside RocksDB when the process exits makes
/// RocksDB abort it ("pthread lock: Invalid argument") as its statics are torn down.
impl Drop for RunningNode {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        self.releasing.cancel();
        if let Some(background) = self.background.take() {
            let _ = background.join();
        }
    }
}

impl std::fmt::Debug for RunningNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningNode").field("address", &self.address).finish_non_exhaustive()
    }
}

impl RunningNode {
    /// Where the API listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.address
    }

    /// The API's base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The node's storage.
    pub fn store(&self) -> &Arc<dyn Storage> {
        &self.store
    }

    /// The node's share-network client, when it joined one.
    pub fn p2p(&self) -> Option<&zkcredits_p2p::Client> {
        self.gossip.as_ref().map(|network| network.gossip.client())
    }

    /// Follows the chain up to its head now, rather than at the next poll.
    pub async fn sync_chain(&self) -> Result<(), NodeError> {
        Ok(self.chain.catch_up().await?)
    }

    /// Submits the pending slashes now.
    pub async fn submit_slashes(&self) {
        self.slasher.submit_pending().await;
    }

    /// Runs one batcher pass now (an error when the node does not batch), then follows the
    /// chain, so a batch it inserted is applied.
    pub async fn insert_batch(&self) -> Result<batcher::BatchPass, NodeError> {
        let batcher = self.batcher.as_ref().ok_or(NodeError::ConfigValue {
            key: "batcher.enabled",
            reason: "this node does not insert deposit batches".into(),
        })?;
        let pass = batcher.pass().await?;
        self.sync_chain().await?;
        Ok(pass)
    }

    /// Stops accepting connections, lets open requests, served tickets and stream relays
    /// finish (at most `limits.shutdown_grace_secs`), stops the background tasks.
    pub async fn shutdown(mut self) -> Result<(), NodeError> {
        let _ = self.stop.send(true);
        self.releasing.cancel();
        let (tasks, background) = (self.tasks.clone(), self.background.take());
        let (gossip, server) = (self.gossip.take(), self.server.take());
        let drained = tokio::time::timeout(self.grace, async {
            let served = match server {
                Some(server) => server.await,
                None => Ok(()),
            };
            tasks.close();
            tasks.wait().await;
            // Last: a conflicting share could still stop a request being served, and the
            // requests served meanwhile published their shares.
            if let Some(network) = gossip {
                network.stop().await;
            }
            if let Some(background) = background {
                let _ = tokio::task::spawn_blocking(move || background.join()).await;
            }
            served
        })
        .await;
        match drained {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(NodeError::Server(std::io::Error::other(e))),
            Err(_) => Err(NodeError::ShutdownTimedOut {
                secs: self.grace.as_secs(),
                open: self.tasks.len(),
            }),
        }
    }
}

/// Runs the chain follower, the slasher and the batcher on their own thread and runtime: their
/// RocksDB writes, fsyncs and tree reads never hold up the request path's async workers. Each
/// is started again if it panics (counted in `zkcredits_task_restarts_total`).
fn spawn_chain_thread(
    chain: Arc<ChainSync>,
    slasher: Arc<Slasher>,
    batcher: Option<Arc<Batcher>>,
    poll: Duration,
    metrics: Arc<Metrics>,
    stopped: watch::Receiver<bool>,
) -> Result<std::thread::JoinHandle<()>, NodeError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(NodeError::Server)?;
    std::thread::Builder::new()
        .name("zkcredits-chain".into())
        .spawn(move || {
            let chain_stop = stopped.clone();
            let follow = supervise("chain", &metrics, || chain.run(poll, chain_stop.clone()));
            let retry = poll.max(Duration::from_secs(5));
            let slash = supervise("slasher", &metrics, || slasher.run(retry, stopped.clone()));
            let batch = async {
                if let Some(batcher) = &batcher {
                    supervise("batcher", &metrics, || batcher.run(poll, stopped.clone())).await;
                }
            };
            runtime.block_on(async { tokio::join!(follow, slash, batch) });
        })
        .map_err(NodeError::Server)
}

/// Runs the task `make` builds until it returns, building it again whenever it panics.
async fn supervise<F: std::future::Future<Output = ()>>(
    name: &'static str,
    metrics: &Metrics,
    make: impl Fn() -> F,
) {
    use futures::FutureExt;
    while std::panic::AssertUnwindSafe(make()).catch_unwind().await.is_err() {
        tracing::error!(task = name, "background task panicked; starting it again");
        metrics.task_restarted(name);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

fn value_error(key: &'static str, reason: impl Into<String>) -> NodeError {
    NodeError::ConfigValue { key, reason: reason.into() }
}

/// The signer set `entries` lists (`"x,y"` keys; empty: this node's key alone), which must
/// contain `own` unless the node is a passive slasher.
fn signer_set(
    entries: &[String],
    key: &'static str,
    own: &zkcredits_primitives::eddsa::PublicKey,
    passive: bool,
) -> Result<pipeline::SignerSet, NodeError> {
    let keys = if entries.is_empty() {
        vec![*own]
    } else {
        entries
            .iter()
            .map(|s| keys::public_key_from_str(s))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| value_error(key, e))?
    };
    if !passive && !keys.contains(own) {
        return Err(value_error(key, "does not contain this node's key"));
    }
    let leaves: Vec<_> = keys.iter().map(|k| k.signer_leaf()).collect();
    let root = FixedMerkleTree::new(SIGNER_TREE_DEPTH, &leaves)
        .map_err(|e| value_error(key, e.to_string()))?
        .root();
    Ok(pipeline::SignerSet { root, keys })
}

/// Starts a node: checks the deployment on chain against the config, opens the store, follows
/// the chain to its head and serves the API.
pub async fn start(config: NodeConfig) -> Result<RunningNode, NodeError> {
    config.validate()?;
    let provider_id = config.provider_id()?;
    let deployment = Deployment::load(&config.chain.deployment)?;
    let url =
        config.chain.rpc_url.parse().map_err(|e| value_error("chain.rpc_url", format!("{e}")))?;
    let provider = ProviderBuilder::new().connect_http(url).erased();
    let rpc_url = &config.chain.rpc_url;
    let chain_id = provider
        .get_chain_id()
        .await
        .map_err(|e| ChainError::Rpc(config::scrub_url(&e.to_string(), rpc_url)))?;
    if chain_id != deployment.chain_id {
        return Err(NodeError::Deployment(format!(
            "{} is chain {chain_id}, the deployment file names chain {}",
            config::redact_url(rpc_url),
            deployment.chain_id
        )));
    }
    if chain_id == ANVIL_CHAIN_ID && config.chain.confirmations > 0 {
        tracing::warn!(
            confirmations = config.chain.confirmations,
            "chain 31337 (anvil) mines a block per transaction: a deposit becomes usable only after {} more blocks are mined; set chain.confirmations = 0 on a devnet",
            config.chain.confirmations
        );
    }
    let escrow = Escrow::new(deployment.escrow, provider.clone());
    let scope = escrow.scope().await?;
    if scope != rln::scope(chain_id, &deployment.escrow.0.0) {
        return Err(NodeError::Deployment(format!(
            "{} does not answer as a zkcredits escrow of this version",
            deployment.escrow
        )));
    }
    let parameters = escrow.parameters().await?;
    let signer_root = escrow.signer_root().await?;
    let deployed = Deployed {
        chain_id,
        escrow: deployment.escrow,
        token: parameters.token,
        scope,
        c_max: parameters.cMax,
    };

    let passive = config.p2p.enabled && config.p2p.passive;
    let signer = if passive {
        // Signs nothing: a passive slasher settles no request, so it never reads a real key.
        zkcredits_primitives::eddsa::PrivateKey::from_bytes(rand::random())
    } else {
        keys::read_signer_key(&config.signer.key_file)?
    };
    let own = signer.public_key();
    if passive && config.signer.set.is_empty() {
        return Err(value_error(
            "signer.set",
            "a passive slasher must list the escrow's signer keys, to check who publishes shares",
        ));
    }
    let mut signer_sets = vec![signer_set(&config.signer.set, "signer.set", &own, passive)?];
    if !config.signer.next_set.is_empty() {
        signer_sets.push(signer_set(&config.signer.next_set, "signer.next_set", &own, passive)?);
    }
    if !signer_sets.iter().any(|set| set.root == signer_root) {
        return Err(NodeError::Deployment(format!(
            "the signer set (signer.set) has root {}, the escrow's signerRoot is {}: the operator \
             sets it with setSignerRoot, or fix signer.set",
            zkcredits_primitives::field::fr_to_dec(&signer_sets[0].root),
            zkcredits_primitives::field::fr_to_dec(&signer_root),
        )));
    }

    let mut previous_signer_roots = Vec::with_capacity(config.signer.previous_roots.len());
    for text in &config.signer.previous_roots {
        let root = zkcredits_primitives::field::fr_from_dec(text).map_err(|e| {
            value_error(
                "signer.previous_roots",
                format!("{text:?} is not a decimal field element: {e}"),
            )
        })?;
        if !escrow.is_known_signer_root(root).await? {
            return Err(value_error(
                "signer.previous_roots",
                format!("{text} was never the escrow's signer root"),
            ));
        }
        previous_signer_roots.push(root);
    }

    let vk_path = &config.circuits.request_verifying_key;
    let vk_json: serde_json::Value = std::fs::read(vk_path)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| {
            value_error(
                "circuits.request_verifying_key",
                format!("{} is not a readable verifying key JSON", vk_path.display()),
            )
        })?;
    let manifest = Manifest::read(&config.circuits.manifest)
        .map_err(|e| value_error("circuits.manifest", e.to_string()))?;
    let request_key = verifying_key_from_json(&vk_json)?;
    manifest
        .check_verifying_key("request", vk_path, &request_key)
        .map_err(|e| value_error("circuits.request_verifying_key", e.to_string()))?;
    let verifier = Verifier::new(&request_key);
    if verifier.public_count() != REQUEST_PUBLIC_SIGNALS {
        return Err(value_error(
            "circuits.request_verifying_key",
            format!("has {} public inputs, the request circuit has 10", verifier.public_count()),
        ));
    }

    let store: Arc<dyn Storage> =
        Arc::new(RocksStorage::open(&config.data_dir, config.limits.sync_writes)?);
    let metrics = Arc::new(Metrics::default());
    let workers = match config.limits.verify_workers {
        0 => std::thread::available_parallelism().map_or(1, usize::from),
        n => n,
    };
    let pool = verify::VerificationPool::start(
        verifier,
        workers,
        config.limits.verify_queue,
        config.limits.verify_batch,
        Arc::clone(&metrics),
    );

    if passive && config.chain.wallet_key_file.as_os_str().is_empty() {
        return Err(value_error(
            "chain.wallet_key_file",
            "a passive slasher needs a wallet: slashing is all it does",
        ));
    }
    let wallet = if config.chain.wallet_key_file.as_os_str().is_empty() {
        tracing::warn!("no chain.wallet_key_file: double spends are recorded but not slashed");
        None
    } else {
        Some(keys::read_account_key(&config.chain.wallet_key_file)?)
    };
    let submitter = if let Some(wallet) = wallet.clone() {
        let payout = if config.chain.payout_address.is_empty() {
            wallet.address()
        } else {
            config
                .chain
                .payout_address
                .parse::<Address>()
                .ok()
                .filter(|address| !address.is_zero())
                .ok_or_else(|| {
                    value_error(
                        "chain.payout_address",
                        "expected a non-zero 0x-prefixed 20-byte address (the escrow refuses to pay the zero address)",
                    )
                })?
        };
        let (circuit, key) = zkcredits_prover::load_checked_prover(
            &config.circuits.build_dir,
            "slash",
            &config.circuits.slash_proving_key,
            &manifest,
        )?;
        Some(SlashSubmitter { wallet, payout, circuit: std::sync::Mutex::new(circuit), key })
    } else {
        None
    };
    let slasher = Arc::new(Slasher::new(
        Arc::clone(&store),
        config.chain.rpc_url.clone(),
        deployment.escrow,
        submitter,
        slasher::SlashTiming {
            confirmations: config.chain.confirmations,
            receipt_wait: SLASH_RECEIPT_WAIT
                .min(Duration::from_secs(config.chain.slash_replace_after_secs)),
            replace_after: Duration::from_secs(config.chain.slash_replace_after_secs),
            max_fee_per_gas: u128::from(config.chain.max_fee_per_gas_gwei) * 1_000_000_000,
            holdoff: Duration::from_secs(config.p2p.slash_holdoff_secs),
            rank_among: config
                .p2p
                .enabled
                .then(|| {
                    let set = signer_sets.iter().find(|set| set.root == signer_root)?;
                    // A passive slasher ranks after every node.
                    let own_index = if passive {
                        set.keys.len()
                    } else {
                        set.keys.iter().position(|k| *k == own)?
                    };
                    Some((own_index, set.keys.len()))
                })
                .flatten(),
        },
        Arc::clone(&metrics),
    ));

    // `validate` made sure a wallet exists when batching is on.
    let batcher = match wallet.filter(|_| config.batcher.enabled) {
        Some(wallet) => {
            let (circuit, key) = zkcredits_prover::load_checked_prover(
                &config.circuits.build_dir,
                "batch_insert",
                &config.circuits.batch_insert_proving_key,
                &manifest,
            )?;
            Some(Arc::new(Batcher::new(
                Arc::clone(&store),
                config.chain.rpc_url.clone(),
                deployment.escrow,
                BatchSubmitter { wallet, circuit: std::sync::Mutex::new(circuit), key },
                BatchPolicy {
                    min_batch: config.batcher.min_batch,
                    max_delay: Duration::from_secs(config.batcher.max_delay_secs),
                    max_lag: config.chain.max_range,
                    // Half the slasher's ceiling: it can always replace a stuck batch.
                    max_fee_per_gas: u128::from(config.chain.max_fee_per_gas_gwei) * 500_000_000,
                },
                Arc::clone(&metrics),
                slasher.wallet_lock(),
            )))
        }
        None => {
            tracing::info!(
                "batcher.enabled is off: deposits become spendable when another account inserts them"
            );
            None
        }
    };

    let tasks = TaskTracker::new();
    let releasing = tokio_util::sync::CancellationToken::new();
    let state = Arc::new(NodeState {
        provider_id,
        deployed,
        signer,
        signer_sets,
        active_signer_set: std::sync::RwLock::new(None),
        pricing: pricing::Pricing::new(&config.pricing, deployed.c_max),
        mitigations: privacy::Mitigations::new(&config.privacy),
        releasing: releasing.clone(),
        limits: config.limits.clone(),
        store: Arc::clone(&store),
        pool,
        metrics: Arc::clone(&metrics),
        slasher: Arc::clone(&slasher),
        upstream: upstream::Upstream::new(&config.upstream)?,
        signer_root: std::sync::RwLock::new(Fr::from(0u64)),
        previous_signer_roots: std::sync::RwLock::default(),
        roots: std::sync::RwLock::default(),
        known_roots: std::sync::RwLock::default(),
        gossip: std::sync::OnceLock::new(),
        passive,
        chain_synced_at: std::sync::atomic::AtomicU64::new(0),
        inflight: pipeline::Inflight::default(),
        throttle: throttle::RequestLimiter::new(
            config.limits.requests_per_ip_per_sec,
            config.limits.requests_per_ip_burst,
        ),
        paid_slots: Arc::new(tokio::sync::Semaphore::new(config.limits.max_paid_in_flight)),
        paid_per_ip: Arc::default(),
        tasks: tasks.clone(),
    });
    state.refresh_roots()?;
    state.observe_signer_root(signer_root);

    let chain = Arc::new(ChainSync {
        provider,
        store: Arc::clone(&store),
        follower: FollowerConfig {
            escrow: deployment.escrow,
            start_block: deployment.deployment_block,
            confirmations: config.chain.confirmations,
            max_range: config.chain.max_range,
        },
        state: Arc::clone(&state),
        slasher: Arc::clone(&slasher),
        previous_signer_roots,
        rpc_url: config.chain.rpc_url.clone(),
        // A share's note expired at the latest `noteTtl` after its time bucket; an exit of it was
        // requested before that and is detected within `exitDelay`.
        share_retention_secs: parameters
            .noteTtl
            .saturating_add(parameters.exitDelay)
            .saturating_add(config.limits.time_bucket_secs)
            .saturating_add(config.limits.clock_tolerance_secs)
            .saturating_add(RETENTION_MARGIN_SECS),
        // The first prune waits an hour, on the chain thread, rather than delay the start.
        pruned_at: std::sync::atomic::AtomicU64::new(pipeline::unix_now()),
        step: tokio::sync::Mutex::new(()),
    });
    if let Err(e) = chain.catch_up().await {
        let e = config::scrub_url(&e.to_string(), &config.chain.rpc_url);
        tracing::warn!("initial chain sync failed, serving from stored roots: {e}");
    }

    let (stop, stopped) = watch::channel(false);
    let gossip = if config.p2p.enabled {
        Some(join_share_network(&config, &state, &chain).await?)
    } else {
        None
    };
    let listener = tokio::net::TcpListener::bind(config.listen).await.map_err(NodeError::Server)?;
    let address = listener.local_addr().map_err(NodeError::Server)?;
    let poll = Duration::from_millis(config.chain.poll_interval_ms);
    let background = spawn_chain_thread(
        Arc::clone(&chain),
        Arc::clone(&slasher),
        batcher.clone(),
        poll,
        Arc::clone(&metrics),
        stopped.clone(),
    )?;
    let limits = server::ConnectionLimits {
        max_connections: config.limits.max_connections,
        max_per_ip: config.limits.max_connections_per_ip,
        header_read_timeout: Duration::from_secs(config.limits.header_read_timeout_secs),
        send_timeout: Duration::from_secs(config.limits.send_timeout_secs),
    };
    let server = tokio::spawn(server::serve(
        listener,
        api::router(Arc::clone(&state)),
        limits,
        tasks.clone(),
        Arc::clone(&metrics),
        stopped,
    ));
    tracing::info!(%address, "zkcredits node serving");
    let grace = Duration::from_secs(config.limits.shutdown_grace_secs);
    Ok(RunningNode {
        address,
        stop,
        server: Some(server),
        background: Some(background),
        tasks,
        grace,
        releasing,
        chain,
        slasher,
        batcher,
        store,
        gossip,
    })
}

/// The node's libp2p key: read from `p2p.key_file` (default `data_dir/p2p.key`), or made and
/// written there (owner-only) on first start, so the peer id survives restarts.
pub fn p2p_keypair(config: &NodeConfig) -> Result<zkcredits_p2p::Keypair, NodeError> {
    let path = if config.p2p.key_file.as_os_str().is_empty() {
        config.data_dir.join("p2p.key")
    } else {
        config.p2p.key_file.clone()
    };
    let key_error = |reason: String| NodeError::KeyFile { path: path.clone(), reason };
    match std::fs::read(&path) {
        Ok(bytes) => zkcredits_p2p::Keypair::from_protobuf_encoding(&bytes)
            .map_err(|e| key_error(format!("not a libp2p key (delete it to make a new one): {e}"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let keypair = zkcredits_p2p::Keypair::generate_ed25519();
            let bytes = keypair.to_protobuf_encoding().map_err(|e| key_error(e.to_string()))?;
            keys::write_secret_file(&path, &bytes).map_err(|e| key_error(e.to_string()))?;
            Ok(keypair)
        }
        Err(e) => Err(key_error(e.to_string())),
    }
}

/// Joins the share network (spec/06): binds the peer id to the node's signer key, starts the
/// swarm and the loop that judges what it receives.
async fn join_share_network(
    config: &NodeConfig,
    state: &Arc<NodeState>,
    chain: &ChainSync,
) -> Result<ShareNetwork, NodeError> {
    let p2p = &config.p2p;
    let keypair = p2p_keypair(config)?;
    let own = state.signer.public_key();
    if !state.passive && !state.active_signers().is_some_and(|keys| keys.contains(&own)) {
        return Err(value_error("signer.set", "the node's key is not in the escrow's signer set"));
    }
    let peer_id = keypair.public().to_peer_id();
    let parse = |key: &'static str, list: &[String]| {
        list.iter()
            .map(|a| a.parse().map_err(|e| value_error(key, format!("`{a}`: {e}"))))
            .collect::<Result<Vec<zkcredits_p2p::Multiaddr>, _>>()
    };
    let mut network = zkcredits_p2p::P2pConfig::new(
        keypair,
        share_topic(state.deployed.chain_id, &state.deployed.escrow),
    );
    network.listen = parse("p2p.listen", &p2p.listen)?;
    network.bootstrap = parse("p2p.bootstrap", &p2p.bootstrap)?;
    network.provider_peers = p2p
        .provider_peers
        .iter()
        .map(|p| p.parse().map_err(|e| value_error("p2p.provider_peers", format!("`{p}`: {e}"))))
        .collect::<Result<_, _>>()?;
    if network.provider_peers.contains(&peer_id) {
        return Err(value_error(
            "p2p.provider_peers",
            format!("lists this node's own peer id {peer_id}: list the provider's other nodes"),
        ));
    }
    network.max_message_bytes = gossip::MAX_MESSAGE_BYTES;
    network.messages_per_peer_per_sec = p2p.messages_per_peer_per_sec;
    network.message_burst = p2p.message_burst;
    network.queue = p2p.max_judging.saturating_mul(4);
    let (client, events, swarm) =
        zkcredits_p2p::start(network).await.map_err(|e| value_error("p2p", e.to_string()))?;
    let gossip = Arc::new(gossip::Gossip::new(
        Arc::clone(state),
        client,
        !state.passive,
        gossip::GossipSettings {
            verify_fraction: p2p.verify_fraction,
            max_held: p2p.max_held_shares,
            hold: Duration::from_secs(p2p.hold_secs),
            retention_secs: chain.share_retention_secs,
            max_judging: p2p.max_judging,
            serve_hold: Duration::from_millis(p2p.gossip_hold_ms),
        },
    ));
    let _ = state.gossip.set(Arc::downgrade(&gossip));
    // Its own stop: judging goes on while the requests drain at shutdown.
    let (stop, stopped) = watch::channel(false);
    let judging = tokio::spawn(Arc::clone(&gossip).run(events, stopped));
    tracing::info!(%peer_id, "joined the share network");
    Ok(ShareNetwork { gossip, stop, judging, swarm })
}

/// The node on the share network: its gossip, and the loop judging what arrives.
struct ShareNetwork {
    gossip: Arc<gossip::Gossip>,
    stop: watch::Sender<bool>,
    judging: JoinHandle<()>,
    swarm: JoinHandle<()>,
}

impl ShareNetwork {
    /// Stops judging (the judgements under way end first), then the swarm.
    async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.judging.await;
        self.gossip.client().shutdown().await;
        // Its listeners and connections are closed once it returns: a restart can bind again.
        let _ = self.swarm.await;
    }
}

/// The gossipsub topic of the shares of the escrow at `escrow` on chain `chain_id` (spec/06).
pub fn share_topic(chain_id: u64, escrow: &Address) -> String {
    format!("zkcredits/1/{chain_id}/{escrow:#x}/shares")
}
