//! The `request` circuit: a realistic request proves and verifies with public signals equal to
//! what `zkcredits-primitives` computes, and each constraint family refuses a witness that
//! breaks it.

mod common;

use ark_bn254::Fr;
use ark_ff::{AdditiveGroup, Field};
use num_bigint::BigInt;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use zkcredits_primitives::{
    babyjubjub::Scalar,
    constants::{SIGNER_TREE_DEPTH, TREE_DEPTH},
    eddsa::PrivateKey,
    identity::{Secret, leaf},
    merkle::{FixedMerkleTree, LeanImt},
    rln::{payload_digest, request_x, scope},
    state::{StateOpening, commit, state_message},
};
use zkcredits_prover::{
    ProverError, Verifier, WitnessCircuit,
    inputs::{RequestInputs, SpendableState, StateSignature, with_input},
    insecure_dev_setup, prove,
};

fn request_circuit() -> WitnessCircuit {
    common::main_circuit("request")
}

fn signer(i: u8) -> PrivateKey {
    PrivateKey::from_bytes([i + 1; 32])
}

/// A user with a deposit in a 7-leaf tree, spending ticket `index` of a state signed by signer 1
/// (or genesis), with `c_max` per request.
struct Scenario {
    secret: Secret,
    deposit: u128,
    refunded: u128,
    index: u32,
    c_max: u64,
    genesis: bool,
    /// Who signs the state (a key outside the set when not 0..3).
    signed_by: u8,
    /// Whose owner tag the signed state carries.
    state_owner: Secret,
}

impl Scenario {
    fn new() -> Self {
        let secret = Secret::new(Fr::from(0x5eed_u64)).expect("non-zero");
        Self {
            secret,
            deposit: 5_000,
            refunded: 700,
            index: 3,
            c_max: 1_000,
            genesis: false,
            signed_by: 1,
            state_owner: secret,
        }
    }

    fn inputs(&self) -> RequestInputs {
        let expiry = 2_000_000_000;
        let mut tree = LeanImt::new();
        for i in 1..=5u64 {
            tree.insert(Fr::from(i * 7919)).expect("leaf");
        }
        let own = tree.insert(leaf(self.secret.commitment(), self.deposit, expiry)).expect("leaf");
        tree.insert(Fr::from(424_242u64)).expect("leaf");
        let path = tree.proof(own).expect("in tree").circuit_path(TREE_DEPTH).expect("fits");

        let signers: Vec<Fr> = (0..3).map(|i| signer(i).public_key().signer_leaf()).collect();
        let signer_tree = FixedMerkleTree::new(SIGNER_TREE_DEPTH, &signers).expect("fits");
        let opening = StateOpening {
            refunded: self.refunded,
            index: self.index,
            blinding: Scalar::from(77u64),
        };
        let signature = (!self.genesis).then(|| {
            let key = signer(self.signed_by);
            let (signer_siblings, signer_indices) = signer_tree.path(1).expect("in set");
            StateSignature {
                key: key.public_key(),
                signature: key.sign(&state_message(&commit(&self.state_owner, &opening))),
                signer_siblings,
                signer_indices,
            }
        });
        let provider = Fr::from(99u64);
        RequestInputs {
            secret: self.secret,
            deposit: self.deposit,
            expiry,
            root: tree.root(),
            path,
            state: SpendableState { opening, signature },
            eta: Scalar::from(123_456_789u64),
            scope: scope(31337, &[0x42; 20]),
            signer_root: signer_tree.root(),
            c_max: self.c_max,
            now: 1_900_000_000,
            x: request_x(&provider, &payload_digest(b"{\"messages\":[]}"), &Fr::from(5u64)),
        }
    }
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
    let inputs = Scenario::new().inputs();
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
    let scenario = Scenario { genesis: true, refunded: 0, index: 0, ..Scenario::new() };
    circuit
        .calculate(scenario.inputs().circom_inputs(SIGNER_TREE_DEPTH))
        .expect("genesis is valid");
    refuses(
        &mut circuit,
        Scenario { genesis: true, refunded: 0, index: 1, ..Scenario::new() }
            .inputs()
            .circom_inputs(SIGNER_TREE_DEPTH),
        "genesis with n != 0",
    );
    refuses(
        &mut circuit,
        Scenario { genesis: true, refunded: 5, index: 0, ..Scenario::new() }
            .inputs()
            .circom_inputs(SIGNER_TREE_DEPTH),
        "genesis with R != 0",
    );
}

#[test]
fn solvency_holds_exactly_at_the_boundary() {
    let mut circuit = request_circuit();
    // (3 + 1)·1425 = 5700 = D + R.
    let at = Scenario { c_max: 1_425, ..Scenario::new() };
    circuit.calculate(at.inputs().circom_inputs(SIGNER_TREE_DEPTH)).expect("exactly solvent");
    let over = Scenario { c_max: 1_426, ..Scenario::new() };
    refuses(&mut circuit, over.inputs().circom_inputs(SIGNER_TREE_DEPTH), "one unit short");
}

#[test]
fn each_constraint_family_refuses_a_broken_witness() {
    let mut circuit = request_circuit();
    let good = Scenario::new().inputs();
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

    let outsider = Scenario { signed_by: 9, ..Scenario::new() };
    refuses(
        &mut circuit,
        outsider.inputs().circom_inputs(SIGNER_TREE_DEPTH),
        "key outside the signer set",
    );
    let stolen = Scenario {
        state_owner: Secret::new(Fr::from(31u64)).expect("non-zero"),
        ..Scenario::new()
    };
    refuses(&mut circuit, stolen.inputs().circom_inputs(SIGNER_TREE_DEPTH), "another user's state");
}
