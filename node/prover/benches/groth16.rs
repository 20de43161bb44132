//! Witness generation, proving, verification and batch verification for each circuit, on the
//! deterministic example statements of `zkcredits_prover::fixtures`.
//!
//! `make circuits && cargo bench -p zkcredits-prover`; the README and spec/03 report the table.

use ark_bn254::Fr;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use std::{hint::black_box, path::PathBuf};
use zkcredits_primitives::constants::SIGNER_TREE_DEPTH;
use zkcredits_prover::{
    Verifier, WitnessCircuit, fixtures, inputs::CircomInputs, insecure_dev_setup, prove,
};

fn circuit(name: &str) -> WitnessCircuit {
    let build = std::env::var_os("ZKCREDITS_BUILD_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../build"),
        PathBuf::from,
    );
    WitnessCircuit::load(&build.join("circuits/main"), name).unwrap_or_else(|e| panic!("{e}"))
}

fn example(name: &str) -> CircomInputs {
    match name {
        "request" => fixtures::RequestScenario::default().inputs().circom_inputs(SIGNER_TREE_DEPTH),
        "exit" => fixtures::exit(false).circom_inputs(SIGNER_TREE_DEPTH).expect("covered"),
        _ => fixtures::slash(Fr::from(0xabcd_u64)).circom_inputs(),
    }
}

fn bench_circuits(c: &mut Criterion) {
    for name in ["request", "exit", "slash"] {
        let mut circuit = circuit(name);
        let key = insecure_dev_setup(&circuit, b"bench").expect("setup");
        let verifier = Verifier::new(&key.vk);
        let inputs = example(name);
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        let mut group = c.benchmark_group(name);
        group.sample_size(20);

        group.bench_function("witness", |b| {
            b.iter_batched(
                || inputs.clone(),
                |i| circuit.calculate(black_box(i)).expect("valid"),
                BatchSize::SmallInput,
            )
        });
        group.bench_function("prove (witness included)", |b| {
            b.iter_batched(
                || inputs.clone(),
                |i| prove(&key, &mut circuit, black_box(i), &mut rng).expect("proves"),
                BatchSize::SmallInput,
            )
        });
        let (proof, public) = prove(&key, &mut circuit, inputs.clone(), &mut rng).expect("proves");
        group.bench_function("verify", |b| {
            b.iter(|| verifier.verify(black_box(&public), black_box(&proof)).expect("valid"))
        });
        let batch: Vec<_> = (0..64).map(|_| (public.clone(), proof.clone())).collect();
        group.bench_function("verify batch of 64", |b| {
            b.iter(|| verifier.verify_batch(black_box(&batch), &mut rng).expect("valid"))
        });
        group.finish();
    }
}

criterion_group!(benches, bench_circuits);
criterion_main!(benches);
