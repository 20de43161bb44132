//! One suite, run against the RocksDB and the in-memory storage.

use ark_bn254::Fr;
use std::sync::Arc;
use zkcredits_primitives::{babyjubjub::BASE8, identity::Secret, rln::Share};
use zkcredits_storage::{
    BlockRoot, ChainBlock, ChainCursor, ChainStore, LeafUpdate, MemoryStorage, PendingSlash,
    QueuedDeposit, RocksStorage, SCHEMA_VERSION, SettlementStore, ShareOrigin, ShareOutcome,
    ShareStore, SlashStatus, Storage, StorageError, StoredShare,
};

fn share(nullifier: u64, x: u64, origin: ShareOrigin) -> StoredShare {
    StoredShare {
        share: Share { nullifier: Fr::from(nullifier), x: Fr::from(x), y: Fr::from(x * 7 + 1) },
        received_at: 1_700_000_000 + x,
        origin,
    }
}

fn request() -> ShareOrigin {
    ShareOrigin::Request { commitment: BASE8 }
}

fn insert(index: u64, leaf: u64) -> LeafUpdate {
    LeafUpdate { index, leaf: Fr::from(leaf) }
}

fn block(number: u64, leaves: Vec<LeafUpdate>, roots: &[u64]) -> ChainBlock {
    ChainBlock {
        number,
        hash: [number as u8; 32],
        leaves,
        roots: roots
            .iter()
            .map(|r| BlockRoot { root: Fr::from(*r), after_removal: false })
            .collect(),
        ..ChainBlock::default()
    }
}

/// `block` whose root at `position` came with a removal.
fn with_removal(mut block: ChainBlock, position: usize) -> ChainBlock {
    block.roots[position].after_removal = true;
    block
}

fn queued(position: u64) -> QueuedDeposit {
    QueuedDeposit {
        position,
        identity: Fr::from(1_000 + position),
        amount: u128::from(position) << 90,
        expiry: (1 << 40) - 1 - position,
    }
}

fn queued_deposits_apply_and_roll_back(store: &dyn Storage) {
    let mut first = block(3, vec![], &[]);
    first.queued = vec![queued(0), queued(1), queued(2)];
    store.apply_block(&first).expect("storage call");
    let mut second = block(4, vec![insert(0, 100), insert(1, 101)], &[1]);
    second.queued = vec![queued(3)];
    store.apply_block(&second).expect("storage call");
    assert_eq!(store.queued(0, 10).expect("storage call"), (0..4).map(queued).collect::<Vec<_>>());
    assert_eq!(store.queued(2, 1).expect("storage call"), vec![queued(2)]);
    assert!(store.queued(4, 10).expect("storage call").is_empty());

    // A gap in the queue is refused and writes nothing.
    let mut gap = block(5, vec![insert(2, 102)], &[2]);
    gap.queued = vec![queued(5)];
    assert!(matches!(
        store.apply_block(&gap),
        Err(StorageError::QueueGap { position: 5, length: 4 })
    ));
    assert_eq!(store.leaves().expect("storage call").len(), 2);

    // A reorg undoes the block's queued deposits with its leaves.
    store.rollback_to(3).expect("storage call");
    assert_eq!(store.queued(0, 10).expect("storage call").len(), 3);
    assert!(store.leaves().expect("storage call").is_empty());
    let mut replacement = block(4, vec![], &[]);
    replacement.queued = vec![queued(3)];
    store.apply_block(&replacement).expect("storage call");
    assert_eq!(store.queued(3, 10).expect("storage call"), vec![queued(3)]);
}

