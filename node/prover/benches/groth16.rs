//! Witness generation, proving, verification and batch verification for each circuit, on the
//! deterministic example statements of `zkcredits_prover::fixtures`. Witnesses are computed by
//! the native graph (`build/circuits/main/<circuit>.graph`, traced here when absent); the wasm
//! calculator is measured beside it.
//!
//! `make circuits && cargo bench -p zkcredits-prover`; the README and spec/03 report the table.

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use std::{hint::black_box, path::PathBuf};
use zkcredits_prover::{Verifier, WitnessCircuit, fixtures, insecure_dev_setup, prove};

fn circuit(name: &str) -> WitnessCircuit {
    let build = std::env::var_os("ZKCREDITS_BUILD_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../build"),
        PathBuf::from,
    );
    WitnessCircuit::load(&build.join("circuits/main"), name).unwrap_or_else(|e| panic!("{e}"))
}

fn bench_circuits(c: &mut Criterion) {
    for name in ["request", "exit", "slash"] {
        let mut circuit = circuit(name);
        let key = insecure_dev_setup(&circuit, b"bench").expect("setup");
        let verifier = Verifier::new(&key.vk);
        let (inputs, _) = fixtures::example(name).expect("every protocol circuit has an example");
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        let mut group = c.benchmark_group(name);
        group.sample_size(20);

        if !circuit.has_graph() {
            let graph = circuit.trace(inputs.clone()).expect("traces");
            circuit.use_graph(graph).expect("traced from this wasm");
        }
        group.bench_function("witness, wasm", |b| {
            b.iter_batched(
                || inputs.clone(),
                |i| circuit.calculate_in_wasm(black_box(i)).expect("valid"),
                BatchSize::SmallInput,
            )
        });
        group.bench_function("witness, graph", |b| {
            b.iter_batched(
                || inputs.clone(),
                |i| circuit.calculate_in_graph(black_box(i)).expect("known").expect("computed"),
                BatchSize::SmallInput,
            )
        });
        group.bench_function("witness, graph and R1CS check", |b| {
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
