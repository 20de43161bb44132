//! The persistent state of a zkcredits node.
//!
//! ## Bird's eye view
//!
//! - [`ShareStore`]: every RLN share the node accepted, keyed by nullifier; recording a share
//!   tells whether it is new, a replay of a stored one (same `x`) or a conflict (another `x`:
//!   a double spend). Check and write are one atomic step.
//! - [`SettlementStore`]: the signed settlement of each served request, in the node's encoding.
//! - [`ChainStore`]: the identity tree's leaves, the roots seen on chain and the chain cursor,
//!   advanced one block at a time and rolled back on a reorg.
//! - [`SlashStore`]: slashes the node owes the chain, so a crash never loses one.
//!
//! [`Storage`] is all four. [`RocksStorage`] keeps them in RocksDB column families, one write
//! batch per change, under a schema version; [`MemoryStorage`] keeps them in memory for tests
//! and ephemeral nodes. Both pass the same conformance suite (`tests/conformance.rs`).

mod codec;
mod error;
mod memory;
mod rocks;
mod types;

pub use error::StorageError;
pub use memory::MemoryStorage;
pub use rocks::{RocksStorage, SCHEMA_VERSION};
pub use types::{
    BlockRoot, ChainBlock, ChainCursor, LeafUpdate, PendingSlash, QueuedDeposit, RootRecord,
    ShareOrigin, ShareOutcome, SlashStatus, StoredShare,
};

use ark_bn254::Fr;

/// Shares the node has accepted.
pub trait ShareStore {
    /// Records `share` atomically with the lookup of its nullifier: [`ShareOutcome::New`] when
    /// no share of the nullifier was stored, [`ShareOutcome::Replay`] (nothing written) when one
    /// with the same `x` was, [`ShareOutcome::Conflict`] (the share is written too, as evidence)
    /// when only shares with other `x` were.
    fn record_share(&self, share: &StoredShare) -> Result<ShareOutcome, StorageError>;

    /// The shares stored for `nullifier` (one per `x`), ordered by `x`.
    fn shares(&self, nullifier: &Fr) -> Result<Vec<StoredShare>, StorageError>;

    /// Deletes every share received before `received_before` (unix seconds), with the
    /// settlement and owed charge of each request share's ticket; returns how many shares went.
    /// Meant for shares of notes that expired long ago (spec/08 §Retention).
    fn prune_shares(&self, received_before: u64) -> Result<u64, StorageError>;
}

/// Settlements of served requests.
pub trait SettlementStore {
    /// Stores the settlement of `nullifier`. Storing the same bytes again is a no-op; other
    /// bytes for a stored nullifier are refused (a ticket is settled once).
    fn put_settlement(&self, nullifier: &Fr, settlement: &[u8]) -> Result<(), StorageError>;

    /// The stored settlement of `nullifier`.
    fn settlement(&self, nullifier: &Fr) -> Result<Option<Vec<u8>>, StorageError>;

    /// Records what the ticket `nullifier` owes should the node stop before settling it (the
    /// upstream answered a stream that is still running). Replaces an earlier value.
    fn put_owed_charge(&self, nullifier: &Fr, charge: u64) -> Result<(), StorageError>;

    /// What [`SettlementStore::put_owed_charge`] recorded for `nullifier`.
    fn owed_charge(&self, nullifier: &Fr) -> Result<Option<u64>, StorageError>;
}

/// The chain as the node has followed it.
pub trait ChainStore {
    /// Applies one block's changes and moves the cursor to it, atomically. Blocks must come in
    /// increasing order.
    fn apply_block(&self, block: &ChainBlock) -> Result<(), StorageError>;

    /// Undoes every applied block above `number` (a reorg), newest first; the cursor moves to
    /// the newest applied block at or below `number`, or to nothing.
    fn rollback_to(&self, number: u64) -> Result<(), StorageError>;

    /// Forgets the undo records of blocks below `number`: they are final and never rolled back.
    fn prune_below(&self, number: u64) -> Result<(), StorageError>;

    /// The last applied block.
    fn cursor(&self) -> Result<Option<ChainCursor>, StorageError>;

    /// Every leaf by index, zero where a leaf was removed.
    fn leaves(&self) -> Result<Vec<Fr>, StorageError>;

    /// At most `limit` queued deposits from position `from` on, in queue order (inserted ones
    /// included: a deposit keeps its entry after its batch).
    fn queued(&self, from: u64, limit: usize) -> Result<Vec<QueuedDeposit>, StorageError>;

    /// The newest `limit` roots, newest first.
    fn recent_roots(&self, limit: usize) -> Result<Vec<RootRecord>, StorageError>;
}

/// Slashes the node has to submit or has submitted.
pub trait SlashStore {
    /// Inserts or replaces the slash of `slash.identity`.
    fn put_slash(&self, slash: &PendingSlash) -> Result<(), StorageError>;

    /// Inserts the slash of `slash.identity` unless one is stored, atomically; whether it did.
    fn insert_slash(&self, slash: &PendingSlash) -> Result<bool, StorageError>;

    /// The stored slash of `identity`.
    fn slash(&self, identity: &Fr) -> Result<Option<PendingSlash>, StorageError>;

    /// Every stored slash, by identity.
    fn slashes(&self) -> Result<Vec<PendingSlash>, StorageError>;
}

/// Everything a node persists.
pub trait Storage: ShareStore + SettlementStore + ChainStore + SlashStore + Send + Sync {}

impl<T: ShareStore + SettlementStore + ChainStore + SlashStore + Send + Sync> Storage for T {}
