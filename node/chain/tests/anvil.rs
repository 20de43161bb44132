//! Against a real anvil: deploy with `script/Deploy.s.sol`, deposit, insert the queued deposits
//! with a real `batch_insert` proof, decode reverts, slash with a real Groth16 proof made in
//! Rust, remove the slashed leaf in the next batch, and read the events back.

mod common;

use alloy::{primitives::U256, providers::Provider};
use ark_bn254::Fr;
use common::{
    Devnet, NO_FEE_CEILING, devnet, exit_statement, insert_batch, prove_exit, prove_slash, secret,
};
use zkcredits_chain::{
    ChainError, SlashEffect,
    bindings::CreditEscrow::{CreditEscrowErrors, CreditEscrowEvents},
    events::read_events,
    proof::{fr_to_u256, u256_to_fr},
};
use zkcredits_primitives::identity::accumulate;
use zkcredits_primitives::{
    identity::{Secret, leaf},
    merkle::LeanImt,
    rln::{Share, exit_x, payload_digest, recover_secret, request_x, scope},
};
use zkcredits_prover::inputs::ExitInputs;

#[tokio::test]
async fn deposit_then_slash_with_a_real_proof() {
    let net = devnet();
    let Devnet { anvil, deployment, provider, escrow, .. } = &net;

    // The scope the escrow computes is the one the primitives compute.
    let expected_scope = scope(31337, &deployment.escrow.0.0);
    assert_eq!(escrow.scope().await.expect("scope"), expected_scope);
    assert_eq!(deployment.scope, expected_scope.to_string());

    // Three deposits queue behind the accumulator the primitives compute; one batch appends
    // their leaves, and the escrow's root is the primitives' LeanIMT's.
    let c_max: U256 = deployment.c_max.parse().expect("decimal");
    let amount = c_max * U256::from(50);
    let users = [secret(11), secret(12), secret(13)];
    let mut tree = LeanImt::new();
    let mut acc = Fr::from(0u64);
    for (position, user) in users.iter().enumerate() {
        let done = escrow.deposit(user.commitment(), amount).await.expect("deposit");
        assert_eq!(done.event.leafIndex, U256::from(position));
        let expiry = u64::try_from(done.event.expiry).expect("small");
        tree.insert(leaf(user.commitment(), amount.to::<u128>(), expiry)).expect("fits");
        acc = accumulate(acc, user.commitment(), amount.to::<u128>(), expiry);
        let waiting = escrow.accumulator_at(position as u64 + 1).await.expect("accumulator");
        assert_eq!(waiting, acc);
    }
    assert_eq!(escrow.tree().await.expect("tree"), (Fr::from(0u64), 0, 3), "queued, not inserted");
    let batch = insert_batch(&net).await;
    assert_eq!((batch.start, batch.count), (U256::ZERO, U256::from(3)));
    assert_eq!(batch.root, fr_to_u256(&tree.root()));
    assert_eq!(escrow.tree().await.expect("tree"), (tree.root(), 3, 3));

    // A revert comes back as the escrow's typed error, and nothing is sent.
    let again = escrow.deposit(users[0].commitment(), amount).await;
    match again {
        Err(ChainError::Reverted(revert)) => {
            assert!(matches!(revert.0, CreditEscrowErrors::IdentityAlreadyDeposited(_)));
            assert!(revert.to_string().contains("IdentityAlreadyDeposited"), "{revert}");
        }
        other => panic!("expected a decoded revert, got {other:?}"),
    }

    // Slash the middle deposit with a proof made now, under the dev key the verifier was
    // generated from, naming a receiver that is not the submitter. No siblings: the slash
    // cannot be made stale by anything that lands before it.
    let receiver = anvil.addresses()[3];
    let proof = prove_slash(&net, users[1], receiver);

    let before = provider.get_balance(receiver).await.expect("balance");
    let slashed = escrow.slash(users[1].commitment(), receiver, &proof).await.expect("slash");
    let bounty: U256 = deployment.slash_bounty.parse().expect("decimal");
    let SlashEffect::Slashed(event) = &slashed.event else { panic!("{:?}", slashed.event) };
    assert_eq!(event.bounty, bounty.min(amount));
    assert_eq!(provider.get_balance(receiver).await.expect("balance") - before, bounty.min(amount));
    assert_eq!(escrow.pending_removals().await.expect("view"), 1);

    // Deposits go on meanwhile; the next batch appends the new one and zeroes the slashed leaf.
    let late = escrow.deposit(secret(14).commitment(), amount).await.expect("deposit");
    let expiry = u64::try_from(late.event.expiry).expect("small");
    tree.insert(leaf(secret(14).commitment(), amount.to::<u128>(), expiry)).expect("fits");
    tree.remove(1).expect("remove");
    let removed = insert_batch(&net).await;
    assert_eq!(u256_to_fr(removed.removedIdentity).expect("field"), users[1].commitment());
    assert_eq!(removed.removedIndex, U256::from(1));
    assert_eq!(u256_to_fr(removed.root).expect("field"), tree.root());
    assert_eq!(escrow.pending_removals().await.expect("view"), 0);
    // A batch proven from a tree that moved on reverts before the pairing.
    let stale = escrow
        .insert_batch(3, 1, tree.root(), Fr::from(0u64), tree.root(), &proof, NO_FEE_CEILING)
        .await;
    assert!(
        matches!(&stale, Err(ChainError::Reverted(r)) if matches!(r.0, CreditEscrowErrors::StaleBatch(_))),
        "{stale:?}"
    );
    // So does one proven from another root (a removal-only batch landed), and one proven with
    // the removal another batch already made.
    let (_, size, _) = escrow.tree().await.expect("tree");
    let zero = Fr::from(0u64);
    let stale = escrow
        .insert_batch(size, 0, zero, users[1].commitment(), zero, &proof, NO_FEE_CEILING)
        .await;
    assert!(
        matches!(&stale, Err(ChainError::Reverted(r))
            if matches!(&r.0, CreditEscrowErrors::StaleRoot(e) if e.root == fr_to_u256(&tree.root()))),
        "{stale:?}"
    );
    let stale = escrow
        .insert_batch(
            size,
            0,
            tree.root(),
            users[1].commitment(),
            tree.root(),
            &proof,
            NO_FEE_CEILING,
        )
        .await;
    assert!(
        matches!(&stale, Err(ChainError::Reverted(r))
            if matches!(&r.0, CreditEscrowErrors::StaleRemoval(e) if e.due.is_zero())),
        "{stale:?}"
    );

    // A replay, even naming another receiver, finds the deposit gone; the proof does not open
    // another identity's deposit.
    let stolen = escrow.slash(users[1].commitment(), anvil.addresses()[0], &proof).await;
    assert!(
        matches!(&stolen, Err(ChainError::Reverted(r)) if matches!(r.0, CreditEscrowErrors::DepositNotSlashable(_))),
        "{stolen:?}"
    );
    let wrong = escrow.slash(users[0].commitment(), receiver, &proof).await;
    assert!(
        matches!(&wrong, Err(ChainError::Reverted(r)) if matches!(r.0, CreditEscrowErrors::InvalidProof(_))),
        "{wrong:?}"
    );

    // The event reader returns the history in order.
    let head = provider.get_block_number().await.expect("head");
    let events = read_events(provider, deployment.escrow, deployment.deployment_block, head)
        .await
        .expect("events");
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| match &e.event {
            CreditEscrowEvents::SignerRootSet(_) => "SignerRootSet",
            CreditEscrowEvents::OwnershipTransferred(_) => "OwnershipTransferred",
            CreditEscrowEvents::Deposited(_) => "Deposited",
            CreditEscrowEvents::Slashed(_) => "Slashed",
            CreditEscrowEvents::BatchInserted(_) => "BatchInserted",
            _ => "other",
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "OwnershipTransferred",
            "SignerRootSet",
            "Deposited",
            "Deposited",
            "Deposited",
            "BatchInserted",
            "Slashed",
            "Deposited",
            "BatchInserted"
        ]
    );
}

