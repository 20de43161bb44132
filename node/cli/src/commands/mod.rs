//! The subcommands of `zkcredits`.

mod circuits;
mod devnet;
mod insert_batch;
mod keys;
mod linkability;
mod node;
mod prove;
mod proxy;
mod slash;
mod test_vectors;
mod wallet;

use clap::Subcommand;

/// Logs to stderr at `default` level (`RUST_LOG` overrides), coloured only on a terminal so
/// files and pipes get plain text.
fn init_logging(default: &str) {
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| default.into()),
        )
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}

/// Bytes as `0x`-prefixed lowercase hex, the vectors' byte-string format.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::from("0x"), |mut s, b| {
        s.push_str(&format!("{b:02x}"));
        s
    })
}

/// A `zkcredits` subcommand.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Write or check the cross-implementation test vectors in `spec/vectors/`.
    ///
    /// Examples:
    ///   zkcredits test-vectors --write
    ///   zkcredits test-vectors --check --dir spec/vectors
    #[command(verbatim_doc_comment)]
    TestVectors(test_vectors::Args),
    /// Prove one statement from a snarkjs-style input file.
    ///
    /// Examples:
    ///   zkcredits prove slash --input input.json --out proof/
    #[command(verbatim_doc_comment)]
    Prove(prove::ProveArgs),
    /// Verify a snarkjs-format proof and public signals.
    ///
    /// Examples:
    ///   zkcredits verify slash --proof proof/proof.json --public proof/public.json
    #[command(verbatim_doc_comment)]
    Verify(prove::VerifyArgs),
    /// Circuit keys, verifiers and Groth16 vectors.
    #[command(subcommand)]
    Circuits(circuits::Args),
    /// Run a provider node in front of an OpenAI-compatible API.
    ///
    /// Examples:
    ///   zkcredits node --config node.toml
    ///   zkcredits node --config node.toml --listen 127.0.0.1:7787 --upstream http://127.0.0.1:8000
    #[command(verbatim_doc_comment)]
    Node(node::Args),
    /// Key files.
    ///
    /// Examples:
    ///   zkcredits keys signer new --out keys/signer.json
    #[command(subcommand, verbatim_doc_comment)]
    Keys(keys::Args),
    /// Slash the deposit behind two shares of one ticket: recover the secret, prove it, send
    /// the slash (spec/07).
    ///
    /// Examples:
    ///   zkcredits slash --share a.json --share b.json --rpc-url http://127.0.0.1:8545 \
    ///     --deployment deployments/31337.json --wallet-key-file wallet.hex
    #[command(verbatim_doc_comment)]
    Slash(slash::Args),
    /// Insert the escrow's queued deposits (and the slashed leaf due for removal) with a
    /// batch_insert proof, paying the gas: what the providers' nodes do (spec/08).
    ///
    /// Examples:
    ///   zkcredits insert-batch --rpc-url http://127.0.0.1:8545 \
    ///     --deployment deployments/31337.json --wallet-key-file wallet.hex
    #[command(verbatim_doc_comment)]
    InsertBatch(insert_batch::Args),
    /// A passive slasher: join the escrow's share network, check every share, slash every
    /// double spend it sees; no upstream, no payments (spec/07).
    ///
    /// Examples:
    ///   zkcredits slasher --watch --config slasher.toml
    #[command(verbatim_doc_comment)]
    Slasher(node::SlasherArgs),
    /// The user's wallet of notes.
    ///
    /// Examples:
    ///   zkcredits wallet new --rpc-url http://127.0.0.1:8545 --deployment deployments/31337.json
    ///   zkcredits wallet show
    #[command(subcommand, verbatim_doc_comment)]
    Wallet(wallet::WalletCommand),
    /// Make notes and deposit into each (one request at a time travels per note).
    ///
    /// Examples:
    ///   zkcredits deposit --amount 10000000000000000 --notes 4 --account-key-file account.hex
    #[command(verbatim_doc_comment)]
    Deposit(wallet::DepositArgs),
    /// Each note's deposit, spending, refunds, next ticket, pending request, expiry and exit.
    ///
    /// Examples:
    ///   zkcredits status
    ///   zkcredits status --settle
    #[command(verbatim_doc_comment)]
    Status(wallet::StatusArgs),
    /// Pay for one API call: prove, send, check and store the settlement, print the answer.
    ///
    /// Examples:
    ///   zkcredits request --provider http://127.0.0.1:7787 \
    ///     --data '{"model": "m", "messages": [{"role": "user", "content": "hi"}]}'
    #[command(verbatim_doc_comment)]
    Request(wallet::RequestArgs),
    /// Take a note's remaining credit back: prove its latest state and request the exit.
    ///
    /// Examples:
    ///   zkcredits exit --note 0 --recipient 0x… --account-key-file account.hex
    #[command(verbatim_doc_comment)]
    Exit(wallet::ExitArgs),
    /// Pay out a requested exit once its delay passed.
    ///
    /// Examples:
    ///   zkcredits finalize --note 0 --account-key-file account.hex
    #[command(verbatim_doc_comment)]
    Finalize(wallet::FinalizeArgs),
    /// A local OpenAI-compatible endpoint that pays for every call from the wallet: point an
    /// OpenAI SDK's base_url at it.
    ///
    /// Examples:
    ///   zkcredits proxy --listen 127.0.0.1:8787 --provider http://127.0.0.1:7787
    ///   OPENAI_BASE_URL=http://127.0.0.1:8787/v1 python my_agent.py
    #[command(verbatim_doc_comment)]
    Proxy(proxy::Args),
    /// Measure how well a provider re-links anonymous calls from timing, sizes and charges,
    /// with the metadata mitigations off and on (spec/10): a seeded simulation of many users
    /// through the node's and the client's own mitigation code.
    ///
    /// Examples:
    ///   zkcredits linkability --users 100 --seed 1 --out build/linkability
    #[command(verbatim_doc_comment)]
    Linkability(linkability::Args),
    /// A whole deployment on loopback: anvil, the escrow, three nodes of two providers on one
    /// share network, an OpenAI-compatible upstream; every endpoint in `devnet.json`.
    ///
    /// Examples:
    ///   zkcredits devnet
    ///   zkcredits devnet --upstream http://127.0.0.1:8080 --dir build/devnet
    #[command(verbatim_doc_comment)]
    Devnet(devnet::Args),
}

