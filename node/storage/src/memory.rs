//! Storage in memory, for tests and ephemeral nodes.

use crate::{
    ChainStore, SettlementStore, ShareStore, SlashStore,
    codec::BlockUndo,
    error::StorageError,
    types::{
        ChainBlock, ChainCursor, LeafUpdate, PendingSlash, QueuedDeposit, RootRecord, ShareOutcome,
        StoredShare,
    },
};
use ark_bn254::Fr;
use std::{
    collections::{BTreeMap, HashMap},
    sync::{Mutex, MutexGuard},
};

/// Everything in memory behind one lock; lost when dropped.
#[derive(Default)]
pub struct MemoryStorage {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    shares: HashMap<Fr, BTreeMap<Fr, StoredShare>>,
    settlements: HashMap<Fr, Vec<u8>>,
    owed: HashMap<Fr, u64>,
    queue: Vec<QueuedDeposit>,
    leaves: Vec<Fr>,
    roots: Vec<RootRecord>,
    blocks: BTreeMap<u64, BlockUndo>,
    slashes: BTreeMap<Fr, PendingSlash>,
    final_below: u64,
}

impl std::fmt::Debug for MemoryStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MemoryStorage")
    }
}

impl MemoryStorage {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave a half-applied change: every method
        // mutates only after its checks.
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl ShareStore for MemoryStorage {
    fn record_share(&self, share: &StoredShare) -> Result<ShareOutcome, StorageError> {
        let mut inner = self.lock();
        let stored = inner.shares.entry(share.share.nullifier).or_default();
        let outcome = ShareOutcome::classify(stored.values().cloned().collect(), share);
        if !matches!(outcome, ShareOutcome::Replay(_)) {
            stored.insert(share.share.x, share.clone());
        }
        Ok(outcome)
    }

    fn prune_shares(&self, received_before: u64) -> Result<u64, StorageError> {
        let mut inner = self.lock();
        let mut pruned = 0;
        let mut settled = Vec::new();
        for stored in inner.shares.values_mut() {
            stored.retain(|_, s| {
                let keep = s.received_at >= received_before;
                if !keep {
                    pruned += 1;
                    if let crate::ShareOrigin::Request { .. } = s.origin {
                        settled.push(s.share.nullifier);
                    }
                }
                keep
            });
        }
        inner.shares.retain(|_, stored| !stored.is_empty());
        // A ticket's settlement goes with its last share.
        for nullifier in settled {
            if !inner.shares.contains_key(&nullifier) {
                inner.settlements.remove(&nullifier);
                inner.owed.remove(&nullifier);
            }
        }
        Ok(pruned)
    }

    fn shares(&self, nullifier: &Fr) -> Result<Vec<StoredShare>, StorageError> {
        Ok(self
            .lock()
            .shares
            .get(nullifier)
            .map(|s| s.values().cloned().collect())
            .unwrap_or_default())
    }
}

impl SettlementStore for MemoryStorage {
    fn put_settlement(&self, nullifier: &Fr, settlement: &[u8]) -> Result<(), StorageError> {
        let mut inner = self.lock();
        match inner.settlements.get(nullifier) {
            Some(existing) if existing.as_slice() != settlement => {
                Err(StorageError::SettlementConflict)
            }
            Some(_) => Ok(()),
            None => {
                inner.settlements.insert(*nullifier, settlement.to_vec());
                inner.owed.remove(nullifier);
                Ok(())
            }
        }
    }

    fn settlement(&self, nullifier: &Fr) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.lock().settlements.get(nullifier).cloned())
    }

    fn put_owed_charge(&self, nullifier: &Fr, charge: u64) -> Result<(), StorageError> {
        let mut inner = self.lock();
        if !inner.settlements.contains_key(nullifier) {
            inner.owed.insert(*nullifier, charge);
        }
        Ok(())
    }

    fn owed_charge(&self, nullifier: &Fr) -> Result<Option<u64>, StorageError> {
        Ok(self.lock().owed.get(nullifier).copied())
    }
}

impl ChainStore for MemoryStorage {
    fn apply_block(&self, block: &ChainBlock) -> Result<(), StorageError> {
        let mut inner = self.lock();
        if let Some((&cursor, _)) = inner.blocks.last_key_value()
            && block.number <= cursor
        {
            return Err(StorageError::BlockOutOfOrder { cursor, got: block.number });
        }
        for (offset, deposit) in block.queued.iter().enumerate() {
            let length = (inner.queue.len() + offset) as u64;
            if deposit.position != length {
                return Err(StorageError::QueueGap { position: deposit.position, length });
            }
        }
        let previous_leaves = apply_leaves(&mut inner.leaves, &block.leaves)?;
        inner.queue.extend_from_slice(&block.queued);
        inner.roots.extend(block.roots.iter().map(|r| RootRecord {
            block: block.number,
            root: r.root,
            after_removal: r.after_removal,
        }));
        let mut added_shares = Vec::new();
        for share in &block.shares {
            let stored = inner.shares.entry(share.share.nullifier).or_default();
            if let std::collections::btree_map::Entry::Vacant(slot) = stored.entry(share.share.x) {
                slot.insert(share.clone());
                added_shares.push((share.share.nullifier, share.share.x));
            }
        }
        for slash in &block.slashes {
            inner.slashes.entry(slash.identity).or_insert_with(|| slash.clone());
        }
        inner.blocks.insert(
            block.number,
            BlockUndo {
                hash: block.hash,
                queued: block.queued.len() as u64,
                previous_leaves,
                roots: block.roots.len() as u64,
                added_shares,
            },
        );
        Ok(())
    }

