//! `zkcredits insert-batch`: any account inserts the escrow's queued deposits (and the removal
//! due) with `batch_insert` proofs, the node's batcher run once (spec/08 §Deposit batches): a
//! depositor who will not wait for a provider's batch pays for its own.

use eyre::{WrapErr, eyre};
use std::{path::PathBuf, sync::Arc, time::Duration};
use zkcredits_chain::follower::{Follower, FollowerConfig};
use zkcredits_node::{
    Metrics,
    batcher::{BatchPass, BatchPolicy, BatchSubmitter, Batcher},
};
use zkcredits_storage::{MemoryStorage, Storage};

/// The most blocks one log query spans while replaying the escrow.
const MAX_LOG_RANGE: u64 = 2_000;
/// Passes that find the chain moving (another updater, a new deposit) before giving up.
const MAX_RETRIES: usize = 20;

/// Arguments of `zkcredits insert-batch`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// JSON-RPC endpoint of the escrow's chain.
    #[arg(long, value_name = "URL")]
    rpc_url: String,
    /// The deployment file `script/Deploy.s.sol` wrote.
    #[arg(long, value_name = "FILE")]
    deployment: PathBuf,
    /// File holding the hex private key of the account that sends the batches (it pays their
    /// gas).
    #[arg(long, value_name = "FILE")]
    wallet_key_file: PathBuf,
    /// Compiled circuits (the batch_insert wasm and r1cs).
    #[arg(long, value_name = "DIR", default_value = "build/circuits/main")]
    build_dir: PathBuf,
    /// The batch_insert proving key: a `.pk.bin` from `zkcredits circuits setup`, or a `.zkey`.
    #[arg(long, value_name = "FILE", default_value = "build/keys/batch_insert.pk.bin")]
    batch_insert_proving_key: PathBuf,
    /// The artifact manifest the circuit and key are checked against.
    #[arg(long, value_name = "FILE", default_value = "circuits/artifacts/manifest.json")]
    manifest: PathBuf,
    /// The most batches to send (each appends up to 64 deposits).
    #[arg(long, default_value_t = 1)]
    max_batches: usize,
    /// The highest maxFeePerGas a batch offers, in gwei: while the base fee is at or above it,
    /// no batch is sent.
    #[arg(long, value_name = "GWEI", default_value_t = 500)]
    max_fee_per_gas_gwei: u64,
}

impl Args {
    pub(crate) fn run(self) -> eyre::Result<()> {
        super::init_logging("warn");
        if self.max_batches == 0 {
            return Err(eyre!("--max-batches must be at least 1"));
        }
        let deployment = zkcredits_chain::Deployment::load(&self.deployment)?;
        let wallet = zkcredits_node::keys::read_account_key(&self.wallet_key_file)?;
        let (circuit, key) = super::checked_prover(
            &self.manifest,
            &self.build_dir,
            "batch_insert",
            &self.batch_insert_proving_key,
        )?;
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let provider = alloy::providers::ProviderBuilder::new()
            .connect_http(self.rpc_url.parse().map_err(|e| eyre!("--rpc-url: {e}"))?);
        // The tree is rebuilt from the escrow's events: nothing is kept between runs.
        let store: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
        let follower = Follower::new(
            &provider,
            store.as_ref(),
            FollowerConfig {
                escrow: deployment.escrow,
                start_block: deployment.deployment_block,
                confirmations: 0,
                max_range: MAX_LOG_RANGE,
            },
        );
        let batcher = Batcher::new(
            Arc::clone(&store),
            self.rpc_url.clone(),
            deployment.escrow,
            BatchSubmitter { wallet, circuit: std::sync::Mutex::new(circuit), key },
            BatchPolicy {
                min_batch: 1,
                max_delay: Duration::ZERO,
                max_lag: MAX_LOG_RANGE,
                max_fee_per_gas: u128::from(self.max_fee_per_gas_gwei) * 1_000_000_000,
            },
            Arc::new(Metrics::default()),
            Arc::default(),
        );
        runtime.block_on(async {
            let (mut sent, mut retries) = (0, 0);
            while sent < self.max_batches {
                while follower.sync_once().await?.applied_through.is_some() {}
                match batcher.pass().await.wrap_err("the batch was not inserted")? {
                    BatchPass::Idle | BatchPass::Waiting { .. } => break,
                    BatchPass::Inserted { start, count, removed } => {
                        sent += 1;
                        let removal = if removed { " and removed a slashed leaf" } else { "" };
                        println!("inserted deposits {start}..{}{removal}", start + count);
                    }
                    BatchPass::NotReady(why) if why.contains("fee ceiling") => {
                        return Err(eyre!(
                            "{why}; raise --max-fee-per-gas-gwei to pay more, or try again later"
                        ));
                    }
                    BatchPass::Stale | BatchPass::NotReady(_) if retries < MAX_RETRIES => {
                        retries += 1;
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                    BatchPass::Stale => {
                        return Err(eyre!(
                            "other updaters' batches kept landing first ({MAX_RETRIES} attempts); try again"
                        ));
                    }
                    BatchPass::NotReady(why) => {
                        return Err(eyre!("no batch after {MAX_RETRIES} attempts: {why}; try again"));
                    }
                }
            }
            if sent == 0 {
                println!("nothing to insert: no deposit waits and no removal is due");
            }
            Ok(())
        })
    }
}
