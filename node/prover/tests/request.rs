//! The `request` circuit: a realistic request proves and verifies with public signals equal to
//! what `zkcredits-primitives` computes, and each constraint family refuses a witness that
//! breaks it.

mod common;

use ark_bn254::Fr;
use ark_ff::{AdditiveGroup, Field};
use num_bigint::BigInt;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use zkcredits_primitives::{constants::SIGNER_TREE_DEPTH, identity::Secret};
use zkcredits_prover::{
    ProverError, Verifier, WitnessCircuit, fixtures::RequestScenario, inputs::with_input,
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
