//! Follows the escrow into a node's storage: replays its events from the deployment block,
//! applies only blocks behind a confirmation depth, undoes reorged blocks, and records the exit
//! tickets' shares so that reusing an exit ticket is a detected double spend. `Deposited` queues
//! a note; `BatchInserted` appends the queued notes' leaves and zeroes the removed one. Every
//! RPC read of a step happens before its first write, and each block's queued deposits, leaves,
//! roots, exit shares and the slashes they reveal are written in one batch: a failure or a crash
//! never leaves a block half applied or a revealed secret unrecorded.

use crate::{
    bindings::CreditEscrow::CreditEscrowEvents,
    error::ChainError,
    events::{EscrowLog, read_events},
    proof::{u256_to_fr, u256_to_u64},
};
use alloy::{eips::BlockNumberOrTag, primitives::Address, providers::Provider};
use ark_bn254::Fr;
use std::collections::BTreeMap;
use zkcredits_primitives::{
    identity::{Secret, leaf},
    rln::{Share, exit_x, recover_secret},
};
use zkcredits_storage::{
    BlockRoot, ChainBlock, ChainStore, LeafUpdate, PendingSlash, QueuedDeposit, ShareOrigin,
    ShareStore, SlashStatus, SlashStore, StoredShare,
};

/// Where and how to follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowerConfig {
    /// The escrow.
    pub escrow: Address,
    /// The first block to replay (the deployment block).
    pub start_block: u64,
    /// Blocks a block must be buried under before it is applied (0: apply the head).
    pub confirmations: u64,
    /// The most blocks one log query spans.
    pub max_range: u64,
}

/// An exit share that conflicts with shares the node already held: the exit reuses a spent
/// ticket, and the two shares reveal the owner's secret (its slash is stored with the block).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExitConflict {
    /// The exiting identity.
    pub identity: Fr,
    /// The exit ticket's share.
    pub exit_share: StoredShare,
    /// The other shares of the same nullifier.
    pub others: Vec<StoredShare>,
}

/// What one synchronization step did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Applied blocks up to and including this one (none when already up to date).
    pub applied_through: Option<u64>,
    /// Blocks above this one were rolled back because the chain reorganized.
    pub rolled_back_to: Option<u64>,
    /// Escrow events applied.
    pub events: usize,
    /// Exits that reuse a spent ticket.
    pub exit_conflicts: Vec<ExitConflict>,
}

/// The queued deposit a `Deposited` event reports.
pub fn queued_deposit(
    event: &crate::bindings::CreditEscrow::Deposited,
) -> Result<QueuedDeposit, ChainError> {
    Ok(QueuedDeposit {
        position: u256_to_u64(event.leafIndex, "queue position")?,
        identity: u256_to_fr(event.identity)?,
        amount: u128::try_from(event.amount)
            .map_err(|_| ChainError::InvalidValue(format!("deposit {}", event.amount)))?,
        expiry: u256_to_u64(event.expiry, "expiry")?,
    })
}

/// The leaf writes and root of a `BatchInserted` event: the leaves of the queued deposits
/// `[start, start + count)` (looked up in `queue`, which holds at least those), then the removed
/// leaf zeroed.
pub fn batch_change(
    event: &crate::bindings::CreditEscrow::BatchInserted,
    queue: &[QueuedDeposit],
) -> Result<(Vec<LeafUpdate>, BlockRoot), ChainError> {
    let start = u256_to_u64(event.start, "batch start")?;
    let count = u256_to_u64(event.count, "batch count")?;
    let mut updates = Vec::new();
    for position in start..start.saturating_add(count) {
        let deposit = queue.iter().find(|d| d.position == position).ok_or_else(|| {
            ChainError::InvalidValue(format!(
                "batch inserts queue position {position}, which no Deposited event queued"
            ))
        })?;
        updates.push(LeafUpdate {
            index: position,
            leaf: leaf(deposit.identity, deposit.amount, deposit.expiry),
        });
    }
    let removed = !event.removedIdentity.is_zero();
    if removed {
        updates.push(LeafUpdate {
            index: u256_to_u64(event.removedIndex, "removed leaf index")?,
            leaf: Fr::from(0u64),
        });
    }
    Ok((updates, BlockRoot { root: u256_to_fr(event.root)?, after_removal: removed }))
}

