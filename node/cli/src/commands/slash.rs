//! `zkcredits slash`: two shares of one ticket → the secret → a slash proof → the transaction,
//! with the node's own slasher (spec/07, spec/08 §Slashing), its record kept in memory.

use eyre::{WrapErr, bail, eyre};
use serde::Deserialize;
use std::{path::PathBuf, sync::Arc, time::Duration};
use zkcredits_node::{
    Metrics,
    gossip::ShareMessage,
    slasher::{SlashSubmitter, SlashTiming, Slasher},
};
use zkcredits_primitives::{
    field::{fr_from_dec, fr_to_dec},
    identity::Secret,
    rln::{Share, recover_secret},
};
use zkcredits_storage::{MemoryStorage, SlashStatus, Storage};

/// Arguments of `zkcredits slash`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// A share of the ticket: JSON `{"nullifier", "x", "y"}` (decimal field elements) or
    /// `{"message": "0x…"}` (a share message as gossiped, spec/06). Give it twice.
    #[arg(long = "share", value_name = "FILE", num_args = 1, required = true)]
    shares: Vec<PathBuf>,
    /// JSON-RPC endpoint of the escrow's chain.
    #[arg(long, value_name = "URL")]
    rpc_url: String,
    /// The deployment file `script/Deploy.s.sol` wrote.
    #[arg(long, value_name = "FILE")]
    deployment: PathBuf,
    /// File holding the hex private key of the account that sends the slash.
    #[arg(long, value_name = "FILE")]
    wallet_key_file: PathBuf,
    /// Receives the bounty (bound into the proof). Default: the wallet's address.
    #[arg(long, value_name = "ADDRESS")]
    payout: Option<String>,
    /// Compiled circuits (the slash wasm and r1cs).
    #[arg(long, value_name = "DIR", default_value = "build/circuits/main")]
    build_dir: PathBuf,
    /// The slash proving key.
    #[arg(long, value_name = "FILE", default_value = "build/keys/slash.pk.bin")]
    slash_proving_key: PathBuf,
    /// The artifact manifest the circuit and key are checked against.
    #[arg(long, value_name = "FILE", default_value = "circuits/artifacts/manifest.json")]
    manifest: PathBuf,
    /// Blocks behind the head at which the slash counts as landed.
    #[arg(long, default_value_t = 0)]
    confirmations: u64,
    /// Seconds to wait for the slash to land before giving up (it may still land).
    #[arg(long, default_value_t = 120)]
    wait_secs: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ShareFile {
    nullifier: Option<String>,
    x: Option<String>,
    y: Option<String>,
    message: Option<String>,
}

/// A share read from a file, with its scope when the file is a gossiped message.
struct ReadShare {
    share: Share,
    scope: Option<zkcredits_primitives::Fr>,
}

fn read_share(path: &PathBuf) -> eyre::Result<ReadShare> {
    let text = std::fs::read_to_string(path)
        .wrap_err_with(|| format!("cannot read {}", path.display()))?;
    let file: ShareFile = serde_json::from_str(&text).wrap_err_with(|| {
        format!(
            "{} is not a share file ({{\"nullifier\", \"x\", \"y\"}} or {{\"message\"}})",
            path.display()
        )
    })?;
    let field = |name: &str, value: Option<String>| {
        let value = value.ok_or_else(|| eyre!("{}: `{name}` is missing", path.display()))?;
        fr_from_dec(&value).map_err(|_| {
            eyre!("{}: `{name}` must be a canonical decimal field element", path.display())
        })
    };
    match file.message {
        Some(hex) => {
            let bytes = alloy::hex::decode(hex.trim_start_matches("0x"))
                .wrap_err_with(|| format!("{}: `message` is not hex", path.display()))?;
            let message = ShareMessage::decode(&bytes)
                .map_err(|e| eyre!("{}: not a share message: {e}", path.display()))?;
            let s = message.statement;
            Ok(ReadShare {
                share: Share { nullifier: s.nullifier, x: s.x, y: s.y },
                scope: Some(s.scope),
            })
        }
        None => Ok(ReadShare {
            share: Share {
                nullifier: field("nullifier", file.nullifier)?,
                x: field("x", file.x)?,
                y: field("y", file.y)?,
            },
            scope: None,
        }),
    }
}

