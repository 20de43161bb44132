//! `zkcredits keys`: key files.

use eyre::{WrapErr, eyre};
use std::path::PathBuf;
use zkcredits_node::keys::{
    public_key_from_str, public_key_to_string, read_account_key, write_signer_key,
};
use zkcredits_primitives::{
    constants::SIGNER_TREE_DEPTH, eddsa::PrivateKey, field::fr_to_dec, merkle::FixedMerkleTree,
};

/// Key files.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Args {
    /// Settlement signer keys (EdDSA-Poseidon on Baby Jubjub).
    #[command(subcommand)]
    Signer(SignerArgs),
}

/// `keys signer …`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum SignerArgs {
    /// Make a new signer key file (0600), print its public key and the root of a signer set
    /// holding only it (what `ZKCREDITS_SIGNER_ROOT` takes when deploying for one node).
    New {
        /// Where to write the key; an existing file is never overwritten.
        #[arg(long)]
        out: PathBuf,
    },
    /// Make the escrow's signer set the given keys (the operator's account sends
    /// `setSignerRoot`) and record the new root in the deployment file.
    ///
    /// Examples:
    ///   zkcredits keys signer set-root --key 123,456 --key 789,12 --rpc-url http://127.0.0.1:8545 \
    ///     --deployment deployments/31337.json --account-key-file operator.hex
    #[command(verbatim_doc_comment)]
    SetRoot {
        /// A signer key `x,y` as `signer.set` lists it; repeat for each, in tree order.
        #[arg(long = "key", value_name = "X,Y", required = true)]
        keys: Vec<String>,
        /// JSON-RPC endpoint of the escrow's chain.
        #[arg(long, value_name = "URL")]
        rpc_url: String,
        /// The deployment file (its `signerRoot` is rewritten).
        #[arg(long, value_name = "FILE")]
        deployment: PathBuf,
        /// File holding the hex private key of the escrow's operator.
        #[arg(long, value_name = "FILE")]
        account_key_file: PathBuf,
    },
}

impl Args {
    pub(crate) fn run(self) -> eyre::Result<()> {
        match self {
            Self::Signer(SignerArgs::New { out }) => {
                let mut bytes = [0u8; 32];
                rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
                let key = PrivateKey::from_bytes(bytes);
                write_signer_key(&out, &key)?;
                let public = key.public_key();
                let root = FixedMerkleTree::new(SIGNER_TREE_DEPTH, &[public.signer_leaf()])?.root();
                println!("wrote {}", out.display());
                println!("public key (signer.set entry): {}", public_key_to_string(&public));
                println!("signer root of this key alone: {}", fr_to_dec(&root));
                Ok(())
            }
            Self::Signer(SignerArgs::SetRoot { keys, rpc_url, deployment, account_key_file }) => {
                set_root(&keys, &rpc_url, &deployment, &account_key_file)
            }
        }
    }
}

/// Sends `setSignerRoot` for the set `keys` and rewrites the deployment file's `signerRoot`.
fn set_root(
    keys: &[String],
    rpc_url: &str,
    deployment: &std::path::Path,
    account_key_file: &std::path::Path,
) -> eyre::Result<()> {
    let leaves = keys
        .iter()
        .map(|k| public_key_from_str(k).map(|key| key.signer_leaf()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| eyre!("--key: {e}"))?;
    let root = FixedMerkleTree::new(SIGNER_TREE_DEPTH, &leaves)
        .map_err(|e| eyre!("--key: {e} (a signer set holds at most 16 keys)"))?
        .root();
    let file = zkcredits_chain::Deployment::load(deployment)?;
    let operator = read_account_key(account_key_file)?;
    let url = rpc_url.parse().map_err(|e| eyre!("--rpc-url: {e}"))?;
    let provider = alloy::providers::ProviderBuilder::new()
        .wallet(alloy::network::EthereumWallet::from(operator))
        .connect_http(url);
    let escrow = zkcredits_chain::Escrow::new(file.escrow, provider);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let submitted = runtime.block_on(escrow.set_signer_root(root))?;
    let mut json: serde_json::Value = serde_json::from_slice(&std::fs::read(deployment)?)?;
    json["signerRoot"] = fr_to_dec(&root).into();
    std::fs::write(deployment, serde_json::to_vec_pretty(&json)?).wrap_err_with(|| {
        format!("the root is set on chain, but {} was not updated", deployment.display())
    })?;
    println!("signer root {} set in {}", fr_to_dec(&root), submitted.tx_hash);
    println!("{} records it", deployment.display());
    Ok(())
}
