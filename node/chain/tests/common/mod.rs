//! Helpers shared by the anvil tests: a devnet with the escrow deployed by the deploy script,
//! and real proofs under the dev keys the committed verifiers come from.
#![allow(dead_code, unreachable_pub)]

use alloy::{
    network::EthereumWallet,
    node_bindings::{Anvil, AnvilInstance},
    primitives::Address,
    providers::{DynProvider, Provider, ProviderBuilder},
    signers::local::PrivateKeySigner,
};
use ark_bn254::{Bn254, Fr};
use ark_groth16::Proof;
use rand::SeedableRng;
use std::{path::PathBuf, process::Command};
use zkcredits_chain::{Deployment, Escrow, ExitRequest, proof::fr_to_u256};
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

pub fn tools_path() -> String {
    let bin = workspace().join("node_modules/.bin");
    format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default())
}

/// Runs the deploy script against `anvil` and reads the deployment file it writes.
pub fn deploy(anvil: &AnvilInstance) -> Deployment {
    let dir = workspace().join("build/deployments");
    std::fs::create_dir_all(&dir).expect("build/deployments is writable");
    let file = dir.join(format!("test-{}.json", anvil.port()));
    let key = format!("0x{}", alloy::hex::encode(anvil.keys()[0].to_bytes()));
    let output = Command::new("forge")
        .current_dir(workspace())
        .env("PATH", tools_path())
        .env("ZKCREDITS_DEPLOYMENT_FILE", &file)
        .args(["script", "script/Deploy.s.sol", "--broadcast", "--rpc-url"])
        .arg(anvil.endpoint())
        .args(["--private-key", &key])
        .output()
        .expect("forge runs (make setup installs it)");
    assert!(
        output.status.success(),
        "deploy failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Deployment::load(&file).expect("the script wrote the deployment")
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

/// A fresh anvil with the escrow deployed by the deploy script, and a wallet of dev account 0.
pub struct Devnet {
    pub anvil: AnvilInstance,
    pub deployment: Deployment,
    pub provider: DynProvider,
    pub escrow: Escrow<DynProvider>,
}

pub fn devnet() -> Devnet {
    let anvil = Anvil::new()
        .path(workspace().join("node_modules/.bin/anvil"))
        .try_spawn()
        .expect("anvil starts (make setup installs it)");
    let deployment = deploy(&anvil);
    assert_eq!(deployment.chain_id, 31337);
    let signer: PrivateKeySigner = anvil.keys()[0].clone().into();
    let provider = ProviderBuilder::new()
        .wallet(EthereumWallet::from(signer))
        .connect_http(anvil.endpoint_url())
        .erased();
    let escrow = Escrow::new(deployment.escrow, provider.clone());
    Devnet { anvil, deployment, provider, escrow }
}

impl Devnet {
    /// The escrow through a new wallet provider: its nonce cache starts from the chain, as
    /// needed after `evm_revert` rewound the account's nonce.
    pub fn reconnect(&self) -> Escrow<DynProvider> {
        let signer: PrivateKeySigner = self.anvil.keys()[0].clone().into();
        let provider = ProviderBuilder::new()
            .wallet(EthereumWallet::from(signer))
            .connect_http(self.anvil.endpoint_url())
            .erased();
        Escrow::new(self.deployment.escrow, provider)
    }
}

impl Drop for Devnet {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(
            workspace().join(format!("build/deployments/test-{}.json", self.anvil.port())),
        );
    }
}

pub fn prove_slash(secret: Secret, receiver: Address) -> Proof<Bn254> {
    let mut circuit = main_circuit("slash");
    let key = insecure_dev_setup(&circuit, DEV_SEED).expect("setup");
    let statement = SlashInputs { secret, receiver: address_fr(receiver) };
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
    let mut exit = fixtures::exit_of(secret, deposit, false);
    exit.scope = scope(31337, &devnet.deployment.escrow.0.0);
    exit.c_max = devnet.deployment.c_max.parse().expect("decimal");
    exit.recipient = recipient.0.0;
    exit
}

/// Mines one block.
pub async fn mine(provider: &DynProvider) {
    provider.raw_request::<_, String>("evm_mine".into(), ()).await.expect("mine");
}

/// A real exit proof of `exit` under the dev key, and the request the escrow takes with it.
pub fn prove_exit(exit: &ExitInputs, recipient: Address) -> (ExitRequest, Proof<Bn254>) {
    let mut circuit = main_circuit("exit");
    let key = insecure_dev_setup(&circuit, DEV_SEED).expect("setup");
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let inputs = exit.circom_inputs(SIGNER_TREE_DEPTH).expect("affordable");
    let (proof, signals) = prove(&key, &mut circuit, inputs, &mut rng).expect("prove");
    let request = ExitRequest {
        identity: signals[1],
        recipient,
        amount: fr_to_u256(&signals[3]),
        nullifier: signals[4],
        y: signals[5],
        signer_root: signals[7],
    };
    (request, proof)
}
