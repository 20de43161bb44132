//! Keys from a snarkjs ceremony: a `.zkey` made by snarkjs for the real `slash` circuit imports,
//! proves with circom's reduction, verifies in Rust and in snarkjs; the arkworks reduction
//! (the dev-key default) does not verify under it.

mod common;

use ark_bn254::Fr;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use std::process::Command;
use zkcredits_prover::{ProverError, Verifier, fixtures, import_zkey, prove, prove_with_zkey_key};

fn snarkjs(args: &[&str]) {
    let out = Command::new(common::workspace().join("node_modules/.bin/snarkjs"))
        .args(args)
        .output()
        .expect("snarkjs runs (installed by script/setup.sh)");
    assert!(out.status.success(), "snarkjs {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn a_snarkjs_zkey_imports_and_proves() {
    let dir = std::env::temp_dir().join(format!("zkcredits-zkey-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let p = |f: &str| dir.join(f).to_str().expect("utf-8 path").to_owned();
    let build = std::env::var_os("ZKCREDITS_BUILD_DIR")
        .map_or_else(|| common::workspace().join("build"), std::path::PathBuf::from);
    let r1cs = build.join("circuits/main/slash.r1cs");

    // A two-party ceremony small enough for the 214-constraint circuit (2^8 powers).
    snarkjs(&["powersoftau", "new", "bn128", "8", &p("pot0.ptau")]);
    snarkjs(&[
        "powersoftau",
        "contribute",
        &p("pot0.ptau"),
        &p("pot1.ptau"),
        "--name=one",
        "-e=test entropy one",
    ]);
    snarkjs(&["powersoftau", "prepare", "phase2", &p("pot1.ptau"), &p("final.ptau")]);
    snarkjs(&[
        "groth16",
        "setup",
        r1cs.to_str().expect("utf-8 path"),
        &p("final.ptau"),
        &p("slash0.zkey"),
    ]);
    snarkjs(&[
        "zkey",
        "contribute",
        &p("slash0.zkey"),
        &p("slash.zkey"),
        "--name=two",
        "-e=test entropy two",
    ]);

    let key = import_zkey(&dir.join("slash.zkey")).expect("imports");
    let mut circuit = common::main_circuit("slash");
    let inputs = fixtures::slash(Fr::from(77u64));
    let mut rng = ChaCha20Rng::seed_from_u64(11);
    let verifier = Verifier::new(&key.vk);

    let (proof, public) =
        prove_with_zkey_key(&key, &mut circuit, inputs.circom_inputs(), &mut rng).expect("proves");
    assert_eq!(public, inputs.public_signals());
    verifier.verify(&public, &proof).expect("verifies under the ceremony key");
    assert!(common::snarkjs_accepts("zkey", &key.vk, &public, &proof));

    let (wrong, public) =
        prove(&key, &mut circuit, inputs.circom_inputs(), &mut rng).expect("proves");
    assert!(matches!(verifier.verify(&public, &wrong), Err(ProverError::InvalidProof)));

    assert!(matches!(import_zkey(&dir.join("missing.zkey")), Err(ProverError::Artifact { .. })));
    std::fs::write(dir.join("garbage.zkey"), b"not a zkey").expect("writable");
    assert!(matches!(import_zkey(&dir.join("garbage.zkey")), Err(ProverError::Malformed { .. })));
    std::fs::remove_dir_all(&dir).expect("removable");
}
