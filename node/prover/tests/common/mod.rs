//! Helpers shared by the prover's integration tests.
// Each test binary uses some of them.
#![allow(dead_code)]

use ark_bn254::{Bn254, Fr};
use ark_groth16::{Proof, VerifyingKey};
use std::{path::PathBuf, process::Command};
use zkcredits_prover::{WitnessCircuit, encoding};

pub(crate) fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The build directory (`ZKCREDITS_BUILD_DIR`, or `build/`).
pub(crate) fn build_dir() -> PathBuf {
    std::env::var_os("ZKCREDITS_BUILD_DIR").map_or_else(|| workspace().join("build"), PathBuf::from)
}

/// Loads a protocol circuit compiled by `make circuits`.
pub(crate) fn main_circuit(name: &str) -> WitnessCircuit {
    WitnessCircuit::load(&build_dir().join("circuits/main"), name).unwrap_or_else(|e| panic!("{e}"))
}

/// Whether `snarkjs groth16 verify` (npm, the independent reference) accepts our JSON, after
/// checking that the JSON reads back to the same values in Rust.
pub(crate) fn snarkjs_accepts(
    name: &str,
    vk: &VerifyingKey<Bn254>,
    public: &[Fr],
    proof: &Proof<Bn254>,
) -> bool {
    let dir = std::env::temp_dir().join(format!("zkcredits-snarkjs-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let files = [
        ("vk.json", encoding::verifying_key_to_json(vk)),
        ("public.json", encoding::public_to_json(public)),
        ("proof.json", encoding::proof_to_json(proof)),
    ];
    assert_eq!(&encoding::verifying_key_from_json(&files[0].1).expect("vk reads back"), vk);
    assert_eq!(encoding::public_from_json(&files[1].1).expect("public reads back"), public);
    assert_eq!(&encoding::proof_from_json(&files[2].1).expect("proof reads back"), proof);
    assert_eq!(
        &encoding::proof_from_bytes(&encoding::proof_to_bytes(proof)).expect("bytes read back"),
        proof
    );
    for (file, value) in &files {
        std::fs::write(dir.join(file), value.to_string()).expect("writable");
    }
    let output = Command::new(workspace().join("node_modules/.bin/snarkjs"))
        .args(["groth16", "verify"])
        .args(files.iter().map(|(file, _)| dir.join(file)))
        .output()
        .expect("snarkjs runs (installed by script/setup.sh)");
    std::fs::remove_dir_all(&dir).expect("removable");
    String::from_utf8_lossy(&output.stdout).contains("OK!")
}
