//! Groth16 on the real `slash` circuit: dev keys are deterministic, valid proofs verify (one at a
//! time and in batches), and any change to a public signal or the proof is refused.

mod common;

use ark_bn254::Fr;
use ark_ff::One;
use num_bigint::BigInt;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use zkcredits_primitives::identity::Secret;
use zkcredits_prover::{
    ProverError, Verifier, WitnessCircuit, groth16::fr_to_input, insecure_dev_setup, prove,
};

fn slash_circuit() -> WitnessCircuit {
    common::main_circuit("slash")
}

fn slash_inputs(secret: Fr, identity: Fr, receiver: Fr) -> Vec<(String, Vec<BigInt>)> {
    vec![
        ("secret".to_owned(), vec![fr_to_input(&secret)]),
        ("identity".to_owned(), vec![fr_to_input(&identity)]),
        ("receiver".to_owned(), vec![fr_to_input(&receiver)]),
    ]
}

#[test]
fn slash_proofs_verify_and_tampering_is_refused() {
    let mut circuit = slash_circuit();
    let key = insecure_dev_setup(&circuit, b"test seed").expect("setup");
    let verifier = Verifier::new(&key.vk);
    assert_eq!(verifier.public_count(), 2);
    let mut rng = ChaCha20Rng::seed_from_u64(1);

    let k = Secret::new(Fr::from(123_456u64)).expect("non-zero");
    let receiver = Fr::from(0xabcdu64);
    let (proof, public) =
        prove(&key, &mut circuit, slash_inputs(*k.expose(), k.commitment(), receiver), &mut rng)
            .expect("valid witness proves");
    assert_eq!(public, vec![k.commitment(), receiver]);
    verifier.verify(&public, &proof).expect("valid proof verifies");
    assert!(common::snarkjs_accepts("slash", &key.vk, &public, &proof));

    // A proof for receiver X does not verify for receiver Y, and no public signal can change.
    for i in 0..public.len() {
        let mut tampered = public.clone();
        tampered[i] += Fr::one();
        assert!(matches!(verifier.verify(&tampered, &proof), Err(ProverError::InvalidProof)));
    }
    let mut bad_proof = proof.clone();
    bad_proof.a = (bad_proof.a + bad_proof.a).into();
    assert!(matches!(verifier.verify(&public, &bad_proof), Err(ProverError::InvalidProof)));

    assert!(matches!(
        verifier.verify(&public[..1], &proof),
        Err(ProverError::PublicInputCount { expected: 2, got: 1 })
    ));
}

#[test]
fn a_secret_that_does_not_open_the_identity_cannot_be_proven() {
    let mut circuit = slash_circuit();
    let key = insecure_dev_setup(&circuit, b"test seed").expect("setup");
    let k = Secret::new(Fr::from(5u64)).expect("non-zero");
    let other = Secret::new(Fr::from(6u64)).expect("non-zero");
    let result = prove(
        &key,
        &mut circuit,
        slash_inputs(*other.expose(), k.commitment(), Fr::one()),
        &mut ChaCha20Rng::seed_from_u64(2),
    );
    assert!(matches!(result, Err(ProverError::Unsatisfied(_))));
}

#[test]
fn a_misspelt_input_is_named() {
    let mut circuit = slash_circuit();
    let mut inputs = slash_inputs(Fr::one(), Fr::one(), Fr::one());
    inputs[2].0 = "reciever".to_owned();
    assert!(
        matches!(circuit.calculate(inputs), Err(ProverError::UnknownSignal(name)) if name == "reciever")
    );
}

#[test]
fn a_missing_input_is_counted() {
    let mut circuit = slash_circuit();
    let mut inputs = slash_inputs(Fr::one(), Fr::one(), Fr::one());
    inputs.pop();
    match circuit.calculate(inputs) {
        Err(ProverError::Unsatisfied(reason)) => {
            assert!(reason.contains("1 of the circuit's 3 input values are missing"), "{reason}");
        }
        other => panic!("expected a missing input to be reported, got {other:?}"),
    }
    // The calculator is reset per witness: the next complete call succeeds.
    let k = Secret::new(Fr::from(5u64)).expect("non-zero");
    circuit.calculate(slash_inputs(*k.expose(), k.commitment(), Fr::one())).expect("valid");
}

#[test]
fn a_failed_assertion_names_its_template() {
    let mut circuit = slash_circuit();
    let k = Secret::new(Fr::from(5u64)).expect("non-zero");
    match circuit.calculate(slash_inputs(*k.expose(), Fr::from(7u64), Fr::one())) {
        Err(ProverError::Unsatisfied(reason)) => assert!(reason.contains("line"), "{reason}"),
        other => panic!("expected the assertion to fail, got {other:?}"),
    }
}

#[test]
fn dev_setup_is_deterministic_per_seed() {
    let circuit = slash_circuit();
    let a = insecure_dev_setup(&circuit, b"seed").expect("setup");
    let b = insecure_dev_setup(&circuit, b"seed").expect("setup");
    let c = insecure_dev_setup(&circuit, b"other seed").expect("setup");
    assert_eq!(a.vk, b.vk);
    assert_ne!(a.vk, c.vk);
}

#[test]
fn batch_verification_accepts_valid_batches_and_refuses_one_bad_proof() {
    let mut circuit = slash_circuit();
    let key = insecure_dev_setup(&circuit, b"test seed").expect("setup");
    let verifier = Verifier::new(&key.vk);
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let mut batch = Vec::new();
    for i in 1..=4u64 {
        let k = Secret::new(Fr::from(1000 + i)).expect("non-zero");
        let (proof, public) = prove(
            &key,
            &mut circuit,
            slash_inputs(*k.expose(), k.commitment(), Fr::from(i)),
            &mut rng,
        )
        .expect("proves");
        batch.push((public, proof));
    }
    verifier.verify_batch(&batch, &mut rng).expect("valid batch");
    verifier.verify_batch(&[], &mut rng).expect("empty batch");

    batch[2].0[1] += Fr::one();
    assert!(matches!(verifier.verify_batch(&batch, &mut rng), Err(ProverError::InvalidProof)));
    batch[2].0.pop();
    assert!(matches!(
        verifier.verify_batch(&batch, &mut rng),
        Err(ProverError::PublicInputCount { .. })
    ));
}
