//! Witness generation, proving, verification and batch verification for each circuit, on the
//! deterministic example statements of `zkcredits_prover::fixtures`. Witnesses are computed by
//! the native graph (`build/circuits/main/<circuit>.graph`, traced here when absent); the wasm
//! calculator is measured beside it.
//!
//! `make circuits && cargo bench -p zkcredits-prover`; the README and spec/03 report the table.

use ark_bn254::{Bn254, Fr};
use ark_groth16::{Groth16, ProvingKey};
use ark_snark::SNARK;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use std::{hint::black_box, path::PathBuf};
use zkcredits_primitives::{babyjubjub::Scalar, constants::SIGNER_TREE_DEPTH};
use zkcredits_prover::{
    KeyFile, ProofCache, Verifier, WitnessCircuit,
    fixtures::{self, RequestScenario},
    inputs::RequestInputs,
    insecure_dev_setup, prove,
};

fn circuit(name: &str) -> WitnessCircuit {
    let build = std::env::var_os("ZKCREDITS_BUILD_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../build"),
        PathBuf::from,
    );
    WitnessCircuit::load(&build.join("circuits/main"), name).unwrap_or_else(|e| panic!("{e}"))
}

fn bench_circuits(c: &mut Criterion) {
    for name in ["request", "exit", "slash", "batch_insert"] {
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
        if name == "request" {
            bench_cached_request(&mut group, &mut circuit, &key, &mut rng);
        }
        let (proof, public) = prove(&key, &mut circuit, inputs.clone(), &mut rng).expect("proves");
        group.bench_function("verify", |b| {
            b.iter(|| verifier.verify(black_box(&public), black_box(&proof)).expect("valid"))
        });
        // ark-groth16's own verification of the same proof (public inputs folded by a plain
        // MSM instead of our tables), for the ratio to ours.
        let prepared = Groth16::<Bn254>::process_vk(&key.vk).expect("processes");
        group.bench_function("verify, arkworks", |b| {
            b.iter(|| {
                let valid = Groth16::<Bn254>::verify_proof(
                    &prepared,
                    black_box(&proof),
                    black_box(&public),
                );
                assert!(valid.expect("well-formed"), "arkworks accepts the proof");
            })
        });
        let batch: Vec<_> = (0..64).map(|_| (public.clone(), proof.clone())).collect();
        group.bench_function("verify batch of 64", |b| {
            b.iter(|| verifier.verify_batch(black_box(&batch), &mut rng).expect("valid"))
        });
        group.finish();
    }
}

/// Request proofs that reuse the last proof's sums ([`ProofCache`]): statements alternate
/// between two that differ as a note's consecutive requests do.
fn bench_cached_request(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    circuit: &mut WitnessCircuit,
    key: &ProvingKey<Bn254>,
    rng: &mut ChaCha20Rng,
) {
    let key = KeyFile::Dev(key.clone());
    let first = RequestScenario::default().inputs();
    let another_request = |mut inputs: RequestInputs| {
        inputs.now += 60;
        inputs.x += Fr::from(1u64);
        inputs.eta = Scalar::from(1_001u64);
        inputs
    };
    let next_ticket = RequestScenario { index: 4, refunded: 1_500, ..Default::default() };
    let pairs = [
        ("prove, cached sums: the next request on the same state", another_request(first.clone())),
        (
            "prove, cached sums: the next ticket on a new state",
            another_request(next_ticket.inputs()),
        ),
    ];
    for (label, second) in pairs {
        let pair = [&first, &second].map(|i| i.circom_inputs(SIGNER_TREE_DEPTH));
        let mut cache = ProofCache::new();
        for inputs in [&pair[1], &pair[0]] {
            key.prove_cached(circuit, inputs.clone(), rng, &mut cache).expect("proves");
        }
        println!("{label}: {} of {} wires summed", cache.last_summed(), circuit.num_wires() - 1);
        let mut turn = 0;
        group.bench_function(label, |b| {
            b.iter_batched(
                || {
                    turn += 1;
                    pair[turn % 2].clone()
                },
                |i| key.prove_cached(circuit, black_box(i), rng, &mut cache).expect("proves"),
                BatchSize::SmallInput,
            )
        });
    }
}

criterion_group!(benches, bench_circuits);
criterion_main!(benches);
