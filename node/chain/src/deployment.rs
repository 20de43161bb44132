//! The deployment file `script/Deploy.s.sol` writes.

use crate::error::ChainError;
use alloy::primitives::Address;
use serde::Deserialize;
use std::path::Path;

/// Addresses, block and parameters of one escrow deployment (`deployments/<chainId>.json`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Deployment {
    /// The chain the escrow lives on.
    pub chain_id: u64,
    /// The escrow.
    pub escrow: Address,
    /// The `exit` verifier.
    pub exit_verifier: Address,
    /// The `slash` verifier.
    pub slash_verifier: Address,
    /// The `batch_insert` verifier.
    pub batch_insert_verifier: Address,
    /// A block at or before the deployment: event replay starts here.
    pub deployment_block: u64,
    /// `Poseidon(chainId, escrow)`, decimal.
    pub scope: String,
    /// The deposit token, zero for ETH.
    pub token: Address,
    /// `C_MAX`, decimal.
    pub c_max: String,
    /// `EXIT_DELAY` in seconds.
    pub exit_delay: u64,
    /// `NOTE_TTL` in seconds.
    pub note_ttl: u64,
    /// `SLASH_BOUNTY`, decimal.
    pub slash_bounty: String,
    /// Receives slashed remainders, spent credits and expired notes.
    pub treasury: Address,
    /// Sets signer roots.
    pub operator: Address,
    /// The signer root set at deployment, or by the last `zkcredits keys signer set-root`, decimal.
    pub signer_root: String,
}

impl Deployment {
    /// Reads a deployment file.
    pub fn load(path: &Path) -> Result<Self, ChainError> {
        let error =
            |reason: String| ChainError::Deployment { path: path.display().to_string(), reason };
        let text = std::fs::read_to_string(path).map_err(|e| {
            error(format!("{e} (deploy with `forge script script/Deploy.s.sol --broadcast`)"))
        })?;
        serde_json::from_str(&text).map_err(|e| error(e.to_string()))
    }
}
