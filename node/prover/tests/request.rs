//! The `request` circuit: a realistic request proves and verifies with public signals equal to
//! what `zkcredits-primitives` computes, and each constraint family refuses a witness that
//! breaks it.

mod common;

use ark_bn254::Fr;
use ark_ff::{AdditiveGroup, Field};
use num_bigint::BigInt;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use zkcredits_primitives::babyjubjub::Scalar;
use zkcredits_primitives::{constants::SIGNER_TREE_DEPTH, identity::Secret};
use zkcredits_prover::{
    KeyFile, ProofCache, ProverError, Verifier, WitnessCircuit,
    fixtures::RequestScenario,
    inputs::{RequestInputs, with_input},
    insecure_dev_setup, prove,
};

fn request_circuit() -> WitnessCircuit {
    common::main_circuit("request")
}

fn refuses(circuit: &mut WitnessCircuit, inputs: Vec<(String, Vec<BigInt>)>, what: &str) {
    match circuit.calculate(inputs) {
        Err(ProverError::Unsatisfied(_)) => {}
        other => panic!("{what}: expected the circuit to refuse, got {other:?}"),
    }
}

fn big(x: Fr) -> BigInt {
    zkcredits_prover::groth16::fr_to_input(&x)
}

#[test]
fn a_signed_request_proves_with_the_primitives_public_signals() {
    let mut circuit = request_circuit();
    let inputs = RequestScenario::default().inputs();
    let key = insecure_dev_setup(&circuit, b"request test").expect("setup");
    let (proof, public) = prove(
        &key,
        &mut circuit,
        inputs.circom_inputs(SIGNER_TREE_DEPTH),
        &mut ChaCha20Rng::seed_from_u64(9),
    )
    .expect("valid request proves");
    assert_eq!(public, inputs.public_signals());
    let verifier = Verifier::new(&key.vk);
    verifier.verify(&public, &proof).expect("verifies");
    assert!(common::snarkjs_accepts("request", &key.vk, &public, &proof));
    for i in 0..public.len() {
        let mut tampered = public.clone();
        tampered[i] += Fr::ONE;
        assert!(verifier.verify(&tampered, &proof).is_err(), "public signal {i} is bound");
    }
}

#[test]
fn genesis_spends_ticket_zero_without_a_signature() {
    let mut circuit = request_circuit();
    let scenario =
        RequestScenario { genesis: true, refunded: 0, index: 0, ..RequestScenario::default() };
    circuit
        .calculate(scenario.inputs().circom_inputs(SIGNER_TREE_DEPTH))
        .expect("genesis is valid");
    refuses(
        &mut circuit,
        RequestScenario { genesis: true, refunded: 0, index: 1, ..RequestScenario::default() }
            .inputs()
            .circom_inputs(SIGNER_TREE_DEPTH),
        "genesis with n != 0",
    );
    refuses(
        &mut circuit,
        RequestScenario { genesis: true, refunded: 5, index: 0, ..RequestScenario::default() }
            .inputs()
            .circom_inputs(SIGNER_TREE_DEPTH),
        "genesis with R != 0",
    );
}

#[test]
fn solvency_holds_exactly_at_the_boundary() {
    let mut circuit = request_circuit();
    // (3 + 1)·1425 = 5700 = D + R.
    let at = RequestScenario { c_max: 1_425, ..RequestScenario::default() };
    circuit.calculate(at.inputs().circom_inputs(SIGNER_TREE_DEPTH)).expect("exactly solvent");
    let over = RequestScenario { c_max: 1_426, ..RequestScenario::default() };
    refuses(&mut circuit, over.inputs().circom_inputs(SIGNER_TREE_DEPTH), "one unit short");
}

#[test]
fn each_constraint_family_refuses_a_broken_witness() {
    let mut circuit = request_circuit();
    let good = RequestScenario::default().inputs();
    let base = good.circom_inputs(SIGNER_TREE_DEPTH);
    circuit.calculate(base.clone()).expect("the base witness is valid");

    let mut siblings = good.path.siblings.iter().map(|s| big(*s)).collect::<Vec<_>>();
    siblings[0] += 1;
    refuses(&mut circuit, with_input(base.clone(), "treeSiblings", siblings), "wrong path");
    refuses(
        &mut circuit,
        with_input(base.clone(), "deposit", vec![BigInt::from(good.deposit + 1)]),
        "wrong D",
    );
    refuses(
        &mut circuit,
        with_input(base.clone(), "now", vec![BigInt::from(good.expiry)]),
        "expired note",
    );
    refuses(&mut circuit, with_input(base.clone(), "x", vec![BigInt::from(0)]), "x = 0");
    refuses(
        &mut circuit,
        with_input(base.clone(), "nullifier", vec![big(good.public_signals()[8] + Fr::ONE)]),
        "nullifier",
    );
    refuses(
        &mut circuit,
        with_input(base.clone(), "y", vec![big(good.public_signals()[9] + Fr::ONE)]),
        "share",
    );
    refuses(
        &mut circuit,
        with_input(base.clone(), "anonCommitment", vec![big(Fr::ZERO), big(Fr::ONE)]),
        "rerandomization",
    );
    let minus_one = big(-Fr::ONE);
    refuses(
        &mut circuit,
        with_input(base.clone(), "refunded", vec![minus_one]),
        "R wrapping the field",
    );
    refuses(
        &mut circuit,
        with_input(base.clone(), "cMax", vec![BigInt::from(1u128 << 64)]),
        "C_MAX of 2^64",
    );
    refuses(&mut circuit, with_input(base, "signerRoot", vec![big(Fr::from(3u64))]), "signer root");

    let outsider = RequestScenario { signed_by: 9, ..RequestScenario::default() };
    refuses(
        &mut circuit,
        outsider.inputs().circom_inputs(SIGNER_TREE_DEPTH),
        "key outside the signer set",
    );
    let stolen = RequestScenario {
        state_owner: Secret::new(Fr::from(31u64)).expect("non-zero"),
        ..RequestScenario::default()
    };
    refuses(&mut circuit, stolen.inputs().circom_inputs(SIGNER_TREE_DEPTH), "another user's state");
}