    fn rollback_to(&self, number: u64) -> Result<(), StorageError> {
        let mut inner = self.lock();
        if number + 1 < inner.final_below {
            return Err(StorageError::RollbackBelowFinal {
                target: number,
                final_below: inner.final_below,
            });
        }
        let undone: Vec<u64> = inner.blocks.range(number + 1..).map(|(n, _)| *n).rev().collect();
        for n in undone {
            let Some(undo) = inner.blocks.remove(&n) else { continue };
            for (index, previous) in undo.previous_leaves.iter().rev() {
                match previous {
                    None => {
                        inner.leaves.pop();
                    }
                    Some(leaf) => {
                        if let Some(slot) =
                            usize::try_from(*index).ok().and_then(|i| inner.leaves.get_mut(i))
                        {
                            *slot = *leaf;
                        }
                    }
                }
            }
            for (nullifier, x) in &undo.added_shares {
                if let Some(stored) = inner.shares.get_mut(nullifier) {
                    stored.remove(x);
                }
            }
            inner.roots.retain(|r| r.block != n);
            let length = inner.queue.len().saturating_sub(undo.queued as usize);
            inner.queue.truncate(length);
        }
        Ok(())
    }

    fn prune_below(&self, number: u64) -> Result<(), StorageError> {
        let mut inner = self.lock();
        inner.final_below = inner.final_below.max(number);
        let kept = inner.blocks.split_off(&number);
        // The newest pruned block stays as the cursor's anchor when nothing newer exists.
        let anchor = inner.blocks.pop_last();
        inner.blocks = kept;
        if inner.blocks.is_empty()
            && let Some((n, undo)) = anchor
        {
            inner.blocks.insert(
                n,
                BlockUndo { previous_leaves: Vec::new(), added_shares: Vec::new(), ..undo },
            );
        }
        Ok(())
    }

    fn cursor(&self) -> Result<Option<ChainCursor>, StorageError> {
        Ok(self
            .lock()
            .blocks
            .last_key_value()
            .map(|(n, u)| ChainCursor { number: *n, hash: u.hash }))
    }

    fn leaves(&self) -> Result<Vec<Fr>, StorageError> {
        Ok(self.lock().leaves.clone())
    }

    fn queued(&self, from: u64, limit: usize) -> Result<Vec<QueuedDeposit>, StorageError> {
        let inner = self.lock();
        let from = usize::try_from(from).unwrap_or(usize::MAX).min(inner.queue.len());
        Ok(inner.queue[from..].iter().take(limit).copied().collect())
    }

    fn recent_roots(&self, limit: usize) -> Result<Vec<RootRecord>, StorageError> {
        Ok(self.lock().roots.iter().rev().take(limit).copied().collect())
    }
}

impl SlashStore for MemoryStorage {
    fn put_slash(&self, slash: &PendingSlash) -> Result<(), StorageError> {
        self.lock().slashes.insert(slash.identity, slash.clone());
        Ok(())
    }

    fn insert_slash(&self, slash: &PendingSlash) -> Result<bool, StorageError> {
        let mut inner = self.lock();
        if inner.slashes.contains_key(&slash.identity) {
            return Ok(false);
        }
        inner.slashes.insert(slash.identity, slash.clone());
        Ok(true)
    }

    fn slash(&self, identity: &Fr) -> Result<Option<PendingSlash>, StorageError> {
        Ok(self.lock().slashes.get(identity).cloned())
    }

    fn slashes(&self) -> Result<Vec<PendingSlash>, StorageError> {
        Ok(self.lock().slashes.values().cloned().collect())
    }
}

/// Applies a block's leaf updates to `leaves`, returning the undo list. Every index is checked
/// before anything changes, so a refused block leaves the tree as it was.
fn apply_leaves(
    leaves: &mut Vec<Fr>,
    updates: &[LeafUpdate],
) -> Result<Vec<(u64, Option<Fr>)>, StorageError> {
    let mut size = leaves.len() as u64;
    for update in updates {
        match update.index {
            index if index == size => size += 1,
            index if index < size => {}
            index => return Err(StorageError::LeafIndexGap { index, size }),
        }
    }
    Ok(updates
        .iter()
        .map(|update| {
            let slot = leaves.get_mut(usize::try_from(update.index).unwrap_or(usize::MAX));
            match slot {
                Some(existing) => (update.index, Some(std::mem::replace(existing, update.leaf))),
                None => {
                    leaves.push(update.leaf);
                    (update.index, None)
                }
            }
        })
        .collect())
}
