//! `zkcredits keys`: key files.

use std::path::PathBuf;
use zkcredits_node::keys::{public_key_to_string, write_signer_key};
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
        }
    }
}
