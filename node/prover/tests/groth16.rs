//! Groth16 on the real `slash` circuit: dev keys are deterministic, valid proofs verify (one at a
//! time and in batches), and any change to a public signal or the proof is refused.

mod common;

use ark_bn254::Fr;
use ark_ff::One;
use num_bigint::BigInt;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use zkcredits_primitives::identity::Secret;
use zkcredits_prover::{
    Manifest, ProverError, Verifier, WitnessCircuit, groth16::fr_to_input, insecure_dev_setup,
    prove,
};

fn slash_circuit() -> WitnessCircuit {
    common::main_circuit("slash")
}

/// The scope the slash tests' proofs are bound to.
fn test_scope() -> Fr {
    Fr::from(31_337u64)
}

fn slash_inputs(secret: Fr, identity: Fr, receiver: Fr) -> Vec<(String, Vec<BigInt>)> {
    vec![
        ("secret".to_owned(), vec![fr_to_input(&secret)]),
        ("identity".to_owned(), vec![fr_to_input(&identity)]),
        ("receiver".to_owned(), vec![fr_to_input(&receiver)]),
        ("scope".to_owned(), vec![fr_to_input(&test_scope())]),
    ]
}

#[test]
fn slash_proofs_verify_and_tampering_is_refused() {
    let mut circuit = slash_circuit();
    let key = insecure_dev_setup(&circuit, b"test seed").expect("setup");
    let verifier = Verifier::new(&key.vk);
    assert_eq!(verifier.public_count(), 3);
    let mut rng = ChaCha20Rng::seed_from_u64(1);

    let k = Secret::new(Fr::from(123_456u64)).expect("non-zero");
    let receiver = Fr::from(0xabcdu64);
    let (proof, public) =
        prove(&key, &mut circuit, slash_inputs(*k.expose(), k.commitment(), receiver), &mut rng)
            .expect("valid witness proves");
    assert_eq!(public, vec![k.commitment(), receiver, test_scope()]);
    verifier.verify(&public, &proof).expect("valid proof verifies");
    assert!(common::snarkjs_accepts("slash", &key.vk, &public, &proof));

    // A proof for receiver X does not verify for receiver Y, nor at another deployment (scope),
    // and no public signal can change.
    for i in 0..public.len() {
        let mut tampered = public.clone();
        tampered[i] += Fr::one();
        assert!(matches!(verifier.verify(&tampered, &proof), Err(ProverError::InvalidProof)));
    }
    let mut bad_proof = proof.clone();
    bad_proof.a = (bad_proof.a + bad_proof.a).into();
    assert!(matches!(verifier.verify(&public, &bad_proof), Err(ProverError::InvalidProof)));

    assert!(matches!(
        verifier.verify(&public[..1], &proof),
        Err(ProverError::PublicInputCount { expected: 3, got: 1 })
    ));
}

#[test]
fn a_secret_that_does_not_open_the_identity_cannot_be_proven() {
    let mut circuit = slash_circuit();
    let key = insecure_dev_setup(&circuit, b"test seed").expect("setup");
    let k = Secret::new(Fr::from(5u64)).expect("non-zero");
    let other = Secret::new(Fr::from(6u64)).expect("non-zero");
    let result = prove(
        &key,
        &mut circuit,
        slash_inputs(*other.expose(), k.commitment(), Fr::one()),
        &mut ChaCha20Rng::seed_from_u64(2),
    );
    assert!(matches!(result, Err(ProverError::Unsatisfied(_))));
}

#[test]
fn a_misspelt_input_is_named() {
    let mut circuit = slash_circuit();
    let mut inputs = slash_inputs(Fr::one(), Fr::one(), Fr::one());
    inputs[2].0 = "reciever".to_owned();
    assert!(
        matches!(circuit.calculate(inputs), Err(ProverError::UnknownSignal(name)) if name == "reciever")
    );
}

#[test]
fn a_missing_input_is_counted() {
    let mut circuit = slash_circuit();
    let mut inputs = slash_inputs(Fr::one(), Fr::one(), Fr::one());
    inputs.remove(2);
    match circuit.calculate(inputs) {
        Err(ProverError::Unsatisfied(reason)) => {
            assert!(reason.contains("1 of the circuit's 4 input values are missing"), "{reason}");
        }
        other => panic!("expected a missing input to be reported, got {other:?}"),
    }
    // The calculator is reset per witness: the next complete call succeeds.
    let k = Secret::new(Fr::from(5u64)).expect("non-zero");
    circuit.calculate(slash_inputs(*k.expose(), k.commitment(), Fr::one())).expect("valid");
}

