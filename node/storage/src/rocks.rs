//! Storage in RocksDB: one column family per kind of record, one write batch per change.

use crate::{
    ChainStore, SettlementStore, ShareOrigin, ShareStore, SlashStore,
    codec::{
        BlockUndo, Reader, Writer, decode_queued_deposit, decode_share, decode_slash, decode_undo,
        encode_queued_deposit, encode_share, encode_slash, encode_undo,
    },
    error::StorageError,
    types::{
        ChainBlock, ChainCursor, PendingSlash, QueuedDeposit, RootRecord, ShareOutcome, StoredShare,
    },
};
use ark_bn254::Fr;
use rocksdb::{ColumnFamily, DB, Direction, IteratorMode, Options, WriteBatch, WriteOptions};
use std::{collections::HashMap, path::Path, sync::Mutex};
use zkcredits_primitives::field::fr_to_be_bytes;

/// The layout version this build reads and writes; a data directory of another version is
/// refused at open.
pub const SCHEMA_VERSION: u32 = 3;

const META: &str = "meta";
const SHARES: &str = "shares";
const SETTLEMENTS: &str = "settlements";
const QUEUE: &str = "queue";
const LEAVES: &str = "leaves";
const ROOTS: &str = "roots";
const BLOCKS: &str = "blocks";
const SLASHES: &str = "slashes";
const FAMILIES: [&str; 8] = [META, SHARES, SETTLEMENTS, QUEUE, LEAVES, ROOTS, BLOCKS, SLASHES];

const KEY_SCHEMA: &[u8] = b"schema_version";
const KEY_FINAL_BELOW: &[u8] = b"final_below";

/// A node's state in a RocksDB directory.
pub struct RocksStorage {
    db: DB,
    sync: bool,
    /// Serializes read-check-write sequences (share classification, chain updates).
    writer: Mutex<()>,
}

impl std::fmt::Debug for RocksStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksStorage")
            .field("path", &self.db.path())
            .field("sync", &self.sync)
            .finish()
    }
}

impl RocksStorage {
    /// Opens (or creates) the store in `path`. With `sync`, every write waits for the disk
    /// (survives power loss); without, writes survive a crash of the process.
    pub fn open(path: &Path, sync: bool) -> Result<Self, StorageError> {
        let mut options = Options::default();
        options.create_if_missing(true);
        options.create_missing_column_families(true);
        let db = DB::open_cf(&options, path, FAMILIES)?;
        let store = Self { db, sync, writer: Mutex::new(()) };
        store.check_schema()?;
        Ok(store)
    }

    fn check_schema(&self) -> Result<(), StorageError> {
        match self.db.get_cf(self.cf(META)?, KEY_SCHEMA)? {
            Some(bytes) => {
                let found = <[u8; 4]>::try_from(bytes.as_slice()).map(u32::from_be_bytes).map_err(
                    |_| StorageError::Corrupt {
                        what: "schema version",
                        reason: format!("{} bytes", bytes.len()),
                    },
                )?;
                if found != SCHEMA_VERSION {
                    return Err(StorageError::SchemaMismatch { found, expected: SCHEMA_VERSION });
                }
                Ok(())
            }
            None => {
                let mut batch = WriteBatch::default();
                batch.put_cf(self.cf(META)?, KEY_SCHEMA, SCHEMA_VERSION.to_be_bytes());
                self.write(batch)
            }
        }
    }

    fn cf(&self, name: &'static str) -> Result<&ColumnFamily, StorageError> {
        self.db
            .cf_handle(name)
            .ok_or_else(|| StorageError::Database(format!("column family {name} is missing")))
    }

