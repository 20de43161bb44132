//! The escrow's events, read in block order.

use crate::{bindings::CreditEscrow::CreditEscrowEvents, error::ChainError};
use alloy::{
    primitives::{Address, TxHash},
    providers::Provider,
    rpc::types::Filter,
    sol_types::SolEventInterface,
};

/// One decoded escrow event and where it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscrowLog {
    /// The including block.
    pub block_number: u64,
    /// Its hash.
    pub block_hash: [u8; 32],
    /// Its timestamp (unix seconds; zero when the node does not report it).
    pub block_timestamp: u64,
    /// The log's index in the block.
    pub log_index: u64,
    /// The emitting transaction.
    pub tx_hash: TxHash,
    /// The event.
    pub event: CreditEscrowEvents,
}

/// The escrow events in blocks `from..=to`, in block and log order. Logs of other contracts'
/// events (none are expected at the escrow's address) are an error.
pub async fn read_events<P: Provider>(
    provider: &P,
    escrow: Address,
    from: u64,
    to: u64,
) -> Result<Vec<EscrowLog>, ChainError> {
    let filter = Filter::new().address(escrow).from_block(from).to_block(to);
    let logs = provider.get_logs(&filter).await?;
    let mut events = logs
        .into_iter()
        .map(|log| {
            let event = CreditEscrowEvents::decode_log(&log.inner)
                .map_err(|e| ChainError::InvalidValue(format!("undecodable escrow log: {e}")))?
                .data;
            Ok(EscrowLog {
                block_number: log.block_number.unwrap_or_default(),
                block_hash: log.block_hash.unwrap_or_default().0,
                block_timestamp: log.block_timestamp.unwrap_or_default(),
                log_index: log.log_index.unwrap_or_default(),
                tx_hash: log.transaction_hash.unwrap_or_default(),
                event,
            })
        })
        .collect::<Result<Vec<_>, ChainError>>()?;
    events.sort_by_key(|e| (e.block_number, e.log_index));
    Ok(events)
}
