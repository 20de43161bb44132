//! Helpers shared by the anvil tests: a devnet with the escrow deployed by the deploy script,
//! and real proofs under the dev keys the committed verifiers come from.
#![allow(dead_code, unreachable_pub)]

use alloy::primitives::Address;
use ark_bn254::{Bn254, Fr};
use ark_groth16::Proof;
use rand::SeedableRng;
use std::path::PathBuf;
use zkcredits_chain::ExitRequest;
pub use zkcredits_chain::devnet::Devnet;
use zkcredits_primitives::{
    constants::SIGNER_TREE_DEPTH, field::fr_from_be_bytes_mod_order, identity::Secret, rln::scope,
};
use zkcredits_prover::{
    WitnessCircuit, fixtures,
    inputs::{ExitInputs, SlashInputs},
    insecure_dev_setup, prove,
};

pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The seed the committed verifiers' INSECURE dev keys come from.
pub const DEV_SEED: &[u8] = b"zkcredits-dev";

pub fn main_circuit(name: &str) -> WitnessCircuit {
    let build = std::env::var_os("ZKCREDITS_BUILD_DIR")
        .map_or_else(|| workspace().join("build"), PathBuf::from);
    WitnessCircuit::load(&build.join("circuits/main"), name)
        .unwrap_or_else(|e| panic!("{e} (run `make circuits`)"))
}

pub fn address_fr(address: Address) -> Fr {
    fr_from_be_bytes_mod_order(address.as_slice())
}

pub fn secret(k: u64) -> Secret {
    Secret::new(Fr::from(k)).expect("non-zero")
}

/// A fresh anvil with the escrow deployed by the deploy script.
pub fn devnet() -> Devnet {
    let net = Devnet::start(&workspace(), &[]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(net.deployment.chain_id, 31337);
    net
}

/// A real slash proof of `secret` for the devnet's escrow, paying `receiver`.
pub fn prove_slash(devnet: &Devnet, secret: Secret, receiver: Address) -> Proof<Bn254> {
    let mut circuit = main_circuit("slash");
    let key = insecure_dev_setup(&circuit, DEV_SEED).expect("setup");
    let statement = SlashInputs {
        secret,
        receiver: address_fr(receiver),
        scope: scope(31337, &devnet.deployment.escrow.0.0),
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    prove(&key, &mut circuit, statement.circom_inputs(), &mut rng).expect("prove").0
}

/// The exit statement of `secret`'s deposit in this deployment, from the example signed state
/// (R = 1,234, n = 5) signed by the example signer set the deploy script defaults to.
pub fn exit_statement(
    devnet: &Devnet,
    secret: Secret,
    deposit: u128,
    recipient: Address,
) -> ExitInputs {
    let mut exit =
        fixtures::exit_of(secret, deposit, false, scope(31337, &devnet.deployment.escrow.0.0));
    exit.c_max = devnet.deployment.c_max.parse().expect("decimal");
    exit.recipient = recipient.0.0;
    exit
}

/// A real exit proof of `exit` under the dev key, and the request the escrow takes with it.
pub fn prove_exit(exit: &ExitInputs, recipient: Address) -> (ExitRequest, Proof<Bn254>) {
    let mut circuit = main_circuit("exit");
    let key = insecure_dev_setup(&circuit, DEV_SEED).expect("setup");
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let inputs = exit.circom_inputs(SIGNER_TREE_DEPTH).expect("affordable");
    let (proof, signals) = prove(&key, &mut circuit, inputs, &mut rng).expect("prove");
    let request = ExitRequest::from_signals(recipient, &signals).expect("exit signals");
    (request, proof)
}
