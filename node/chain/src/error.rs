//! Errors of chain access.

use crate::bindings::CreditEscrow::CreditEscrowErrors;

/// A revert of the escrow, decoded into its custom error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscrowRevert(pub CreditEscrowErrors);

impl std::fmt::Display for EscrowRevert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The generated Debug names the error and its fields, e.g.
        // `DepositNotActive(DepositNotActive { identity: 5, status: 2 })`.
        write!(f, "{:?}", self.0)
    }
}

/// Why a chain operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The escrow refused the call with one of its custom errors.
    #[error("the escrow reverted: {0}")]
    Reverted(EscrowRevert),
    /// The call reverted with data that is not one of the escrow's errors.
    #[error(
        "the call reverted with undecoded data {data}: is the address an escrow of this version?"
    )]
    RevertedUndecoded {
        /// The raw revert data.
        data: alloy::primitives::Bytes,
    },
    /// The transaction was mined but failed (it passed estimation, so the state changed between
    /// estimation and inclusion).
    #[error("transaction {0} was mined but reverted; retry after the state it depends on settles")]
    FailedOnChain(alloy::primitives::TxHash),
    /// The receipt lacks an event the call must emit.
    #[error("transaction {0} succeeded without the expected {1} event")]
    MissingEvent(alloy::primitives::TxHash, &'static str),
    /// The RPC endpoint failed, timed out or was unreachable.
    #[error("RPC error: {0} (check the endpoint URL and that the node is synced)")]
    Rpc(String),
    /// A value does not fit the contract's encoding.
    #[error("invalid value: {0}")]
    InvalidValue(String),
    /// The node's storage failed.
    #[error(transparent)]
    Storage(#[from] zkcredits_storage::StorageError),
    /// A deployment file could not be read or parsed.
    #[error("deployment file {path}: {reason}")]
    Deployment {
        /// The file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl From<alloy::contract::Error> for ChainError {
    fn from(error: alloy::contract::Error) -> Self {
        if let Some(decoded) = error.as_decoded_interface_error::<CreditEscrowErrors>() {
            return Self::Reverted(EscrowRevert(decoded));
        }
        if let Some(data) = error.as_revert_data() {
            return Self::RevertedUndecoded { data };
        }
        Self::Rpc(error.to_string())
    }
}

impl From<alloy::transports::TransportError> for ChainError {
    fn from(error: alloy::transports::TransportError) -> Self {
        alloy::contract::Error::from(error).into()
    }
}

impl From<alloy::providers::PendingTransactionError> for ChainError {
    fn from(error: alloy::providers::PendingTransactionError) -> Self {
        Self::Rpc(error.to_string())
    }
}
