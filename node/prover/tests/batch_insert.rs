//! The `batch_insert` circuit: appending queued deposits to the identity tree, and zeroing a
//! condemned leaf after them, proves with the public signals the escrow computes from its own
//! state; skipping, reordering or inventing a deposit, a wrong root or accumulator, a batch
//! past the tree's capacity and a removal that is not the condemned leaf's are refused.

mod common;

use ark_bn254::Fr;
use ark_ff::{AdditiveGroup, Field};
use num_bigint::BigInt;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use zkcredits_primitives::{
    constants::{BATCH_INSERT_SIZE, TREE_DEPTH},
    identity::{accumulate, amount_expiry},
    merkle::{LeanImt, LeanImtProof},
    poseidon::poseidon_n,
};
use zkcredits_prover::{
    ProverError, Verifier, WitnessCircuit, fixtures,
    groth16::fr_to_input,
    inputs::{BatchInsertInputs, CircomInputs, QueuedNote, with_input},
    insecure_dev_setup, prove,
};

fn batch_circuit() -> WitnessCircuit {
    common::main_circuit("batch_insert")
}

fn satisfied(circuit: &mut WitnessCircuit, inputs: &BatchInsertInputs, what: &str) {
    let public = inputs.public_signals().expect("a valid batch");
    let witness = circuit
        .calculate(inputs.circom_inputs().expect("a valid batch"))
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(&witness.values()[1..=public.len()], public.as_slice(), "{what}");
}

fn refused(circuit: &mut WitnessCircuit, inputs: CircomInputs, what: &str) {
    match circuit.calculate(inputs) {
        Err(ProverError::Unsatisfied(_)) => {}
        other => panic!("{what}: expected a refusal, got {other:?}"),
    }
}

fn public(inputs: &BatchInsertInputs, index: usize) -> Fr {
    inputs.public_signals().expect("a valid batch")[index]
}

#[test]
fn a_batch_proves_with_the_escrows_public_signals() {
    let mut circuit = batch_circuit();
    let key = insecure_dev_setup(&circuit, b"batch test").expect("setup");
    let verifier = Verifier::new(&key.vk);
    let inputs = fixtures::batch_insert(5, 3, Some(1));
    let (grown, acc_end) = inputs.outcome().expect("valid");
    let mut expected =
        LeanImt::from_leaves(&(0..8).map(|i| fixtures::queued_note(i).leaf()).collect::<Vec<_>>())
            .expect("small");
    expected.remove(1).expect("in range");
    assert_eq!(grown, expected);
    assert_eq!(
        acc_end,
        (0..8)
            .map(fixtures::queued_note)
            .fold(Fr::ZERO, |acc, n| accumulate(acc, n.identity, n.deposit, n.expiry))
    );
    let (proof, public) = prove(
        &key,
        &mut circuit,
        inputs.circom_inputs().expect("valid"),
        &mut ChaCha20Rng::seed_from_u64(17),
    )
    .expect("a valid batch proves");
    assert_eq!(public, inputs.public_signals().expect("valid"));
    verifier.verify(&public, &proof).expect("verifies");
    assert!(common::snarkjs_accepts("batch_insert", &key.vk, &public, &proof));
    for signal in 0..public.len() {
        let mut tampered = public.clone();
        tampered[signal] += Fr::ONE;
        assert!(verifier.verify(&tampered, &proof).is_err(), "public signal {signal} is bound");
    }
}

#[test]
fn batches_of_every_shape_satisfy_the_circuit() {
    let mut circuit = batch_circuit();
    let full = BATCH_INSERT_SIZE as u64;
    for (before, count, remove) in [
        (0, 0, None),
        (5, 0, None),
        (0, 1, None),
        (0, full, None),
        (1, 1, None),
        (2, 5, None),
        (63, 1, None),
        (63, full, None),
        (64, full, None),
        (100, 37, Some(99)),
        // Only a removal, and a removal of a deposit appended in the same batch.
        (6, 0, Some(5)),
        (1, 0, Some(0)),
        (9, 4, Some(11)),
    ] {
        let inputs = fixtures::batch_insert(before, count, remove);
        satisfied(&mut circuit, &inputs, &format!("{before} + {count}, removing {remove:?}"));
    }
}

