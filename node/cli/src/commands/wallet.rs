//! The user's commands: `wallet new|show`, `deposit`, `status`, `request`, `exit`, `finalize`
//! (spec/09). Each opens the wallet (locking it), does its one thing, and leaves the wallet
//! written.

use eyre::{WrapErr, bail, eyre};
use std::{io::Write, path::PathBuf};
use zkcredits_chain::Deployment;
use zkcredits_client::{ApiRequest, Artifacts, Client, PrivacyOptions, wallet::ChainSettings};
use zkcredits_node::keys::read_account_key;

/// Where the wallet and the circuits are; shared by every user command.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct WalletArgs {
    /// The wallet file.
    #[arg(long, env = "ZKCREDITS_WALLET", default_value = "zkcredits-wallet.json")]
    wallet: PathBuf,
    /// The build directory with the compiled circuits (`circuits/main`) and proving keys
    /// (`keys`), as `make keys` leaves it.
    #[arg(long, env = "ZKCREDITS_BUILD_DIR", default_value = "build")]
    build_dir: PathBuf,
    /// The artifact manifest the circuits and keys are checked against.
    #[arg(long, default_value = "circuits/artifacts/manifest.json")]
    manifest: PathBuf,
    /// Reach providers through this SOCKS5 proxy, e.g. Tor's socks5h://127.0.0.1:9050: the
    /// provider sees the proxy's exit address, not yours; each note gets a circuit of its own
    /// (spec/10).
    #[arg(long, env = "ZKCREDITS_SOCKS5", value_name = "URL")]
    socks5: Option<String>,
    /// With --socks5: a Tor circuit for every call, not one per note, so two calls of one note
    /// leave by different exits (spec/10).
    #[arg(long, requires = "socks5")]
    circuit_per_call: bool,
    /// Wait a uniform random delay of up to this many milliseconds before each paid call, so
    /// the provider cannot time it against the call before it (spec/10).
    #[arg(long, env = "ZKCREDITS_MAX_DELAY_MS", default_value_t = 0, value_name = "MS")]
    max_delay_ms: u64,
    /// Pad JSON request bodies with spaces to a multiple of this many bytes, so their size says
    /// less about the prompt (spec/10).
    #[arg(long, env = "ZKCREDITS_PAD_BYTES", default_value_t = 0, value_name = "BYTES")]
    pad_bytes: usize,
}

impl WalletArgs {
    pub(crate) fn open(&self) -> eyre::Result<Client> {
        let artifacts = Artifacts {
            circuits_dir: self.build_dir.join("circuits/main"),
            keys_dir: self.build_dir.join("keys"),
            manifest: self.manifest.clone(),
        };
        let privacy = PrivacyOptions {
            max_delay: std::time::Duration::from_millis(self.max_delay_ms),
            socks5: self.socks5.clone(),
            circuit_per_call: self.circuit_per_call,
            pad_bytes: self.pad_bytes,
        };
        Ok(Client::open_with(&self.wallet, artifacts, privacy)?)
    }
}

fn runtime() -> eyre::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?)
}

/// `zkcredits wallet …`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum WalletCommand {
    /// Create an empty wallet for one escrow.
    ///
    /// Examples:
    ///   zkcredits wallet new --rpc-url http://127.0.0.1:8545 --deployment deployments/31337.json
    #[command(verbatim_doc_comment)]
    New {
        #[command(flatten)]
        wallet: WalletArgs,
        /// JSON-RPC endpoint of the escrow's chain.
        #[arg(long, value_name = "URL")]
        rpc_url: String,
        /// The deployment file `script/Deploy.s.sol` wrote.
        #[arg(long, value_name = "FILE")]
        deployment: PathBuf,
        /// Blocks a deposit must be buried under before the wallet proves on it; use the
        /// providers' `chain.confirmations`.
        #[arg(long, default_value_t = 2)]
        confirmations: u64,
    },
    /// Print the wallet's escrow and notes (never a secret).
    Show {
        #[command(flatten)]
        wallet: WalletArgs,
    },
}

