//! The subcommands of `zkcredits`.

mod circuits;
mod test_vectors;

use clap::Subcommand;

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
    /// Circuit keys, verifiers and Groth16 vectors.
    #[command(subcommand)]
    Circuits(circuits::Args),
}

impl Command {
    pub(crate) fn run(self) -> eyre::Result<()> {
        match self {
            Self::TestVectors(args) => args.run(),
            Self::Circuits(args) => args.run(),
        }
    }
}