#[test]
fn cheating_the_queue_is_refused() {
    let mut circuit = batch_circuit();
    let honest = fixtures::batch_insert(5, 3, None);
    let accepted = honest.circom_inputs().expect("valid");
    let (acc_end, post_root) = (public(&honest, 5), public(&honest, 1));
    // A prover's own notes under the escrow's accumulator and start: the chain must break.
    let forged = |notes: Vec<QueuedNote>| {
        let inputs = BatchInsertInputs { notes, ..honest.clone() };
        with_input(inputs.circom_inputs().expect("shaped"), "accEnd", vec![fr_to_input(&acc_end)])
    };
    let queue: Vec<QueuedNote> = (5..9).map(fixtures::queued_note).collect();
    refused(&mut circuit, forged(vec![queue[0], queue[2], queue[3]]), "a skipped deposit");
    refused(&mut circuit, forged(vec![queue[1], queue[0], queue[2]]), "reordered deposits");
    let mut richer = queue[2];
    richer.deposit += 1;
    refused(&mut circuit, forged(vec![queue[0], queue[1], richer]), "an altered deposit");
    let mut stranger = queue[2];
    stranger.identity = Fr::from(7u64);
    refused(&mut circuit, forged(vec![queue[0], queue[1], stranger]), "an invented identity");
    let mut later = queue[2];
    later.expiry += 1;
    refused(&mut circuit, forged(vec![queue[0], queue[1], later]), "an altered expiry");

    let shifted =
        |name: &str, value: Fr| with_input(accepted.clone(), name, vec![fr_to_input(&value)]);
    refused(&mut circuit, shifted("accStart", Fr::from(3u64)), "a wrong accumulator start");
    refused(&mut circuit, shifted("accEnd", acc_end + Fr::ONE), "a wrong accumulator end");
    refused(&mut circuit, shifted("count", Fr::from(2u64)), "fewer deposits than appended");
    refused(&mut circuit, shifted("count", Fr::from(4u64)), "more deposits than appended");
    refused(&mut circuit, shifted("preRoot", Fr::from(3u64)), "a wrong pre-root");
    refused(&mut circuit, shifted("postRoot", post_root + Fr::ONE), "a wrong post-root");
    refused(&mut circuit, shifted("start", Fr::from(6u64)), "a wrong tree size");
    refused(
        &mut circuit,
        shifted("count", Fr::from(BATCH_INSERT_SIZE as u64 + 1)),
        "more than a batch",
    );
    refused(&mut circuit, shifted("count", -Fr::ONE), "a negative count");

    // The frontier is pinned down by the pre-root.
    let mut frontier = honest.tree.frontier(TREE_DEPTH + 1);
    frontier[0] += Fr::ONE;
    refused(
        &mut circuit,
        with_input(accepted.clone(), "frontier", frontier.iter().map(fr_to_input).collect()),
        "a forged frontier",
    );

    // Amounts beyond the escrow's widths would pack onto another accumulator term.
    let mut wide = queue[0];
    wide.deposit = 1 << 96;
    let inputs = BatchInsertInputs { notes: vec![wide], ..honest.clone() };
    assert!(matches!(inputs.circom_inputs(), Err(ProverError::Batch(_))));
    let inputs = BatchInsertInputs { notes: vec![queue[0]], ..honest.clone() };
    let mut wrapped = inputs.circom_inputs().expect("valid");
    let two40 = BigInt::from(1u64 << 40);
    wrapped = with_input(wrapped, "deposits", {
        let mut d = vec![BigInt::ZERO; BATCH_INSERT_SIZE];
        d[0] = BigInt::from(queue[0].deposit) - 1;
        d
    });
    wrapped = with_input(wrapped, "expiries", {
        let mut e = vec![BigInt::ZERO; BATCH_INSERT_SIZE];
        e[0] = BigInt::from(queue[0].expiry) + two40;
        e
    });
    refused(&mut circuit, wrapped, "an expiry carrying into the deposit");
}

#[test]
fn removals_must_zero_the_condemned_leaf() {
    let mut circuit = batch_circuit();
    let honest = fixtures::batch_insert(6, 2, Some(3));
    let accepted = honest.circom_inputs().expect("valid");
    let set = |inputs: CircomInputs, name: &str, value: Fr| {
        with_input(inputs, name, vec![fr_to_input(&value)])
    };
    let appended_only = fixtures::batch_insert(6, 2, None);
    refused(
        &mut circuit,
        set(accepted.clone(), "postRoot", public(&appended_only, 1)),
        "a removal left out",
    );
    refused(
        &mut circuit,
        set(accepted.clone(), "removedIdentity", fixtures::queued_note(4).identity),
        "another identity's removal",
    );
    let note = fixtures::queued_note(3);
    refused(
        &mut circuit,
        set(accepted, "removedAmountExpiry", amount_expiry(note.deposit + 1, note.expiry)),
        "a removal under another amount",
    );
    // The condemned leaf zeroed at another index: the path does not reach the grown root.
    let elsewhere = BatchInsertInputs { removal: Some((4, note)), ..honest.clone() };
    assert!(matches!(elsewhere.public_signals(), Err(ProverError::Batch(_))));
    let mut wrong_place = honest;
    wrong_place.removal = Some((4, fixtures::queued_note(4)));
    let mut inputs = wrong_place.circom_inputs().expect("a valid removal of 4");
    for (name, value) in [
        ("removedIdentity", note.identity),
        ("removedAmountExpiry", amount_expiry(note.deposit, note.expiry)),
    ] {
        inputs = set(inputs, name, value);
    }
    refused(&mut circuit, inputs, "the condemned note's removal at another leaf");
    // A leaf not yet appended cannot be removed.
    let early = fixtures::batch_insert(6, 2, Some(7));
    let unappended = BatchInsertInputs { notes: early.notes[..1].to_vec(), ..early };
    assert!(matches!(unappended.public_signals(), Err(ProverError::Batch(_))));
}

