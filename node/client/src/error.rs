use std::path::PathBuf;

/// What can go wrong on the client side. Messages say what is wrong and what to do; none
/// carries a secret.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The wallet file cannot be read or written.
    #[error("wallet {path}: {reason}")]
    Wallet {
        /// The wallet file.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
    /// Another process holds the wallet.
    #[error(
        "wallet {0} is in use by another zkcredits process (one process at a time spends from a wallet)"
    )]
    WalletInUse(PathBuf),
    /// No note with this index, or none in the state asked for.
    #[error("{0}")]
    Note(String),
    /// The provider's payment description disagrees with the chain or the wallet.
    #[error("the provider's payment terms are not this wallet's escrow: {0}")]
    Terms(String),
    /// The provider could not be reached or answered something that is not the protocol.
    #[error("provider {url}: {reason}")]
    Provider {
        /// The provider's base URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The provider serves no such route (its `/v1/info` lists them); nothing was proven.
    #[error("{method} {path} is not a route this provider serves (GET /v1/info lists its routes)")]
    UnknownRoute {
        /// The method asked for.
        method: String,
        /// The route asked for, at the node.
        path: String,
    },
    /// The provider refused the request. Its ticket stays pending in the wallet and is sent
    /// again, unchanged, before the note's next request.
    #[error("the provider refused the request ({code}, HTTP {status}): {message}")]
    Refused {
        /// The stable reason string (spec/05).
        code: String,
        /// The HTTP status.
        status: u16,
        /// The node's message.
        message: String,
        /// The payment that was refused (its share, for the record).
        payment: Box<zkcredits_wire::envelope::PaymentEnvelope>,
    },
    /// The request was sent and its settlement is not in hand yet: the ticket stays pending
    /// in the wallet and is recovered on the next call (or `zkcredits status --provider`).
    #[error(
        "the request was sent but its settlement did not arrive ({0}); the ticket is kept pending and recovered on the next call"
    )]
    SettlementPending(String),
    /// A settlement failed the client's checks; it was not stored.
    #[error("the provider's settlement does not check out: {0}")]
    BadSettlement(String),
    /// The chain could not be read or a transaction failed.
    #[error(transparent)]
    Chain(#[from] zkcredits_chain::ChainError),
    /// The local copy of the identity tree.
    #[error("the local chain copy: {0}")]
    Storage(#[from] zkcredits_storage::StorageError),
    /// Loading the circuits or proving.
    #[error(transparent)]
    Prover(#[from] zkcredits_prover::ProverError),
    /// A blocking task (proving, the wallet's fsync) panicked or was cancelled.
    #[error("a background task failed: {0}")]
    Task(String),
}
