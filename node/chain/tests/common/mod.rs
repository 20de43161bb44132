//! Helpers shared by the anvil tests: a devnet with the escrow deployed by the deploy script,
//! and real proofs under the dev keys the committed verifiers come from.
#![allow(dead_code, unreachable_pub)]

use alloy::primitives::Address;
use ark_bn254::{Bn254, Fr};
use ark_groth16::Proof;
use rand::SeedableRng;
use std::path::PathBuf;
pub use zkcredits_chain::devnet::Devnet;
use zkcredits_chain::{
    ExitRequest,
    bindings::CreditEscrow::{BatchInserted, CreditEscrowEvents},
    events::read_events,
    follower::{batch_change, queued_deposit},
};
use zkcredits_primitives::{
    constants::{BATCH_INSERT_SIZE, SIGNER_TREE_DEPTH},
    field::fr_from_be_bytes_mod_order,
    identity::Secret,
    merkle::LeanImt,
    rln::scope,
};
use zkcredits_prover::{
    KeyFile, WitnessCircuit, fixtures,
    inputs::{BatchInsertInputs, ExitInputs, QueuedNote, SlashInputs},
    insecure_dev_setup, prove,
};
use zkcredits_storage::QueuedDeposit;

pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The seed the committed verifiers' INSECURE dev keys come from.
pub const DEV_SEED: &[u8] = b"zkcredits-dev";

fn build() -> PathBuf {
    std::env::var_os("ZKCREDITS_BUILD_DIR").map_or_else(|| workspace().join("build"), PathBuf::from)
}

pub fn main_circuit(name: &str) -> WitnessCircuit {
    WitnessCircuit::load(&build().join("circuits/main"), name)
        .unwrap_or_else(|e| panic!("{e} (run `make circuits`)"))
}

/// The escrow's tree and queue as its events tell them: the leaves, and every queued deposit by
/// position.
pub async fn chain_tree(devnet: &Devnet) -> (Vec<Fr>, Vec<QueuedDeposit>) {
    use alloy::providers::Provider;
    let head = devnet.provider.get_block_number().await.expect("head");
    let (mut leaves, mut queue) = (Vec::new(), Vec::new());
    let logs =
        read_events(&devnet.provider, devnet.deployment.escrow, 0, head).await.expect("logs");
    for log in logs {
        match &log.event {
            CreditEscrowEvents::Deposited(e) => queue.push(queued_deposit(e).expect("deposit")),
            CreditEscrowEvents::BatchInserted(e) => {
                for update in batch_change(e, &queue).expect("batch").0 {
                    let index = update.index as usize;
                    if index >= leaves.len() {
                        leaves.resize(index + 1, Fr::from(0u64));
                    }
                    leaves[index] = update.leaf;
                }
            }
            _ => {}
        }
    }
    (leaves, queue)
}

/// The dev account the tests' updater sends batches from.
pub const UPDATER_ACCOUNT: usize = 9;

/// Inserts the next batch (at most 64 queued deposits, and the removal due) with a real
/// `batch_insert` proof under the dev key `make keys` wrote, as an updater does (from its own
/// account, through a fresh provider: a reorg may have taken back its nonces).
pub async fn insert_batch(devnet: &Devnet) -> BatchInserted {
    let escrow = &devnet.escrow;
    let (leaves, queue) = chain_tree(devnet).await;
    let (_, size, queued) = escrow.tree().await.expect("tree");
    let count = (queued - size).min(BATCH_INSERT_SIZE as u64);
    let notes: Vec<QueuedNote> = queue[size as usize..(size + count) as usize]
        .iter()
        .map(|d| QueuedNote { identity: d.identity, deposit: d.amount, expiry: d.expiry })
        .collect();
    let head = escrow.next_removal().await.expect("head");
    let removal = if head == Fr::from(0u64) {
        None
    } else {
        let record = escrow.deposit_record(head).await.expect("record");
        let index = u64::from(record.leafIndex);
        (index < size + count).then(|| {
            let note = QueuedNote {
                identity: head,
                deposit: record.amount.to::<u128>(),
                expiry: record.expiry.to::<u64>(),
            };
            (index as usize, note)
        })
    };
    let batch = BatchInsertInputs {
        tree: LeanImt::from_leaves(&leaves).expect("tree"),
        acc_start: escrow.accumulator_at(size).await.expect("accumulator"),
        notes,
        removal,
    };
    let mut circuit = main_circuit("batch_insert");
    let key = KeyFile::read_dev(&build().join("keys/batch_insert.pk.bin"))
        .unwrap_or_else(|e| panic!("{e} (run `make keys`)"));
    let mut rng = rand::rngs::StdRng::seed_from_u64(13);
    let inputs = batch.circom_inputs().expect("provable");
    let (proof, signals) = key.prove(&mut circuit, inputs, &mut rng).expect("prove");
    let updater = devnet.escrow_as(UPDATER_ACCOUNT);
    updater
        .insert_batch(size, count, signals[0], signals[6], signals[1], &proof, NO_FEE_CEILING)
        .await
        .expect("insertBatch")
        .event
}

/// A fee ceiling no devnet fee reaches.
pub const NO_FEE_CEILING: u128 = u128::MAX;

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