fn shares_are_new_replayed_or_conflicting(store: &dyn Storage) {
    let first = share(1, 10, request());
    assert_eq!(store.record_share(&first).expect("storage call"), ShareOutcome::New);
    let mut again = first.clone();
    again.received_at += 5;
    again.origin = ShareOrigin::Gossip { peer: "12D3KooWpeer".into() };
    assert_eq!(
        store.record_share(&again).expect("storage call"),
        ShareOutcome::Replay(first.clone())
    );
    assert_eq!(
        store.shares(&Fr::from(1u64)).expect("storage call"),
        vec![first.clone()],
        "a replay writes nothing"
    );

    let conflicting = share(1, 11, ShareOrigin::Exit { block: 42 });
    assert_eq!(
        store.record_share(&conflicting).expect("storage call"),
        ShareOutcome::Conflict(vec![first.clone()])
    );
    assert_eq!(
        store.shares(&Fr::from(1u64)).expect("storage call"),
        vec![first, conflicting],
        "evidence kept"
    );
    assert!(store.shares(&Fr::from(2u64)).expect("storage call").is_empty());
}

fn old_shares_are_pruned_with_their_settlements(store: &dyn Storage) {
    // Received at 1_700_000_000 + x.
    let old = share(1, 10, request());
    let old_exit = share(2, 20, ShareOrigin::Exit { block: 1 });
    let recent = share(3, 500, request());
    let conflict_old = share(3, 30, request());
    for s in [&old, &old_exit, &recent, &conflict_old] {
        store.record_share(s).expect("storage call");
    }
    store.put_settlement(&Fr::from(1u64), b"old settlement").expect("storage call");
    store.put_settlement(&Fr::from(3u64), b"recent settlement").expect("storage call");
    store.put_owed_charge(&Fr::from(4u64), 9).expect("storage call");
    let pruned = store.prune_shares(1_700_000_100).expect("storage call");
    assert_eq!(pruned, 3);
    assert!(store.shares(&Fr::from(1u64)).expect("storage call").is_empty());
    assert!(store.shares(&Fr::from(2u64)).expect("storage call").is_empty());
    assert_eq!(store.shares(&Fr::from(3u64)).expect("storage call"), vec![recent]);
    assert_eq!(store.settlement(&Fr::from(1u64)).expect("storage call"), None);
    // A ticket's settlement goes with its last share only.
    assert!(store.settlement(&Fr::from(3u64)).expect("storage call").is_some());
    assert_eq!(store.owed_charge(&Fr::from(4u64)).expect("storage call"), Some(9), "no share");
    assert_eq!(store.prune_shares(1_700_000_100).expect("storage call"), 0, "idempotent");
}

fn settlements_are_written_once(store: &dyn Storage) {
    let nullifier = Fr::from(9u64);
    assert_eq!(store.settlement(&nullifier).expect("storage call"), None);
    // A charge owed while a stream runs, replaced as it grows, gone with the settlement.
    assert_eq!(store.owed_charge(&nullifier).expect("storage call"), None);
    store.put_owed_charge(&nullifier, 7).expect("storage call");
    store.put_owed_charge(&nullifier, 1_000).expect("storage call");
    assert_eq!(store.owed_charge(&nullifier).expect("storage call"), Some(1_000));
    assert_eq!(store.settlement(&nullifier).expect("storage call"), None, "apart from it");
    store.put_settlement(&nullifier, b"signed settlement").expect("storage call");
    store.put_settlement(&nullifier, b"signed settlement").expect("storage call");
    assert!(matches!(
        store.put_settlement(&nullifier, b"another"),
        Err(StorageError::SettlementConflict)
    ));
    assert_eq!(
        store.settlement(&nullifier).expect("storage call").as_deref(),
        Some(&b"signed settlement"[..])
    );
    assert_eq!(store.owed_charge(&nullifier).expect("storage call"), None);
    store.put_owed_charge(&nullifier, 5).expect("storage call");
    assert_eq!(store.owed_charge(&nullifier).expect("storage call"), None, "settled already");
}