impl Args {
    pub(crate) fn run(self) -> eyre::Result<()> {
        // The slasher reports what holds a slash up (funds, fees, the RPC) as warnings.
        super::init_logging("warn");
        let [first, second] = self.shares.as_slice() else {
            bail!("give exactly two shares of one ticket: --share A.json --share B.json");
        };
        let (first, second) = (read_share(first)?, read_share(second)?);
        let deployment = zkcredits_chain::Deployment::load(&self.deployment)?;
        let scope = zkcredits_primitives::rln::scope(deployment.chain_id, &deployment.escrow.0.0);
        for (path, share) in self.shares.iter().zip([&first, &second]) {
            if share.scope.is_some_and(|s| s != scope) {
                bail!(
                    "{}: a share of another escrow's ticket (its scope is not {})",
                    path.display(),
                    deployment.escrow
                );
            }
        }
        let (first, second) = (first.share, second.share);
        let k = recover_secret(&first, &second)
            .map_err(|e| eyre!("these shares do not reveal a secret: {e}"))?;
        let secret = Secret::new(k).map_err(|e| eyre!("the recovered secret is unusable: {e}"))?;
        let identity = secret.commitment();
        let wallet = zkcredits_node::keys::read_account_key(&self.wallet_key_file)?;
        let payout = match &self.payout {
            Some(address) => address
                .parse::<alloy::primitives::Address>()
                .ok()
                .filter(|a| !a.is_zero())
                .ok_or_else(|| {
                    eyre!("--payout: expected a non-zero 0x-prefixed 20-byte address")
                })?,
            None => wallet.address(),
        };
        let (circuit, key) = super::checked_prover(
            &self.manifest,
            &self.build_dir,
            "slash",
            &self.slash_proving_key,
        )?;
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let provider = alloy::providers::ProviderBuilder::new()
            .connect_http(self.rpc_url.parse().map_err(|e| eyre!("--rpc-url: {e}"))?);
        let escrow = zkcredits_chain::Escrow::new(deployment.escrow, provider);
        let record = runtime
            .block_on(escrow.deposit_record(identity))
            .map_err(|e| eyre!("cannot read the escrow: {e}"))?;
        if record.status == 0 {
            bail!(
                "the escrow at {} holds no deposit for identity {}: wrong --deployment, or shares of another escrow",
                deployment.escrow,
                fr_to_dec(&identity)
            );
        }
        let store: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
        let slasher = Slasher::new(
            Arc::clone(&store),
            self.rpc_url.clone(),
            deployment.escrow,
            Some(SlashSubmitter { wallet, payout, circuit: std::sync::Mutex::new(circuit), key }),
            SlashTiming {
                confirmations: self.confirmations,
                receipt_wait: Duration::from_secs(15),
                replace_after: Duration::from_secs(60),
                max_fee_per_gas: 500_000_000_000,
                holdoff: Duration::ZERO,
                rank_among: None,
            },
            Arc::new(Metrics::default()),
        );
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        slasher.detected(secret, first.nullifier, now)?;
        eprintln!("identity {} double spent; slashing", fr_to_dec(&identity));
        let deadline = std::time::Instant::now() + Duration::from_secs(self.wait_secs);
        loop {
            runtime.block_on(slasher.submit_pending());
            match store.slash(&identity)?.map(|s| s.status) {
                Some(SlashStatus::Landed { tx_hash } | SlashStatus::Done { tx_hash }) => {
                    match tx_hash {
                        Some(tx) => println!("slashed: {}", alloy::primitives::TxHash::from(tx)),
                        None => println!("already slashed"),
                    }
                    return Ok(());
                }
                Some(SlashStatus::Failed { reason }) => bail!("the slash cannot be made: {reason}"),
                _ if std::time::Instant::now() >= deadline => bail!(
                    "the slash has not landed after {} s (see the warnings above); a transaction sent may still land: look at the deposit before running again",
                    self.wait_secs
                ),
                _ => std::thread::sleep(Duration::from_secs(1)),
            }
        }
    }
}
