//! The follower against a real anvil and a real RocksDB: replay from the deployment block,
//! deposits queued then inserted by a real batch proof, a reorg undone and replaced (queue
//! included), the confirmation depth, exit shares that reveal a reused ticket
//! (and the slash stored with them), a reorged-away exit, and an RPC outage that leaves the
//! store untouched.

mod common;

use alloy::{
    primitives::U256,
    providers::{Provider, ProviderBuilder},
};
use ark_bn254::Fr;
use common::{Devnet, devnet, exit_statement, insert_batch, prove_exit, secret};
use zkcredits_chain::{
    ChainError,
    follower::{Follower, FollowerConfig},
    proof::u256_to_fr,
};
use zkcredits_primitives::{
    babyjubjub::BASE8,
    identity::leaf,
    rln::{Share, payload_digest, request_x},
};
use zkcredits_storage::{
    ChainStore, RocksStorage, ShareOrigin, ShareStore, SlashStatus, SlashStore, StoredShare,
};

fn rocks() -> (tempfile::TempDir, RocksStorage) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = RocksStorage::open(dir.path(), false).expect("open");
    (dir, store)
}

fn follow(net: &Devnet, confirmations: u64) -> FollowerConfig {
    FollowerConfig {
        escrow: net.deployment.escrow,
        start_block: net.deployment.deployment_block,
        confirmations,
        max_range: 1_000,
    }
}

#[tokio::test]
async fn replays_follows_and_undoes_a_reorg() {
    let net = devnet();
    let (_dir, store) = rocks();
    let follower = Follower::new(&net.provider, &store, follow(&net, 0));
    let amount = U256::from(10u64).pow(U256::from(15u64));

    let leaf_of = |k: u64, e: &zkcredits_chain::bindings::CreditEscrow::Deposited| {
        leaf(secret(k).commitment(), e.amount.to::<u128>(), e.expiry.to::<u64>())
    };
    let a = net.escrow.deposit(secret(1).commitment(), amount).await.expect("deposit a").event;
    let report = follower.sync_once().await.expect("sync");
    assert_eq!(report.events, 3, "the deployment's OwnershipTransferred and SignerRootSet, then A");
    assert!(store.leaves().expect("leaves").is_empty(), "A waits in the queue");
    assert_eq!(store.queued(0, 10).expect("queue")[0].identity, secret(1).commitment());
    let batch = insert_batch(&net).await;
    follower.sync_once().await.expect("sync");
    assert_eq!(store.leaves().expect("leaves"), vec![leaf_of(1, &a)]);
    let root = store.recent_roots(1).expect("roots")[0];
    assert_eq!(root.root, u256_to_fr(batch.root).expect("field"));
    assert!(!root.after_removal);
    assert_eq!(follower.sync_once().await.expect("sync").applied_through, None, "up to date");

    // B lands and is inserted, is followed, then the chain reorganizes to a branch where C lands
    // instead, at B's queue position.
    let snapshot: U256 =
        net.provider.raw_request("evm_snapshot".into(), ()).await.expect("snapshot");
    let b = net.escrow.deposit(secret(2).commitment(), amount).await.expect("deposit b").event;
    let b_batch = insert_batch(&net).await;
    follower.sync_once().await.expect("sync");
    assert_eq!(store.leaves().expect("leaves"), vec![leaf_of(1, &a), leaf_of(2, &b)]);
    let reverted: bool =
        net.provider.raw_request("evm_revert".into(), (snapshot,)).await.expect("revert");
    assert!(reverted);
    let c =
        net.escrow_as(0).deposit(secret(3).commitment(), amount).await.expect("deposit c").event;
    assert_eq!(c.leafIndex, b.leafIndex);
    let c_batch = insert_batch(&net).await;
    net.mine().await.expect("mine");
    let report = follower.sync_once().await.expect("sync");
    assert!(report.rolled_back_to.is_some(), "{report:?}");
    assert_eq!(store.leaves().expect("leaves"), vec![leaf_of(1, &a), leaf_of(3, &c)]);
    let queue = store.queued(0, 10).expect("queue");
    assert_eq!(queue.len(), 2);
    assert_eq!(queue[1].identity, secret(3).commitment(), "B's queue entry is gone");
    let roots = store.recent_roots(10).expect("roots");
    assert!(
        roots.iter().all(|r| r.root != u256_to_fr(b_batch.root).expect("field")),
        "B's root is gone"
    );
    assert_eq!(roots[0].root, u256_to_fr(c_batch.root).expect("field"));
}

#[tokio::test]
async fn applies_only_confirmed_blocks() {
    let net = devnet();
    let (_dir, store) = rocks();
    let follower = Follower::new(&net.provider, &store, follow(&net, 2));
    let amount = U256::from(10u64).pow(U256::from(15u64));
    net.escrow.deposit(secret(4).commitment(), amount).await.expect("deposit");
    follower.sync_once().await.expect("sync");
    assert!(store.queued(0, 10).expect("queue").is_empty(), "the deposit is not buried yet");
    net.mine().await.expect("mine");
    net.mine().await.expect("mine");
    let report = follower.sync_once().await.expect("sync");
    assert_eq!(report.events, 3, "the deployment's two events and the deposit");
    assert_eq!(store.queued(0, 10).expect("queue").len(), 1);
}