fn chain_blocks_apply_and_roll_back(store: &dyn Storage) {
    assert_eq!(store.cursor().expect("storage call"), None);
    store
        .apply_block(&block(10, vec![insert(0, 100), insert(1, 101)], &[1, 2]))
        .expect("storage call");
    store
        .apply_block(&with_removal(block(12, vec![insert(2, 102), insert(1, 0)], &[3, 4]), 1))
        .expect("storage call");
    store.apply_block(&block(13, vec![], &[])).expect("storage call");
    let leaf = |x: u64| Fr::from(x);
    assert_eq!(store.leaves().expect("storage call"), vec![leaf(100), leaf(0), leaf(102)]);
    assert_eq!(
        store.cursor().expect("storage call"),
        Some(ChainCursor { number: 13, hash: [13; 32] })
    );
    let roots: Vec<(u64, Fr, bool)> = store
        .recent_roots(3)
        .expect("storage call")
        .into_iter()
        .map(|r| (r.block, r.root, r.after_removal))
        .collect();
    assert_eq!(
        roots,
        vec![(12, leaf(4), true), (12, leaf(3), false), (10, leaf(2), false)],
        "the root after a removal is marked"
    );

    // Refused changes write nothing.
    assert!(matches!(
        store.apply_block(&block(13, vec![insert(3, 5)], &[9])),
        Err(StorageError::BlockOutOfOrder { cursor: 13, got: 13 })
    ));
    assert!(matches!(
        store.apply_block(&block(14, vec![insert(3, 5), insert(5, 6)], &[9])),
        Err(StorageError::LeafIndexGap { index: 5, size: 4 })
    ));
    assert_eq!(store.leaves().expect("storage call").len(), 3);
    assert_eq!(store.cursor().expect("storage call").map(|c| c.number), Some(13));

    // A reorg back to block 11 undoes block 12's insertion, removal and roots.
    store.rollback_to(11).expect("storage call");
    assert_eq!(store.leaves().expect("storage call"), vec![leaf(100), leaf(101)]);
    assert_eq!(
        store.cursor().expect("storage call"),
        Some(ChainCursor { number: 10, hash: [10; 32] })
    );
    assert_eq!(store.recent_roots(10).expect("storage call").len(), 2);
    store.apply_block(&block(12, vec![insert(2, 202)], &[7])).expect("storage call");
    assert_eq!(store.leaves().expect("storage call"), vec![leaf(100), leaf(101), leaf(202)]);

    // Pruned blocks are final; the cursor survives pruning.
    store.apply_block(&block(20, vec![insert(3, 303)], &[8])).expect("storage call");
    store.prune_below(20).expect("storage call");
    assert_eq!(store.cursor().expect("storage call").map(|c| c.number), Some(20));
    assert!(matches!(store.rollback_to(15), Err(StorageError::RollbackBelowFinal { .. })));
    store.prune_below(25).expect("storage call");
    assert_eq!(
        store.cursor().expect("storage call").map(|c| c.number),
        Some(20),
        "the cursor block stays"
    );

    let empty = store.recent_roots(0).expect("storage call");
    assert!(empty.is_empty());
}

fn rollback_to_before_the_first_block_empties_the_tree(store: &dyn Storage) {
    store
        .apply_block(&block(5, vec![insert(0, 1), insert(1, 2), insert(0, 0)], &[1, 2, 3]))
        .expect("storage call");
    store.rollback_to(4).expect("storage call");
    assert!(store.leaves().expect("storage call").is_empty());
    assert_eq!(store.cursor().expect("storage call"), None);
    assert!(store.recent_roots(5).expect("storage call").is_empty());
}