impl Command {
    pub(crate) fn run(self) -> eyre::Result<()> {
        match self {
            Self::TestVectors(args) => args.run(),
            Self::Circuits(args) => args.run(),
            Self::Prove(args) => args.run(),
            Self::Verify(args) => args.run(),
            Self::Node(args) => args.run(),
            Self::Keys(args) => args.run(),
            Self::Slash(args) => args.run(),
            Self::InsertBatch(args) => args.run(),
            Self::Slasher(args) => args.run(),
            Self::Wallet(command) => command.run(),
            Self::Deposit(args) => args.run(),
            Self::Status(args) => args.run(),
            Self::Request(args) => args.run(),
            Self::Exit(args) => args.run(),
            Self::Finalize(args) => args.run(),
            Self::Proxy(args) => args.run(),
            Self::Linkability(args) => args.run(),
            Self::Devnet(args) => args.run(),
        }
    }
}

/// `circuit`'s compiled circuit in `build_dir` and its proving key `key`, both checked against
/// the artifact manifest `manifest` (the `--manifest`, `--build-dir` and key arguments).
pub(crate) fn checked_prover(
    manifest: &std::path::Path,
    build_dir: &std::path::Path,
    circuit: &str,
    key: &std::path::Path,
) -> eyre::Result<(zkcredits_prover::WitnessCircuit, zkcredits_prover::KeyFile)> {
    let manifest =
        zkcredits_prover::Manifest::read(manifest).map_err(|e| eyre::eyre!("--manifest: {e}"))?;
    zkcredits_prover::load_checked_prover(build_dir, circuit, key, &manifest)
        .map_err(|e| eyre::eyre!("the {circuit} prover: {e} (run `make keys`)"))
}
