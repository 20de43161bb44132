//! Against a real anvil: deploy with `script/Deploy.s.sol`, deposit, decode reverts, slash with a
//! real Groth16 proof made in Rust, and read the events back.

use alloy::{
    network::EthereumWallet,
    node_bindings::{Anvil, AnvilInstance},
    primitives::{Address, U256},
    providers::{Provider, ProviderBuilder},
    signers::local::PrivateKeySigner,
};
use ark_bn254::Fr;
use rand::SeedableRng;
use std::{path::PathBuf, process::Command};
use zkcredits_chain::{
    ChainError, Deployment, Escrow,
    bindings::CreditEscrow::{CreditEscrowErrors, CreditEscrowEvents},
    events::read_events,
    proof::{fr_to_u256, u256_to_fr},
};
use zkcredits_primitives::{
    field::fr_from_be_bytes_mod_order,
    identity::{Secret, leaf},
    merkle::LeanImt,
    rln::scope,
};
use zkcredits_prover::{WitnessCircuit, inputs::SlashInputs, insecure_dev_setup, prove};

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn tools_path() -> String {
    let bin = workspace().join("node_modules/.bin");
    format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default())
}

/// Runs the deploy script against `anvil` and reads the deployment file it writes.
fn deploy(anvil: &AnvilInstance) -> Deployment {
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

fn slash_circuit() -> WitnessCircuit {
    let build = std::env::var_os("ZKCREDITS_BUILD_DIR")
        .map_or_else(|| workspace().join("build"), PathBuf::from);
    WitnessCircuit::load(&build.join("circuits/main"), "slash")
        .unwrap_or_else(|e| panic!("{e} (run `make circuits`)"))
}

fn address_fr(address: Address) -> Fr {
    fr_from_be_bytes_mod_order(address.as_slice())
}

fn secret(k: u64) -> Secret {
    Secret::new(Fr::from(k)).expect("non-zero")
}

#[tokio::test]
async fn deposit_then_slash_with_a_real_proof() {
    let anvil = Anvil::new()
        .path(workspace().join("node_modules/.bin/anvil"))
        .try_spawn()
        .expect("anvil starts (make setup installs it)");
    let deployment = deploy(&anvil);
    assert_eq!(deployment.chain_id, 31337);

    let signer: PrivateKeySigner = anvil.keys()[0].clone().into();
    let provider = ProviderBuilder::new()
        .wallet(EthereumWallet::from(signer))
        .connect_http(anvil.endpoint_url());
    let escrow = Escrow::new(deployment.escrow, provider.clone());

    // The scope the escrow computes is the one the primitives compute.
    let expected_scope = scope(31337, &deployment.escrow.0.0);
    assert_eq!(escrow.scope().await.expect("scope"), expected_scope);
    assert_eq!(deployment.scope, expected_scope.to_string());

    // Three deposits; the contract's leaves and roots match the primitives' LeanIMT.
    let c_max: U256 = deployment.c_max.parse().expect("decimal");
    let amount = c_max * U256::from(50);
    let users = [secret(11), secret(12), secret(13)];
    let mut tree = LeanImt::new();
    for user in &users {
        let done = escrow.deposit(user.commitment(), amount).await.expect("deposit");
        let expiry = u64::try_from(done.event.expiry).expect("small");
        let expected_leaf = leaf(user.commitment(), amount.to::<u128>(), expiry);
        assert_eq!(done.event.leaf, fr_to_u256(&expected_leaf));
        tree.insert(expected_leaf).expect("fits");
        assert_eq!(done.event.root, fr_to_u256(&tree.root()));
    }
    let (root, size, _) = escrow.tree().await.expect("tree");
    assert_eq!((root, size), (tree.root(), 3));

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
    // generated from, naming a receiver that is not the submitter.
    let receiver = anvil.addresses()[3];
    let mut circuit = slash_circuit();
    let key = insecure_dev_setup(&circuit, b"zkcredits-dev").expect("setup");
    let statement = SlashInputs { secret: users[1], receiver: address_fr(receiver) };
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let (proof, _) = prove(&key, &mut circuit, statement.circom_inputs(), &mut rng).expect("prove");
    let siblings = tree.proof(1).expect("in tree").siblings;

    let before = provider.get_balance(receiver).await.expect("balance");
    let slashed =
        escrow.slash(users[1].commitment(), receiver, &proof, &siblings).await.expect("slash");
    let bounty: U256 = deployment.slash_bounty.parse().expect("decimal");
    assert_eq!(slashed.event.bounty, bounty.min(amount));
    assert_eq!(provider.get_balance(receiver).await.expect("balance") - before, bounty.min(amount));
    tree.remove(1).expect("remove");
    assert_eq!(u256_to_fr(slashed.event.root).expect("field"), tree.root());

    // A replay, even naming another receiver, finds the deposit gone; the proof does not open
    // another identity's deposit.
    let stolen = escrow.slash(users[1].commitment(), anvil.addresses()[0], &proof, &siblings).await;
    assert!(
        matches!(&stolen, Err(ChainError::Reverted(r)) if matches!(r.0, CreditEscrowErrors::DepositNotSlashable(_))),
        "{stolen:?}"
    );
    let other_siblings = tree.proof(0).expect("in tree").siblings;
    let wrong = escrow.slash(users[0].commitment(), receiver, &proof, &other_siblings).await;
    assert!(
        matches!(&wrong, Err(ChainError::Reverted(r)) if matches!(r.0, CreditEscrowErrors::InvalidProof(_))),
        "{wrong:?}"
    );

    // The event reader returns the history in order.
    let head = provider.get_block_number().await.expect("head");
    let events = read_events(&provider, deployment.escrow, deployment.deployment_block, head)
        .await
        .expect("events");
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| match &e.event {
            CreditEscrowEvents::SignerRootSet(_) => "SignerRootSet",
            CreditEscrowEvents::OwnershipTransferred(_) => "OwnershipTransferred",
            CreditEscrowEvents::Deposited(_) => "Deposited",
            CreditEscrowEvents::Slashed(_) => "Slashed",
            _ => "other",
        })
        .collect();
    assert_eq!(
        kinds,
        ["OwnershipTransferred", "SignerRootSet", "Deposited", "Deposited", "Deposited", "Slashed"]
    );
    let _ = std::fs::remove_file(
        workspace().join(format!("build/deployments/test-{}.json", anvil.port())),
    );
}