fn exit_shares_go_with_their_block_and_revealed_slashes_stay(store: &dyn Storage) {
    // A request share the node served, before any block.
    let served = share(9, 90, request());
    store.record_share(&served).expect("storage call");
    let secret = Secret::new(Fr::from(4242u64)).expect("non-zero");
    let slash = PendingSlash {
        identity: secret.commitment(),
        secret,
        nullifier: Fr::from(9u64),
        detected_at: 1_700_000_200,
        status: SlashStatus::Pending,
    };
    // Block 3 carries an exit share of that ticket (and the slash it reveals), and an exit share
    // the store already held (a replay of the block after a crash).
    let exit = share(9, 91, ShareOrigin::Exit { block: 3 });
    let known = share(10, 100, ShareOrigin::Exit { block: 3 });
    store.record_share(&known).expect("storage call");
    let mut with_exits = block(3, vec![insert(0, 1)], &[1]);
    with_exits.shares = vec![exit.clone(), known.clone()];
    with_exits.slashes = vec![slash.clone()];
    store.apply_block(&with_exits).expect("storage call");
    assert_eq!(store.shares(&Fr::from(9u64)).expect("storage call"), vec![served.clone(), exit]);
    assert_eq!(store.slashes().expect("storage call"), vec![slash.clone()]);

    // A slash already stored is not overwritten by a replayed block.
    let mut submitted = slash;
    submitted.status = SlashStatus::Landed { tx_hash: Some([1; 32]) };
    store.put_slash(&submitted).expect("storage call");
    store.rollback_to(2).expect("storage call");
    store.apply_block(&with_exits).expect("storage call");
    assert_eq!(store.slashes().expect("storage call"), vec![submitted.clone()]);

    // The exit is reorged away: its share goes, the shares stored before stay, the slash stays.
    store.rollback_to(2).expect("storage call");
    assert_eq!(store.shares(&Fr::from(9u64)).expect("storage call"), vec![served]);
    assert_eq!(store.shares(&Fr::from(10u64)).expect("storage call"), vec![known]);
    assert_eq!(store.slashes().expect("storage call"), vec![submitted]);
}

fn slashes_are_kept_and_updated(store: &dyn Storage) {
    let secret = Secret::new(Fr::from(777u64)).expect("non-zero");
    let mut slash = PendingSlash {
        identity: secret.commitment(),
        secret,
        nullifier: Fr::from(3u64),
        detected_at: 1_700_000_123,
        status: SlashStatus::Pending,
    };
    assert!(store.insert_slash(&slash).expect("storage call"), "inserted");
    let mut other = slash.clone();
    other.detected_at += 1;
    assert!(!store.insert_slash(&other).expect("storage call"), "one slash per identity");
    assert_eq!(store.slash(&slash.identity).expect("storage call"), Some(slash.clone()));
    assert_eq!(store.slash(&Fr::from(1u64)).expect("storage call"), None);
    // Every status round-trips.
    for status in [
        SlashStatus::Submitted {
            tx_hash: [7; 32],
            nonce: 12,
            max_fee_per_gas: u128::MAX - 1,
            max_priority_fee_per_gas: 1_500_000_000,
            sent_at: 1_700_000_124,
        },
        SlashStatus::Landed { tx_hash: Some([8; 32]) },
        SlashStatus::Landed { tx_hash: None },
        SlashStatus::Done { tx_hash: Some([9; 32]) },
        SlashStatus::Done { tx_hash: None },
        SlashStatus::Failed { reason: "the deposit was swept".into() },
    ] {
        slash.status = status;
        store.put_slash(&slash).expect("storage call");
        assert_eq!(store.slashes().expect("storage call"), vec![slash.clone()]);
        assert_eq!(store.slash(&slash.identity).expect("storage call"), Some(slash.clone()));
    }
    assert!(!format!("{slash:?}").contains("777"), "the secret never shows in Debug");
}

fn concurrent_spends_of_one_ticket_are_classified_once(store: Arc<dyn Storage>) {
    let threads: Vec<_> = (0..8u64)
        .map(|i| {
            let store = store.clone();
            std::thread::spawn(move || {
                store.record_share(&share(77, 1000 + i, request())).expect("storage call")
            })
        })
        .collect();
    let outcomes: Vec<_> = threads.into_iter().map(|t| t.join().expect("thread")).collect();
    assert_eq!(outcomes.iter().filter(|o| **o == ShareOutcome::New).count(), 1);
    assert_eq!(outcomes.iter().filter(|o| matches!(o, ShareOutcome::Conflict(_))).count(), 7);

    let threads: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            std::thread::spawn(move || {
                store.record_share(&share(78, 5, request())).expect("storage call")
            })
        })
        .collect();
    let outcomes: Vec<_> = threads.into_iter().map(|t| t.join().expect("thread")).collect();
    assert_eq!(outcomes.iter().filter(|o| **o == ShareOutcome::New).count(), 1);
    assert_eq!(outcomes.iter().filter(|o| matches!(o, ShareOutcome::Replay(_))).count(), 7);
}