#[tokio::test]
async fn an_exit_reusing_a_spent_ticket_is_reported() {
    let net = devnet();
    let (_dir, store) = rocks();
    let follower = Follower::new(&net.provider, &store, follow(&net, 0));
    let cheater = secret(5);
    let deposit: u128 = 1_000_000_000_000_000;
    net.escrow.deposit(cheater.commitment(), U256::from(deposit)).await.expect("deposit");
    let recipient = net.anvil.addresses()[4];
    let exit = exit_statement(&net, cheater, deposit, recipient);

    // The node served a request with the ticket the exit later uses.
    let spent = StoredShare {
        share: Share::new(
            &cheater,
            &exit.scope,
            exit.ticket(),
            request_x(&Fr::from(7u64), &payload_digest(b"{}"), &Fr::from(1u64)),
        ),
        received_at: 1,
        origin: ShareOrigin::Request { commitment: BASE8 },
    };
    store.record_share(&spent).expect("record");

    let (request, proof) = prove_exit(&exit, recipient);
    net.escrow.request_exit(&request, &proof).await.expect("request exit");
    let report = follower.sync_once().await.expect("sync");
    assert_eq!(report.exit_conflicts.len(), 1, "{report:?}");
    let conflict = &report.exit_conflicts[0];
    assert_eq!(conflict.identity, cheater.commitment());
    assert_eq!(conflict.others, vec![spent]);
    assert!(matches!(conflict.exit_share.origin, ShareOrigin::Exit { .. }));
    assert_eq!(store.shares(&conflict.exit_share.share.nullifier).expect("shares").len(), 2);
    // The slash is stored with the block that revealed it: no later failure or crash of the
    // node can lose it.
    let slashes = store.slashes().expect("slashes");
    assert_eq!(slashes.len(), 1);
    assert_eq!(slashes[0].identity, cheater.commitment());
    assert_eq!(slashes[0].secret, cheater);
    assert_eq!(slashes[0].status, SlashStatus::Pending);
}

#[tokio::test]
async fn a_reorged_away_exit_leaves_no_share_behind() {
    let net = devnet();
    let (_dir, store) = rocks();
    let follower = Follower::new(&net.provider, &store, follow(&net, 0));
    let user = secret(6);
    let deposit: u128 = 1_000_000_000_000_000;
    net.escrow.deposit(user.commitment(), U256::from(deposit)).await.expect("deposit");
    follower.sync_once().await.expect("sync");
    let recipient = net.anvil.addresses()[4];
    let exit = exit_statement(&net, user, deposit, recipient);
    let (request, proof) = prove_exit(&exit, recipient);

    let snapshot: U256 =
        net.provider.raw_request("evm_snapshot".into(), ()).await.expect("snapshot");
    net.escrow.request_exit(&request, &proof).await.expect("request exit");
    follower.sync_once().await.expect("sync");
    assert_eq!(store.shares(&request.nullifier).expect("shares").len(), 1, "the exit's share");

    // The exit is reorged away: had its share stayed, the owner's honest use of that ticket
    // would later look like a double spend and get them slashed.
    let reverted: bool =
        net.provider.raw_request("evm_revert".into(), (snapshot,)).await.expect("revert");
    assert!(reverted);
    // Nothing of the old branch may be mined again on the new one.
    let () = net
        .provider
        .raw_request("anvil_dropAllTransactions".into(), ())
        .await
        .expect("drop pending transactions");
    net.mine().await.expect("mine");
    net.mine().await.expect("mine");
    assert_eq!(net.escrow.deposit_record(user.commitment()).await.expect("record").status, 1);
    // A step that finds the node's answers inconsistent (logs of the replaced block) ends
    // without writing and is retried, as the node does.
    for attempt in 0.. {
        match follower.sync_once().await {
            Ok(_) => break,
            Err(e) if attempt < 20 => {
                eprintln!("sync retried: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(e) => panic!("the follower never caught up: {e}"),
        }
    }
    let cursor = store.cursor().expect("cursor").expect("a cursor");
    let canonical = net
        .provider
        .get_block_by_number(cursor.number.into())
        .await
        .expect("block")
        .expect("exists")
        .header
        .hash;
    assert_eq!(cursor.hash, canonical.0, "the store follows the new branch");
    assert!(store.shares(&request.nullifier).expect("shares").is_empty());
    assert!(store.slashes().expect("slashes").is_empty());
}

#[tokio::test]
async fn an_rpc_outage_is_an_error_and_changes_nothing() {
    let (_dir, store) = rocks();
    // Nothing listens on port 9 of loopback.
    let provider = ProviderBuilder::new().connect_http("http://127.0.0.1:9".parse().expect("url"));
    let config = FollowerConfig {
        escrow: alloy::primitives::Address::ZERO,
        start_block: 0,
        confirmations: 0,
        max_range: 10,
    };
    let result = Follower::new(&provider, &store, config).sync_once().await;
    assert!(matches!(result, Err(ChainError::Rpc(_))), "{result:?}");
    assert_eq!(store.cursor().expect("cursor"), None);
}