/// The note's next request on the same state: another time, message and rerandomization.
fn another_request(mut inputs: RequestInputs, i: u64) -> RequestInputs {
    inputs.now += 60 * i;
    inputs.x += Fr::from(i);
    inputs.eta = Scalar::from(1_000 + i);
    inputs
}

#[test]
fn a_proof_reusing_the_last_ones_sums_is_the_full_proof_bit_for_bit() {
    let mut circuit = request_circuit();
    let key = KeyFile::Dev(insecure_dev_setup(&circuit, b"request test").expect("setup"));
    let mut cache = ProofCache::new();
    let wires = circuit.num_wires() - 1;
    let mut check = |key: &KeyFile, cache: &mut ProofCache, inputs: &RequestInputs, seed| {
        same_proof_cached_and_full(key, &mut circuit, cache, inputs, seed)
    };

    let first = RequestScenario::default().inputs();
    assert_eq!(check(&key, &mut cache, &first, 1), wires, "nothing to reuse yet");
    // The same note and state, another request: only the request's own wires are summed.
    let summed = check(&key, &mut cache, &another_request(first.clone(), 1), 2);
    assert!(summed > 0 && 2 * summed < wires, "{summed} of {wires} wires summed");
    // The next ticket, a new signed state on the same tree path: more changes, still reused.
    let next = RequestScenario { index: 4, refunded: 1_500, ..RequestScenario::default() };
    let summed = check(&key, &mut cache, &another_request(next.inputs(), 2), 3);
    assert!(summed > 0 && 2 * summed < wires, "{summed} of {wires} wires summed");
    // The same statement again: nothing changed, nothing summed.
    assert_eq!(check(&key, &mut cache, &another_request(next.inputs(), 2), 4), 0);
    // Another user's note shares too little: summed in full, and the proof is still right.
    let other = RequestScenario {
        secret: Secret::new(Fr::from(0xbeef_u64)).expect("non-zero"),
        state_owner: Secret::new(Fr::from(0xbeef_u64)).expect("non-zero"),
        ..RequestScenario::default()
    };
    assert_eq!(check(&key, &mut cache, &other.inputs(), 5), wires);
    // A cache of another key is not used: the proof is the other key's full proof.
    let other_key =
        KeyFile::Dev(insecure_dev_setup(&request_circuit(), b"another key").expect("setup"));
    let summed = check(&other_key, &mut cache, &another_request(other.inputs(), 3), 6);
    assert_eq!(summed, wires, "nothing reused across keys");
    // A statement that fails leaves the cache as it was: the next proof still reuses it.
    let mut broken = another_request(other.inputs(), 4).circom_inputs(SIGNER_TREE_DEPTH);
    let root = broken.iter_mut().find(|(name, _)| name == "root").expect("root input");
    root.1[0] += 1;
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    assert!(other_key.prove_cached(&mut circuit, broken, &mut rng, &mut cache).is_err());
    let summed = same_proof_cached_and_full(
        &other_key,
        &mut circuit,
        &mut cache,
        &another_request(other.inputs(), 4),
        8,
    );
    assert!(summed > 0 && 2 * summed < wires, "{summed} of {wires} wires summed");
}

/// Proves `inputs` through `cache` and in full with the same randomness, checks that the two
/// proofs are the same and verify, and returns how many wires the cached proof summed over
/// (all: nothing reused).
fn same_proof_cached_and_full(
    key: &KeyFile,
    circuit: &mut WitnessCircuit,
    cache: &mut ProofCache,
    inputs: &RequestInputs,
    seed: u64,
) -> usize {
    let inputs = inputs.circom_inputs(SIGNER_TREE_DEPTH);
    let rng = || ChaCha20Rng::seed_from_u64(seed);
    let cached = key.prove_cached(circuit, inputs.clone(), &mut rng(), cache).expect("proves");
    let full = key.prove(circuit, inputs, &mut rng()).expect("proves");
    assert_eq!(cached, full, "the cached path makes the full path's proof");
    Verifier::new(&key.proving_key().vk).verify(&cached.1, &cached.0).expect("verifies");
    cache.last_summed()
}
