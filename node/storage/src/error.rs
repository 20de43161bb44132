//! Storage errors.

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// RocksDB failed (disk full, permissions, corruption).
    #[error("database error: {0}")]
    Database(String),
    /// The data directory holds another schema version.
    #[error(
        "the data directory has schema version {found}, this build reads version {expected}: use a fresh data directory or a build that matches"
    )]
    SchemaMismatch {
        /// Version found on disk.
        found: u32,
        /// Version this build reads and writes.
        expected: u32,
    },
    /// A stored value does not decode.
    #[error("corrupt {what} record: {reason}")]
    Corrupt {
        /// Which kind of record.
        what: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A settlement with other bytes is already stored for the nullifier.
    #[error("a different settlement is already stored for this nullifier")]
    SettlementConflict,
    /// A block at or below the cursor was applied.
    #[error("block {got} does not follow the cursor at block {cursor}: roll back first")]
    BlockOutOfOrder {
        /// The cursor's block.
        cursor: u64,
        /// The block offered.
        got: u64,
    },
    /// A rollback reaches below blocks already pruned as final.
    #[error("cannot roll back to block {target}: blocks below {final_below} are final and pruned")]
    RollbackBelowFinal {
        /// The block asked for.
        target: u64,
        /// Blocks below this one are final.
        final_below: u64,
    },
    /// A queued deposit's position is not the queue's next one.
    #[error("queued deposit {position} is not the next position {length} of the deposit queue")]
    QueueGap {
        /// The position given.
        position: u64,
        /// The queue's length.
        length: u64,
    },
    /// A leaf update names an index beyond the next free one.
    #[error("leaf index {index} skips ahead of the tree size {size}")]
    LeafIndexGap {
        /// The index given.
        index: u64,
        /// The tree's size.
        size: u64,
    },
}

impl From<rocksdb::Error> for StorageError {
    fn from(error: rocksdb::Error) -> Self {
        Self::Database(error.into_string())
    }
}