    fn write(&self, batch: WriteBatch) -> Result<(), StorageError> {
        let mut options = WriteOptions::default();
        options.set_sync(self.sync);
        Ok(self.db.write_opt(batch, &options)?)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.writer.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn final_below(&self) -> Result<u64, StorageError> {
        match self.db.get_cf(self.cf(META)?, KEY_FINAL_BELOW)? {
            Some(bytes) => Reader::new("final block", &bytes).u64(),
            None => Ok(0),
        }
    }

    fn queue_length(&self) -> Result<u64, StorageError> {
        match self.db.iterator_cf(self.cf(QUEUE)?, IteratorMode::End).next() {
            Some(entry) => Ok(Reader::new("queue key", &entry?.0).u64()? + 1),
            None => Ok(0),
        }
    }

    fn leaf_count(&self) -> Result<u64, StorageError> {
        match self.db.iterator_cf(self.cf(LEAVES)?, IteratorMode::End).next() {
            Some(entry) => Ok(Reader::new("leaf key", &entry?.0).u64()? + 1),
            None => Ok(0),
        }
    }

    /// Blocks with undo records, newest first, decoded as they are read.
    fn blocks_newest_first(
        &self,
    ) -> Result<impl Iterator<Item = Result<(u64, BlockUndo), StorageError>> + '_, StorageError>
    {
        Ok(self.db.iterator_cf(self.cf(BLOCKS)?, IteratorMode::End).map(|entry| {
            let (key, value) = entry?;
            Ok((Reader::new("block key", &key).u64()?, decode_undo(&value)?))
        }))
    }

    fn newest_block(&self) -> Result<Option<(u64, BlockUndo)>, StorageError> {
        self.blocks_newest_first()?.next().transpose()
    }
}

fn share_key(share: &StoredShare) -> Vec<u8> {
    share_key_of(&share.share.nullifier, &share.share.x)
}

fn share_key_of(nullifier: &Fr, x: &Fr) -> Vec<u8> {
    Writer::default().fr(nullifier).fr(x).finish()
}

fn root_key(block: u64, position: u64) -> Vec<u8> {
    Writer::default().u64(block).u64(position).finish()
}

impl ShareStore for RocksStorage {
    fn record_share(&self, share: &StoredShare) -> Result<ShareOutcome, StorageError> {
        let _guard = self.lock();
        let outcome = ShareOutcome::classify(self.shares(&share.share.nullifier)?, share);
        if !matches!(outcome, ShareOutcome::Replay(_)) {
            let mut batch = WriteBatch::default();
            batch.put_cf(self.cf(SHARES)?, share_key(share), encode_share(share));
            self.write(batch)?;
        }
        Ok(outcome)
    }

    fn shares(&self, nullifier: &Fr) -> Result<Vec<StoredShare>, StorageError> {
        let prefix = fr_to_be_bytes(nullifier);
        self.db
            .iterator_cf(self.cf(SHARES)?, IteratorMode::From(&prefix, Direction::Forward))
            .map_while(|entry| match entry {
                Ok((key, value)) if key.starts_with(&prefix) => Some(decode_share(&value)),
                Ok(_) => None,
                Err(e) => Some(Err(e.into())),
            })
            .collect()
    }

    fn prune_shares(&self, received_before: u64) -> Result<u64, StorageError> {
        let mut pruned = 0;
        let mut tickets = Vec::new();
        let mut batch = WriteBatch::default();
        for entry in self.db.iterator_cf(self.cf(SHARES)?, IteratorMode::Start) {
            let (key, value) = entry?;
            let share = decode_share(&value)?;
            if share.received_at >= received_before {
                continue;
            }
            batch.delete_cf(self.cf(SHARES)?, key);
            if let ShareOrigin::Request { .. } = share.origin {
                tickets.push(share.share.nullifier);
            }
            pruned += 1;
            // Written in slices, each under the lock only for its write.
            if batch.len() >= PRUNE_BATCH {
                let _guard = self.lock();
                self.write(std::mem::take(&mut batch))?;
            }
        }
        {
            let _guard = self.lock();
            self.write(batch)?;
        }
        // A ticket's settlement goes with its last share; the lock is taken per ticket only.
        for nullifier in tickets {
            let _guard = self.lock();
            if self.shares(&nullifier)?.is_empty() {
                let mut batch = WriteBatch::default();
                batch.delete_cf(self.cf(SETTLEMENTS)?, fr_to_be_bytes(&nullifier));
                batch.delete_cf(self.cf(SETTLEMENTS)?, owed_key(&nullifier));
                self.write(batch)?;
            }
        }
        Ok(pruned)
    }
}

/// Deletions written at once by a prune.
const PRUNE_BATCH: usize = 10_000;

/// The key of a ticket's owed charge, beside its settlement (`nullifier ‖ 0x01`): gone once
/// the settlement is written.
fn owed_key(nullifier: &Fr) -> [u8; 33] {
    let mut key = [1u8; 33];
    key[..32].copy_from_slice(&fr_to_be_bytes(nullifier));
    key
}

impl SettlementStore for RocksStorage {
    fn put_settlement(&self, nullifier: &Fr, settlement: &[u8]) -> Result<(), StorageError> {
        let _guard = self.lock();
        let key = fr_to_be_bytes(nullifier);
        match self.db.get_cf(self.cf(SETTLEMENTS)?, key)? {
            Some(existing) if existing != settlement => Err(StorageError::SettlementConflict),
            Some(_) => Ok(()),
            None => {
                let mut batch = WriteBatch::default();
                batch.put_cf(self.cf(SETTLEMENTS)?, key, settlement);
                batch.delete_cf(self.cf(SETTLEMENTS)?, owed_key(nullifier));
                self.write(batch)
            }
        }
    }