#[test]
fn a_failed_assertion_names_its_template() {
    let mut circuit = slash_circuit();
    let k = Secret::new(Fr::from(5u64)).expect("non-zero");
    match circuit.calculate(slash_inputs(*k.expose(), Fr::from(7u64), Fr::one())) {
        Err(ProverError::Unsatisfied(reason)) => assert!(reason.contains("line"), "{reason}"),
        other => panic!("expected the assertion to fail, got {other:?}"),
    }
}

#[test]
fn dev_setup_is_deterministic_per_seed() {
    let circuit = slash_circuit();
    let a = insecure_dev_setup(&circuit, b"seed").expect("setup");
    let b = insecure_dev_setup(&circuit, b"seed").expect("setup");
    let c = insecure_dev_setup(&circuit, b"other seed").expect("setup");
    assert_eq!(a.vk, b.vk);
    assert_ne!(a.vk, c.vk);
}

#[test]
fn batch_verification_accepts_valid_batches_and_refuses_one_bad_proof() {
    let mut circuit = slash_circuit();
    let key = insecure_dev_setup(&circuit, b"test seed").expect("setup");
    let verifier = Verifier::new(&key.vk);
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let mut batch = Vec::new();
    for i in 1..=4u64 {
        let k = Secret::new(Fr::from(1000 + i)).expect("non-zero");
        let (proof, public) = prove(
            &key,
            &mut circuit,
            slash_inputs(*k.expose(), k.commitment(), Fr::from(i)),
            &mut rng,
        )
        .expect("proves");
        batch.push((public, proof));
    }
    verifier.verify_batch(&batch, &mut rng).expect("valid batch");
    verifier.verify_batch(&[], &mut rng).expect("empty batch");

    batch[2].0[1] += Fr::one();
    assert!(matches!(verifier.verify_batch(&batch, &mut rng), Err(ProverError::InvalidProof)));
    batch[2].0.pop();
    assert!(matches!(
        verifier.verify_batch(&batch, &mut rng),
        Err(ProverError::PublicInputCount { .. })
    ));
}

#[test]
fn the_manifest_admits_this_build_and_refuses_other_artifacts_and_keys() {
    let manifest_path = common::workspace().join("circuits/artifacts/manifest.json");
    let manifest = Manifest::read(&manifest_path).expect("the committed manifest");
    let build = std::env::var_os("ZKCREDITS_BUILD_DIR")
        .map_or_else(|| common::workspace().join("build"), std::path::PathBuf::from);
    let dir = build.join("circuits/main");
    for name in ["request", "exit", "slash", "batch_insert"] {
        WitnessCircuit::load_checked(&dir, name, &manifest).expect("this build is the manifest's");
    }

    // Another build's wasm is named with both hashes.
    let tampered = std::env::temp_dir().join(format!("zkcredits-manifest-{}", std::process::id()));
    std::fs::create_dir_all(&tampered).expect("temp dir");
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest_path).expect("readable")).expect("JSON");
    json["slash"]["wasm_sha256"] = "00".repeat(32).into();
    let tampered_path = tampered.join("manifest.json");
    std::fs::write(&tampered_path, json.to_string()).expect("writable");
    let other = Manifest::read(&tampered_path).expect("readable");
    match WitnessCircuit::load_checked(&dir, "slash", &other) {
        Err(ProverError::ManifestMismatch { artifact, expected, .. }) => {
            assert!(artifact.ends_with("slash_js/slash.wasm"));
            assert_eq!(expected, "00".repeat(32));
        }
        other => panic!("expected a manifest mismatch, got {other:?}"),
    }
    assert!(matches!(other.entry("withdraw"), Err(ProverError::Malformed { .. })));
    std::fs::remove_dir_all(&tampered).expect("removable");

    // The committed dev key's verifying key is the manifest's; a key from another seed is not.
    let circuit = slash_circuit();
    let key_file = std::path::Path::new("slash.pk.bin");
    let committed = insecure_dev_setup(&circuit, b"zkcredits-dev").expect("setup");
    manifest.check_verifying_key("slash", key_file, &committed.vk).expect("the dev key");
    let foreign = insecure_dev_setup(&circuit, b"another seed").expect("setup");
    assert!(matches!(
        manifest.check_verifying_key("slash", key_file, &foreign.vk),
        Err(ProverError::ManifestMismatch { .. })
    ));
}