impl WalletCommand {
    pub(crate) fn run(self) -> eyre::Result<()> {
        match self {
            Self::New { wallet, rpc_url, deployment, confirmations } => {
                let file = Deployment::load(&deployment)?;
                let settings = ChainSettings::of_deployment(rpc_url, &file, confirmations);
                zkcredits_client::wallet::Wallet::create(&wallet.wallet, settings)?;
                println!(
                    "created {} for escrow {} on chain {} (deposit with `zkcredits deposit`)",
                    wallet.wallet.display(),
                    file.escrow,
                    file.chain_id
                );
                Ok(())
            }
            Self::Show { wallet } => {
                let opened = zkcredits_client::wallet::Wallet::open(&wallet.wallet)?;
                let chain = &opened.chain;
                println!("wallet       {}", wallet.wallet.display());
                println!("chain        {} via {}", chain.chain_id, chain.rpc_url);
                println!("escrow       {} (from block {})", chain.escrow, chain.deployment_block);
                println!("confirmations {}", chain.confirmations);
                println!("notes        {}", opened.notes.len());
                for (i, note) in opened.notes.iter().enumerate() {
                    let identity = zkcredits_primitives::field::fr_to_dec(&note.identity());
                    println!("  note {i}: identity {identity}");
                }
                Ok(())
            }
        }
    }
}

/// `zkcredits deposit`.
#[derive(Debug, clap::Args)]
pub(crate) struct DepositArgs {
    #[command(flatten)]
    wallet: WalletArgs,
    /// The deposit of each note, in wei (at least the escrow's C_MAX).
    #[arg(long, value_name = "WEI")]
    amount: u128,
    /// How many notes to make: one request at a time travels per note, so K notes carry K
    /// parallel calls.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
    notes: u16,
    /// File holding the hex private key of the Ethereum account that pays the deposits.
    #[arg(long, value_name = "FILE")]
    account_key_file: PathBuf,
    /// One transaction per note instead of batches of up to 16: 26 % more gas, but chain
    /// observers do not see that the notes were made together.
    #[arg(long)]
    separate: bool,
}

impl DepositArgs {
    pub(crate) fn run(self) -> eyre::Result<()> {
        let payer = read_account_key(&self.account_key_file)?;
        let client = self.wallet.open()?;
        runtime()?.block_on(async {
            let per_transaction =
                if self.separate { 1 } else { zkcredits_client::MAX_DEPOSIT_BATCH };
            let made = client
                .deposit_in_batches_of(payer, self.amount, usize::from(self.notes), per_transaction)
                .await?;
            let notes = client.notes().await;
            for i in made {
                if let Some(deposit) = &notes[i].deposit {
                    println!(
                        "note {i}: deposited {} wei, leaf {}, expires at {}, tx {}",
                        deposit.amount, deposit.leaf_index, deposit.expiry, deposit.tx
                    );
                }
            }
            Ok(())
        })
    }
}

/// `zkcredits status`.
#[derive(Debug, clap::Args)]
pub(crate) struct StatusArgs {
    #[command(flatten)]
    wallet: WalletArgs,
    /// Settle pending tickets first (each with the provider it was sent to).
    #[arg(long)]
    settle: bool,
}

fn status_name(status: u8) -> &'static str {
    match status {
        0 => "none",
        1 => "active",
        2 => "exiting",
        3 => "exited",
        4 => "slashed",
        5 => "swept",
        _ => "unknown",
    }
}

impl StatusArgs {
    pub(crate) fn run(self) -> eyre::Result<()> {
        let client = self.wallet.open()?;
        runtime()?.block_on(async {
            client.refresh_deposits().await?;
            if self.settle {
                for (i, note) in client.notes().await.iter().enumerate() {
                    if note.pending.is_some()
                        && let Err(e) = client.settle_pending(i).await
                    {
                        eprintln!("note {i}: {e}");
                    }
                }
            }
            let parameters = client.chain().parameters().await?;
            let escrow = client.chain().escrow();
            println!(
                "{:>4}  {:>22}  {:>22}  {:>22}  {:>6}  {:>8}  {:>12}  {:>8}  exit",
                "note", "deposit", "spent", "refunds", "ticket", "pending", "expiry", "chain"
            );
            for (i, note) in client.notes().await.iter().enumerate() {
                let record = escrow.deposit_record(note.identity()).await?;
                let deposit = note.deposit.as_ref();
                let exit = note.exit.as_ref().map_or_else(
                    || "-".to_owned(),
                    |e| {
                        format!(
                            "{} wei to {}{}",
                            e.amount,
                            e.recipient,
                            if e.tx.is_none() {
                                ", journaled, not sent: run `zkcredits exit` again".to_owned()
                            } else if e.finalized_tx.is_some() {
                                ", finalized".to_owned()
                            } else {
                                format!(", finalizable at {}", e.finalizable_at)
                            }
                        )
                    },
                );
                println!(
                    "{i:>4}  {:>22}  {:>22}  {:>22}  {:>6}  {:>8}  {:>12}  {:>8}  {exit}",
                    deposit.map_or_else(|| "-".to_owned(), |d| d.amount.to_string()),
                    note.charged(parameters.c_max),
                    note.opening.refunded,
                    note.opening.index,
                    if note.pending.is_some() { "yes" } else { "no" },
                    deposit.map_or_else(|| "-".to_owned(), |d| d.expiry.to_string()),
                    status_name(record.status),
                );
            }
            Ok(())
        })
    }
}