    fn settlement(&self, nullifier: &Fr) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.db.get_cf(self.cf(SETTLEMENTS)?, fr_to_be_bytes(nullifier))?)
    }

    fn put_owed_charge(&self, nullifier: &Fr, charge: u64) -> Result<(), StorageError> {
        let _guard = self.lock();
        if self.db.get_cf(self.cf(SETTLEMENTS)?, fr_to_be_bytes(nullifier))?.is_some() {
            return Ok(());
        }
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(SETTLEMENTS)?, owed_key(nullifier), charge.to_be_bytes());
        self.write(batch)
    }

    fn owed_charge(&self, nullifier: &Fr) -> Result<Option<u64>, StorageError> {
        self.db
            .get_cf(self.cf(SETTLEMENTS)?, owed_key(nullifier))?
            .map(|bytes| {
                <[u8; 8]>::try_from(bytes.as_slice()).map(u64::from_be_bytes).map_err(|_| {
                    StorageError::Corrupt { what: "owed charge", reason: "not 8 bytes".into() }
                })
            })
            .transpose()
    }
}

impl ChainStore for RocksStorage {
    fn apply_block(&self, block: &ChainBlock) -> Result<(), StorageError> {
        let _guard = self.lock();
        if let Some(cursor) = self.cursor()?
            && block.number <= cursor.number
        {
            return Err(StorageError::BlockOutOfOrder { cursor: cursor.number, got: block.number });
        }
        let mut batch = WriteBatch::default();
        let length = self.queue_length()?;
        for (offset, deposit) in block.queued.iter().enumerate() {
            if deposit.position != length + offset as u64 {
                return Err(StorageError::QueueGap {
                    position: deposit.position,
                    length: length + offset as u64,
                });
            }
            batch.put_cf(
                self.cf(QUEUE)?,
                deposit.position.to_be_bytes(),
                encode_queued_deposit(deposit),
            );
        }
        let mut size = self.leaf_count()?;
        let mut written: HashMap<u64, Fr> = HashMap::new();
        let mut previous_leaves = Vec::with_capacity(block.leaves.len());
        for update in &block.leaves {
            let previous = match update.index {
                index if index == size => {
                    size += 1;
                    None
                }
                index if index < size => Some(match written.get(&index) {
                    Some(leaf) => *leaf,
                    None => self.leaf(index)?,
                }),
                index => return Err(StorageError::LeafIndexGap { index, size }),
            };
            previous_leaves.push((update.index, previous));
            written.insert(update.index, update.leaf);
            batch.put_cf(
                self.cf(LEAVES)?,
                update.index.to_be_bytes(),
                fr_to_be_bytes(&update.leaf),
            );
        }
        for (position, root) in block.roots.iter().enumerate() {
            let mut value = fr_to_be_bytes(&root.root).to_vec();
            value.push(u8::from(root.after_removal));
            batch.put_cf(self.cf(ROOTS)?, root_key(block.number, position as u64), value);
        }
        let mut added_shares = Vec::new();
        for share in &block.shares {
            let key = share_key(share);
            let pair = (share.share.nullifier, share.share.x);
            if self.db.get_cf(self.cf(SHARES)?, &key)?.is_none() && !added_shares.contains(&pair) {
                batch.put_cf(self.cf(SHARES)?, key, encode_share(share));
                added_shares.push(pair);
            }
        }
        for slash in &block.slashes {
            let key = fr_to_be_bytes(&slash.identity);
            if self.db.get_cf(self.cf(SLASHES)?, key)?.is_none() {
                batch.put_cf(self.cf(SLASHES)?, key, encode_slash(slash));
            }
        }
        let undo = BlockUndo {
            hash: block.hash,
            queued: block.queued.len() as u64,
            previous_leaves,
            roots: block.roots.len() as u64,
            added_shares,
        };
        batch.put_cf(self.cf(BLOCKS)?, block.number.to_be_bytes(), encode_undo(&undo));
        self.write(batch)
    }