/// The secret that `exit_share` and one of `others` (shares of its nullifier with another `x`)
/// reveal, if any pair does.
fn revealed_secret(exit_share: &StoredShare, others: &[StoredShare]) -> Option<Secret> {
    others.iter().find_map(|other| {
        recover_secret(&other.share, &exit_share.share).ok().and_then(|k| Secret::new(k).ok())
    })
}

/// Follows one escrow into `store`.
#[derive(Debug)]
pub struct Follower<'a, P, S: ?Sized> {
    provider: &'a P,
    store: &'a S,
    config: FollowerConfig,
}

impl<'a, P: Provider, S: ChainStore + ShareStore + SlashStore + ?Sized> Follower<'a, P, S> {
    /// A follower of `config.escrow` writing into `store`.
    pub fn new(provider: &'a P, store: &'a S, config: FollowerConfig) -> Self {
        Self { provider, store, config }
    }

    /// One step: undo reorged blocks, then apply the confirmed blocks after the cursor (at most
    /// `max_range` of them). Call it again until `applied_through` is `None` to catch up. An RPC
    /// failure leaves the store as it was; the caller retries later and keeps serving from what
    /// is stored.
    pub async fn sync_once(&self) -> Result<SyncReport, ChainError> {
        let mut report = SyncReport::default();
        let head = self.provider.get_block_number().await?;
        let safe = head.saturating_sub(self.config.confirmations);

        while let Some(cursor) = self.store.cursor()? {
            if self.block_hash(cursor.number).await? == Some(cursor.hash) {
                break;
            }
            let target = cursor.number.saturating_sub(1);
            self.store.rollback_to(target)?;
            report.rolled_back_to = Some(target);
        }

        let from = self.store.cursor()?.map_or(self.config.start_block, |c| c.number + 1);
        if from > safe {
            return Ok(report);
        }
        let to = safe.min(from.saturating_add(self.config.max_range.max(1) - 1));
        // The range end's hash before and after the logs: equal, the logs are of that chain (a
        // reorg below `to` changes `to`'s hash); different, the step is retried.
        let end_hash = self.existing_block_hash(to).await?;
        // The range must extend the stored chain: a reorg below the cursor after the check
        // above would otherwise apply new-branch blocks on top of old-branch ones.
        if let Some(cursor) = self.store.cursor()? {
            let parent = self
                .provider
                .get_block_by_number(BlockNumberOrTag::Number(from))
                .await?
                .map(|b| b.header.parent_hash.0);
            if parent != Some(cursor.hash) {
                return Err(ChainError::Rpc(format!(
                    "block {from} does not extend the stored block {}: the chain reorganized; retry",
                    cursor.number
                )));
            }
        }
        let mut blocks: BTreeMap<u64, Vec<EscrowLog>> = BTreeMap::new();
        for log in read_events(self.provider, self.config.escrow, from, to).await? {
            blocks.entry(log.block_number).or_default().push(log);
        }
        // A node may still return logs of a block a reorg replaced: each block with logs must
        // be the canonical one at its height.
        for (number, logs) in &blocks {
            let canonical = self.existing_block_hash(*number).await?;
            if logs.iter().any(|log| log.block_hash != canonical) {
                return Err(ChainError::Rpc(format!(
                    "logs of block {number} are of a replaced block; retry"
                )));
            }
        }
        if self.existing_block_hash(to).await? != end_hash {
            return Err(ChainError::Rpc(format!(
                "the chain reorganized at or below block {to} while syncing; retry"
            )));
        }
        // The range's last block is recorded even without events, so the cursor advances.
        blocks.entry(to).or_default();
        for (number, logs) in blocks {
            let hash = logs.first().map_or(end_hash, |log| log.block_hash);
            if logs.iter().any(|log| log.block_hash != hash) || (number == to && hash != end_hash) {
                return Err(ChainError::Rpc(format!(
                    "logs of block {number} come from different branches; retry"
                )));
            }
            let mut block = ChainBlock { number, hash, ..ChainBlock::default() };
            for log in &logs {
                self.apply_event(&mut block, log, &mut report)?;
            }
            report.events += logs.len();
            self.store.apply_block(&block)?;
            self.recheck_exit_shares(&block, &mut report)?;
        }
        report.applied_through = Some(to);
        Ok(report)
    }