fn rocks() -> (tempfile::TempDir, RocksStorage) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = RocksStorage::open(dir.path(), false).expect("storage call");
    (dir, store)
}

macro_rules! conformance {
    ($name:ident, $make:expr) => {
        mod $name {
            use super::*;

            #[test]
            fn shares() {
                let (_keep, store) = $make;
                shares_are_new_replayed_or_conflicting(&store);
            }

            #[test]
            fn settlements() {
                let (_keep, store) = $make;
                settlements_are_written_once(&store);
            }

            #[test]
            fn pruning() {
                let (_keep, store) = $make;
                old_shares_are_pruned_with_their_settlements(&store);
            }

            #[test]
            fn chain() {
                let (_keep, store) = $make;
                chain_blocks_apply_and_roll_back(&store);
            }

            #[test]
            fn queue() {
                let (_keep, store) = $make;
                queued_deposits_apply_and_roll_back(&store);
            }

            #[test]
            fn chain_rollback_to_empty() {
                let (_keep, store) = $make;
                rollback_to_before_the_first_block_empties_the_tree(&store);
            }

            #[test]
            fn exit_shares() {
                let (_keep, store) = $make;
                exit_shares_go_with_their_block_and_revealed_slashes_stay(&store);
            }

            #[test]
            fn slashes() {
                let (_keep, store) = $make;
                slashes_are_kept_and_updated(&store);
            }

            #[test]
            fn concurrency() {
                let (_keep, store) = $make;
                concurrent_spends_of_one_ticket_are_classified_once(Arc::new(store));
            }
        }
    };
}

conformance!(in_memory, ((), MemoryStorage::new()));
conformance!(on_rocksdb, rocks());

#[test]
fn rocksdb_keeps_everything_across_reopen() {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let store = RocksStorage::open(dir.path(), true).expect("storage call");
        store
            .record_share(&share(1, 10, ShareOrigin::Gossip { peer: "peer".into() }))
            .expect("storage call");
        store.put_settlement(&Fr::from(1u64), b"s").expect("storage call");
        store.apply_block(&block(3, vec![insert(0, 9)], &[9])).expect("storage call");
    }
    let store = RocksStorage::open(dir.path(), false).expect("storage call");
    assert_eq!(
        store.shares(&Fr::from(1u64)).expect("storage call"),
        vec![share(1, 10, ShareOrigin::Gossip { peer: "peer".into() })]
    );
    assert_eq!(
        store.settlement(&Fr::from(1u64)).expect("storage call").as_deref(),
        Some(&b"s"[..])
    );
    assert_eq!(store.leaves().expect("storage call"), vec![Fr::from(9u64)]);
    assert_eq!(store.cursor().expect("storage call").map(|c| c.number), Some(3));
}

#[test]
fn rocksdb_refuses_another_schema_version() {
    let dir = tempfile::tempdir().expect("temp dir");
    drop(RocksStorage::open(dir.path(), false).expect("storage call"));
    {
        let mut options = rocksdb::Options::default();
        options.create_missing_column_families(true);
        let families =
            ["meta", "shares", "settlements", "queue", "leaves", "roots", "blocks", "slashes"];
        let db = rocksdb::DB::open_cf(&options, dir.path(), families).expect("storage call");
        db.put_cf(
            db.cf_handle("meta").expect("storage call"),
            b"schema_version",
            99u32.to_be_bytes(),
        )
        .expect("storage call");
    }
    let error = RocksStorage::open(dir.path(), false).expect_err("refused");
    assert!(
        matches!(error, StorageError::SchemaMismatch { found: 99, expected: SCHEMA_VERSION }),
        "{error}"
    );
    assert!(error.to_string().contains("fresh data directory"));
}