    fn rollback_to(&self, number: u64) -> Result<(), StorageError> {
        let _guard = self.lock();
        let final_below = self.final_below()?;
        if number + 1 < final_below {
            return Err(StorageError::RollbackBelowFinal { target: number, final_below });
        }
        let mut batch = WriteBatch::default();
        let mut queue_length = self.queue_length()?;
        for block in self.blocks_newest_first()? {
            let (n, undo) = block?;
            if n <= number {
                break;
            }
            for (index, previous) in undo.previous_leaves.iter().rev() {
                match previous {
                    None => batch.delete_cf(self.cf(LEAVES)?, index.to_be_bytes()),
                    Some(leaf) => {
                        batch.put_cf(self.cf(LEAVES)?, index.to_be_bytes(), fr_to_be_bytes(leaf))
                    }
                }
            }
            for (nullifier, x) in &undo.added_shares {
                batch.delete_cf(self.cf(SHARES)?, share_key_of(nullifier, x));
            }
            batch.delete_range_cf(self.cf(ROOTS)?, root_key(n, 0), root_key(n + 1, 0));
            // Blocks are undone newest first, so the block's deposits are the queue's last ones.
            queue_length -= undo.queued;
            batch.delete_range_cf(
                self.cf(QUEUE)?,
                queue_length.to_be_bytes(),
                (queue_length + undo.queued).to_be_bytes(),
            );
            batch.delete_cf(self.cf(BLOCKS)?, n.to_be_bytes());
        }
        self.write(batch)
    }

    fn prune_below(&self, number: u64) -> Result<(), StorageError> {
        let _guard = self.lock();
        let mut batch = WriteBatch::default();
        let newest = self.newest_block()?.map(|(n, _)| n);
        // The newest block stays: it is the cursor.
        let end = newest.map_or(number, |n| number.min(n));
        batch.delete_range_cf(self.cf(BLOCKS)?, 0u64.to_be_bytes(), end.to_be_bytes());
        let final_below = self.final_below()?.max(number);
        batch.put_cf(self.cf(META)?, KEY_FINAL_BELOW, final_below.to_be_bytes());
        self.write(batch)
    }

    fn cursor(&self) -> Result<Option<ChainCursor>, StorageError> {
        Ok(self.newest_block()?.map(|(number, undo)| ChainCursor { number, hash: undo.hash }))
    }

    fn leaves(&self) -> Result<Vec<Fr>, StorageError> {
        self.db
            .iterator_cf(self.cf(LEAVES)?, IteratorMode::Start)
            .map(|entry| {
                let (_, value) = entry?;
                let mut reader = Reader::new("leaf", &value);
                let leaf = reader.fr()?;
                reader.end()?;
                Ok(leaf)
            })
            .collect()
    }

    fn queued(&self, from: u64, limit: usize) -> Result<Vec<QueuedDeposit>, StorageError> {
        self.db
            .iterator_cf(
                self.cf(QUEUE)?,
                IteratorMode::From(&from.to_be_bytes(), Direction::Forward),
            )
            .take(limit)
            .map(|entry| decode_queued_deposit(&entry?.1))
            .collect()
    }

    fn recent_roots(&self, limit: usize) -> Result<Vec<RootRecord>, StorageError> {
        self.db
            .iterator_cf(self.cf(ROOTS)?, IteratorMode::End)
            .take(limit)
            .map(|entry| {
                let (key, value) = entry?;
                let block = Reader::new("root key", &key).u64()?;
                let mut reader = Reader::new("root", &value);
                let root = reader.fr()?;
                let after_removal = reader.u8()? != 0;
                reader.end()?;
                Ok(RootRecord { block, root, after_removal })
            })
            .collect()
    }
}

impl RocksStorage {
    fn leaf(&self, index: u64) -> Result<Fr, StorageError> {
        let bytes = self.db.get_cf(self.cf(LEAVES)?, index.to_be_bytes())?.ok_or_else(|| {
            StorageError::Corrupt {
                what: "leaf",
                reason: format!("leaf {index} is missing below the tree size"),
            }
        })?;
        Reader::new("leaf", &bytes).fr()
    }
}

impl SlashStore for RocksStorage {
    fn put_slash(&self, slash: &PendingSlash) -> Result<(), StorageError> {
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(SLASHES)?, fr_to_be_bytes(&slash.identity), encode_slash(slash));
        self.write(batch)
    }

    fn insert_slash(&self, slash: &PendingSlash) -> Result<bool, StorageError> {
        let _guard = self.lock();
        let key = fr_to_be_bytes(&slash.identity);
        if self.db.get_cf(self.cf(SLASHES)?, key)?.is_some() {
            return Ok(false);
        }
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(SLASHES)?, key, encode_slash(slash));
        self.write(batch)?;
        Ok(true)
    }

    fn slash(&self, identity: &Fr) -> Result<Option<PendingSlash>, StorageError> {
        self.db
            .get_cf(self.cf(SLASHES)?, fr_to_be_bytes(identity))?
            .map(|bytes| decode_slash(&bytes))
            .transpose()
    }

    fn slashes(&self) -> Result<Vec<PendingSlash>, StorageError> {
        self.db
            .iterator_cf(self.cf(SLASHES)?, IteratorMode::Start)
            .map(|entry| decode_slash(&entry?.1))
            .collect()
    }
}