/// `zkcredits request`.
#[derive(Debug, clap::Args)]
pub(crate) struct RequestArgs {
    #[command(flatten)]
    wallet: WalletArgs,
    /// The provider's node, e.g. http://127.0.0.1:7787.
    #[arg(long, value_name = "URL")]
    provider: String,
    /// The route at the node: /v1/chat/completions or a /proxy/… route it lists in /v1/info.
    #[arg(long, default_value = "/v1/chat/completions")]
    path: String,
    /// The HTTP method.
    #[arg(long, default_value = "POST")]
    method: String,
    /// The JSON body; `@FILE` reads it from a file.
    #[arg(long, value_name = "JSON|@FILE")]
    data: String,
    /// The note to pay with (default: the first idle one).
    #[arg(long)]
    note: Option<usize>,
}

impl RequestArgs {
    pub(crate) fn run(self) -> eyre::Result<()> {
        let body = match self.data.strip_prefix('@') {
            Some(file) => {
                std::fs::read(file).wrap_err_with(|| format!("--data: cannot read {file}"))?
            }
            None => self.data.clone().into_bytes(),
        };
        if !self.path.starts_with('/') {
            bail!("--path must start with `/` (e.g. /v1/chat/completions)");
        }
        let request = ApiRequest {
            method: self.method.to_uppercase(),
            path_and_query: self.path.clone(),
            content_type: Some("application/json".into()),
            body,
        };
        let client = self.wallet.open()?;
        runtime()?.block_on(async {
            let paid = client.pay(&self.provider, &request, self.note).await?;
            std::io::stdout().write_all(&paid.body)?;
            println!();
            let note = &client.notes().await[paid.note];
            eprintln!(
                "note {}: HTTP {}, charged {}, refunded {}; next ticket {}",
                paid.note,
                paid.status,
                paid.settlement.charge,
                paid.settlement.refund,
                note.opening.index
            );
            Ok(())
        })
    }
}

/// `zkcredits exit`.
#[derive(Debug, clap::Args)]
pub(crate) struct ExitArgs {
    #[command(flatten)]
    wallet: WalletArgs,
    /// The note to exit.
    #[arg(long)]
    note: usize,
    /// Who receives what is left of the deposit.
    #[arg(long, value_name = "ADDRESS")]
    recipient: String,
    /// File holding the hex private key of the Ethereum account that sends `requestExit`.
    #[arg(long, value_name = "FILE")]
    account_key_file: PathBuf,
}

impl ExitArgs {
    pub(crate) fn run(self) -> eyre::Result<()> {
        let recipient = self
            .recipient
            .parse()
            .map_err(|_| eyre!("--recipient: expected a 0x-prefixed 20-byte address"))?;
        let payer = read_account_key(&self.account_key_file)?;
        let client = self.wallet.open()?;
        runtime()?.block_on(async {
            let exit = client.exit(self.note, payer, recipient).await?;
            println!(
                "note {}: exit of {} wei to {} requested in {}{}; finalize after {} with `zkcredits finalize --note {}`",
                self.note,
                exit.amount,
                exit.recipient,
                exit.tx.as_deref().unwrap_or_default(),
                if exit.unsettled { " (its pending ticket counted at C_MAX)" } else { "" },
                exit.finalizable_at,
                self.note
            );
            Ok(())
        })
    }
}

/// `zkcredits finalize`.
#[derive(Debug, clap::Args)]
pub(crate) struct FinalizeArgs {
    #[command(flatten)]
    wallet: WalletArgs,
    /// The note whose exit to finalize.
    #[arg(long)]
    note: usize,
    /// File holding the hex private key of the Ethereum account that sends `finalizeExit`.
    #[arg(long, value_name = "FILE")]
    account_key_file: PathBuf,
}

impl FinalizeArgs {
    pub(crate) fn run(self) -> eyre::Result<()> {
        let payer = read_account_key(&self.account_key_file)?;
        let client = self.wallet.open()?;
        runtime()?.block_on(async {
            let tx = client.finalize(self.note, payer).await?;
            println!("note {}: exit finalized in {tx}", self.note);
            Ok(())
        })
    }
}