    fn apply_event(
        &self,
        block: &mut ChainBlock,
        log: &EscrowLog,
        report: &mut SyncReport,
    ) -> Result<(), ChainError> {
        let e = match &log.event {
            CreditEscrowEvents::Deposited(e) => {
                block.queued.push(queued_deposit(e)?);
                return Ok(());
            }
            CreditEscrowEvents::BatchInserted(e) => {
                let start = u256_to_u64(e.start, "batch start")?;
                let count = usize::try_from(u256_to_u64(e.count, "batch count")?)
                    .map_err(|_| ChainError::InvalidValue(format!("batch count {}", e.count)))?;
                let mut queue = self.store.queued(start, count)?;
                queue.extend(block.queued.iter().copied());
                let (updates, root) = batch_change(e, &queue)?;
                block.leaves.extend(updates);
                block.roots.push(root);
                return Ok(());
            }
            CreditEscrowEvents::ExitRequested(e) => e,
            _ => return Ok(()),
        };
        let amount = u128::try_from(e.amount)
            .map_err(|_| ChainError::InvalidValue(format!("exit amount {}", e.amount)))?;
        let exit_share = StoredShare {
            share: Share {
                nullifier: u256_to_fr(e.nullifier)?,
                x: exit_x(&e.recipient.0.0, amount),
                y: u256_to_fr(e.y)?,
            },
            received_at: log.block_timestamp,
            origin: ShareOrigin::Exit { block: block.number },
        };
        let nullifier = exit_share.share.nullifier;
        // The stored shares and those earlier in this block.
        let others: Vec<StoredShare> = self
            .store
            .shares(&nullifier)?
            .into_iter()
            .chain(block.shares.iter().filter(|s| s.share.nullifier == nullifier).cloned())
            .filter(|s| s.share.x != exit_share.share.x)
            .collect();
        block.shares.push(exit_share.clone());
        if others.is_empty() {
            return Ok(());
        }
        if let Some(secret) = revealed_secret(&exit_share, &others) {
            block.slashes.push(PendingSlash {
                identity: secret.commitment(),
                secret,
                nullifier,
                detected_at: log.block_timestamp,
                status: SlashStatus::Pending,
            });
        }
        report.exit_conflicts.push(ExitConflict {
            identity: u256_to_fr(e.identity)?,
            exit_share,
            others,
        });
        Ok(())
    }

    /// Looks at the block's exit shares again once they are stored: a request share recorded
    /// between the block's reads and its write conflicts with them too, and its slash is
    /// written now.
    fn recheck_exit_shares(
        &self,
        block: &ChainBlock,
        report: &mut SyncReport,
    ) -> Result<(), ChainError> {
        for exit_share in &block.shares {
            let nullifier = exit_share.share.nullifier;
            if block.slashes.iter().any(|s| s.nullifier == nullifier) {
                continue;
            }
            let others: Vec<StoredShare> = self
                .store
                .shares(&nullifier)?
                .into_iter()
                .filter(|s| s.share.x != exit_share.share.x)
                .collect();
            let Some(secret) = revealed_secret(exit_share, &others) else { continue };
            let identity = secret.commitment();
            if !self.store.slashes()?.iter().any(|s| s.identity == identity) {
                self.store.put_slash(&PendingSlash {
                    identity,
                    secret,
                    nullifier,
                    detected_at: exit_share.received_at,
                    status: SlashStatus::Pending,
                })?;
            }
            report.exit_conflicts.push(ExitConflict {
                identity,
                exit_share: exit_share.clone(),
                others,
            });
        }
        Ok(())
    }

    async fn existing_block_hash(&self, number: u64) -> Result<[u8; 32], ChainError> {
        self.block_hash(number)
            .await?
            .ok_or_else(|| ChainError::Rpc(format!("block {number} vanished while syncing; retry")))
    }

    async fn block_hash(&self, number: u64) -> Result<Option<[u8; 32]>, ChainError> {
        let block = self.provider.get_block_by_number(BlockNumberOrTag::Number(number)).await?;
        Ok(block.map(|b| b.header.hash.0))
    }
}