/// A tree of `size` copies of one leaf, known by its frontier alone: the circuit sees no more.
fn uniform_tree_inputs(size: u64, notes: usize, remove_first: bool) -> CircomInputs {
    let note = fixtures::queued_note(0);
    let levels = TREE_DEPTH + 1;
    let mut complete = vec![note.leaf()];
    for l in 0..levels {
        complete.push(poseidon_n([complete[l], complete[l]]));
    }
    let frontier: Vec<Fr> =
        (0..levels).map(|l| if (size >> l) & 1 == 1 { complete[l] } else { Fr::ZERO }).collect();
    let fold = |size: u64| {
        (0..levels).filter(|l| (size >> l) & 1 == 1).fold(None, |right, l| {
            Some(right.map_or(complete[l], |right| poseidon_n([complete[l], right])))
        })
    };
    let grown = fold(size + notes as u64).unwrap_or(Fr::ZERO);
    let acc_end = (0..notes)
        .fold(Fr::ZERO, |acc, _| accumulate(acc, note.identity, note.deposit, note.expiry));
    let (post, removed, removed_term, depth) = if remove_first {
        // Leaf 0 of a full tree: its siblings are the complete subtrees below the root.
        let proof =
            LeanImtProof { leaf: Fr::ZERO, index: 0, siblings: complete[..TREE_DEPTH].to_vec() };
        (proof.root(), note.identity, amount_expiry(note.deposit, note.expiry), TREE_DEPTH)
    } else {
        (grown, Fr::ZERO, Fr::ZERO, 0)
    };
    let fe = |x: &Fr| fr_to_input(x);
    let column = |v: BigInt| {
        let mut c = vec![v; notes];
        c.resize(BATCH_INSERT_SIZE, BigInt::ZERO);
        c
    };
    let siblings =
        if remove_first { complete[..TREE_DEPTH].to_vec() } else { vec![Fr::ZERO; TREE_DEPTH] };
    [
        ("preRoot", vec![fe(&fold(size).unwrap_or(Fr::ZERO))]),
        ("postRoot", vec![fe(&post)]),
        ("start", vec![BigInt::from(size)]),
        ("count", vec![BigInt::from(notes)]),
        ("accStart", vec![BigInt::ZERO]),
        ("accEnd", vec![fe(&acc_end)]),
        ("removedIdentity", vec![fe(&removed)]),
        ("removedAmountExpiry", vec![fe(&removed_term)]),
        ("identities", column(fe(&note.identity))),
        ("deposits", column(BigInt::from(note.deposit))),
        ("expiries", column(BigInt::from(note.expiry))),
        ("frontier", frontier.iter().map(fe).collect()),
        ("removedDepth", vec![BigInt::from(depth)]),
        ("removedIndices", vec![BigInt::ZERO; TREE_DEPTH]),
        ("removedSiblings", siblings.iter().map(fe).collect()),
    ]
    .into_iter()
    .map(|(name, values)| (name.to_owned(), values))
    .collect()
}

#[test]
fn the_tree_holds_two_to_the_twenty_leaves_and_no_more() {
    let mut circuit = batch_circuit();
    let capacity = 1u64 << TREE_DEPTH;
    circuit.calculate(uniform_tree_inputs(capacity - 1, 1, false)).expect("the last leaf fits");
    circuit.calculate(uniform_tree_inputs(capacity - 3, 3, false)).expect("the last three fit");
    refused(&mut circuit, uniform_tree_inputs(capacity - 1, 2, false), "one leaf past capacity");
    refused(&mut circuit, uniform_tree_inputs(capacity, 1, false), "a leaf into a full tree");
    circuit.calculate(uniform_tree_inputs(capacity, 0, false)).expect("a full tree, unchanged");
    circuit.calculate(uniform_tree_inputs(capacity, 0, true)).expect("a full tree takes removals");
}
