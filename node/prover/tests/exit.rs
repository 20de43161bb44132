//! The `exit` circuit: an exit proves and verifies with the primitives' public signals, an
//! unsettled last request is charged at `C_MAX`, and the exit share with an earlier share of
//! the same ticket reveals `k`.

mod common;

use ark_bn254::Fr;
use ark_ff::Field;
use num_bigint::BigInt;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use zkcredits_primitives::{
    constants::SIGNER_TREE_DEPTH,
    rln::{Share, exit_x, recover_secret},
};
use zkcredits_prover::{
    ProverError, Verifier, WitnessCircuit, fixtures,
    groth16::fr_to_input,
    inputs::{ExitInputs, with_input},
    insecure_dev_setup, prove,
};

fn exit_circuit() -> WitnessCircuit {
    common::main_circuit("exit")
}

#[test]
fn an_exit_proves_with_the_primitives_public_signals() {
    let mut circuit = exit_circuit();
    let key = insecure_dev_setup(&circuit, b"exit test").expect("setup");
    let verifier = Verifier::new(&key.vk);
    for unsettled in [false, true] {
        let inputs = fixtures::exit(unsettled);
        // 10,000 + 1,234 − w·1,000 with w = 5 or 6.
        assert_eq!(inputs.amount(), Some(if unsettled { 5_234 } else { 6_234 }));
        let (proof, public) = prove(
            &key,
            &mut circuit,
            inputs.circom_inputs(SIGNER_TREE_DEPTH).expect("covered"),
            &mut ChaCha20Rng::seed_from_u64(4),
        )
        .expect("valid exit proves");
        assert_eq!(Some(public.clone()), inputs.public_signals());
        verifier.verify(&public, &proof).expect("verifies");
        assert!(common::snarkjs_accepts("exit", &key.vk, &public, &proof));
        let mut tampered = public;
        tampered[3] += Fr::ONE;
        assert!(verifier.verify(&tampered, &proof).is_err(), "the amount is bound");
        assert!(!common::snarkjs_accepts("exit-tampered", &key.vk, &tampered, &proof));
    }
}

#[test]
fn broken_exits_are_refused() {
    let mut circuit = exit_circuit();
    let inputs = fixtures::exit(false);
    let base = inputs.circom_inputs(SIGNER_TREE_DEPTH).expect("covered");
    let refuses = |circuit: &mut WitnessCircuit, inputs, what: &str| match circuit.calculate(inputs)
    {
        Err(ProverError::Unsatisfied(_)) => {}
        other => panic!("{what}: expected a refusal, got {other:?}"),
    };
    refuses(&mut circuit, with_input(base.clone(), "unsettled", vec![BigInt::from(2)]), "p = 2");
    refuses(
        &mut circuit,
        with_input(base.clone(), "amount", vec![BigInt::from(6_235)]),
        "amount above what is left",
    );
    refuses(
        &mut circuit,
        with_input(base.clone(), "identity", vec![fr_to_input(&Fr::from(7u64))]),
        "someone else's ID",
    );
    refuses(
        &mut circuit,
        with_input(base, "recipient", vec![BigInt::from(1) << 160]),
        "recipient wider than an address",
    );

    let overdrawn = ExitInputs { c_max: 3_000, ..fixtures::exit(false) };
    assert_eq!(overdrawn.amount(), None, "5·3,000 exceeds D + R");
    assert!(overdrawn.circom_inputs(SIGNER_TREE_DEPTH).is_none());
}

#[test]
fn an_exit_reusing_a_spent_ticket_reveals_the_secret() {
    let inputs = fixtures::exit(false);
    let public = inputs.public_signals().expect("covered");
    // The exit's share as the escrow publishes it: nullifier and y are public signals.
    let exit_share =
        Share { nullifier: public[4], x: exit_x(&inputs.recipient, 6_234), y: public[5] };
    let request_share = Share::new(&inputs.secret, &inputs.scope, 5, Fr::from(777u64));
    assert_eq!(recover_secret(&exit_share, &request_share), Ok(*inputs.secret.expose()));
}