#[tokio::test]
async fn exits_finalize_and_a_reused_exit_ticket_is_slashed_from_the_event_share() {
    let net = devnet();
    let (provider, escrow) = (&net.provider, &net.escrow);
    let deposit: u128 = 1_000_000_000_000_000;
    let (honest, cheater) = (secret(21), secret(22));
    for user in [honest, cheater] {
        escrow.deposit(user.commitment(), U256::from(deposit)).await.expect("deposit");
    }
    let recipient = net.anvil.addresses()[5];
    let request = |exit: &ExitInputs| prove_exit(exit, recipient);

    // An honest exit pays D + R − n·C_MAX after EXIT_DELAY; the rest goes to the treasury.
    let honest_exit = exit_statement(&net, honest, deposit, recipient);
    let (exit_request, proof) = request(&honest_exit);
    let requested = escrow.request_exit(&exit_request, &proof).await.expect("request exit");
    let amount = U256::from(honest_exit.amount().expect("affordable"));
    assert_eq!(requested.event.amount, amount);
    let early = escrow.finalize_exit(honest.commitment()).await;
    assert!(
        matches!(&early, Err(ChainError::Reverted(r)) if matches!(r.0, CreditEscrowErrors::ExitDelayNotElapsed(_))),
        "{early:?}"
    );
    let delay = net.deployment.exit_delay;
    provider.raw_request::<_, i64>("evm_increaseTime".into(), (delay,)).await.expect("time");
    net.mine().await.expect("mine");
    let before = provider.get_balance(recipient).await.expect("balance");
    let finalized = escrow.finalize_exit(honest.commitment()).await.expect("finalize");
    assert_eq!(finalized.event.amount, amount);
    assert_eq!(finalized.event.toTreasury, U256::from(deposit) - amount);
    assert_eq!(provider.get_balance(recipient).await.expect("balance") - before, amount);

    // An exited leaf stays in the tree; a proof of its secret condemns it, paying nothing, so a
    // node that would still serve the exited ticket stops accepting roots that hold it.
    let observer = net.anvil.addresses()[7];
    let before = provider.get_balance(observer).await.expect("balance");
    let condemned = escrow
        .slash(honest.commitment(), observer, &prove_slash(&net, honest, observer))
        .await
        .expect("condemn");
    assert!(matches!(condemned.event, SlashEffect::LeafCondemned(_)), "{:?}", condemned.event);
    assert_eq!(provider.get_balance(observer).await.expect("balance"), before);
    let record = escrow.deposit_record(honest.commitment()).await.expect("record");
    assert_eq!((record.status, record.leaf), (3, 1), "Exited, leaf Condemned");
    // Its deposit was never inserted: the batch that appends it zeroes it at once.
    let batch = insert_batch(&net).await;
    assert_eq!(u256_to_fr(batch.removedIdentity).expect("field"), honest.commitment());
    let record = escrow.deposit_record(honest.commitment()).await.expect("record");
    assert_eq!((record.status, record.leaf), (3, 2), "Exited, leaf Removed");

    // The cheater exits with ticket 5, which it had already spent on a request. A node holding
    // that request's share recovers k from the ExitRequested event and slashes within the delay.
    let cheater_exit = exit_statement(&net, cheater, deposit, recipient);
    let (exit_request, proof) = request(&cheater_exit);
    let requested = escrow.request_exit(&exit_request, &proof).await.expect("request exit");
    let spent_share = Share::new(
        &cheater,
        &cheater_exit.scope,
        cheater_exit.ticket(),
        request_x(&Fr::from(99u64), &payload_digest(b"{}"), &Fr::from(3u64)),
    );
    let event = &requested.event;
    let exit_share = Share {
        nullifier: u256_to_fr(event.nullifier).expect("field"),
        x: exit_x(&event.recipient.0.0, event.amount.to::<u128>()),
        y: u256_to_fr(event.y).expect("field"),
    };
    let recovered = recover_secret(&spent_share, &exit_share).expect("one ticket, two x");
    let recovered = Secret::new(recovered).expect("non-zero");
    assert_eq!(recovered.commitment(), cheater.commitment());
    let slasher = net.anvil.addresses()[6];
    escrow
        .slash(cheater.commitment(), slasher, &prove_slash(&net, recovered, slasher))
        .await
        .expect("slash");
    let record = escrow.deposit_record(cheater.commitment()).await.expect("record");
    assert_eq!(record.status, 4, "Slashed");
    provider.raw_request::<_, i64>("evm_increaseTime".into(), (delay,)).await.expect("time");
    net.mine().await.expect("mine");
    let cancelled = escrow.finalize_exit(cheater.commitment()).await;
    assert!(
        matches!(&cancelled, Err(ChainError::Reverted(r)) if matches!(r.0, CreditEscrowErrors::NoPendingExit(_))),
        "{cancelled:?}"
    );
}
