//! `zkcredits circuits setup --zkey`: keys from a snarkjs ceremony for all four circuits. The
//! artifacts it writes agree with snarkjs (the verifying keys it exports, its verifier accepting
//! our example proofs), `--check` reproduces them, `zkcredits prove --zkey` proves with them, and
//! wrong or missing keys are refused clearly.
//!
//! The ceremony (2^17 powers of tau, which `batch_insert` needs, and one phase-2 key per
//! circuit) takes about six minutes on two cores, five of them snarkjs's key for `batch_insert`;
//! it is cached in `~/.cache/zkcredits/ceremony-v2`, keyed by the circuits' r1cs hashes.

use serde_json::Value;
use sha2::{Digest, Sha256};
use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

const CIRCUITS: [&str; 4] = ["request", "exit", "slash", "batch_insert"];

fn zkcredits(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_zkcredits")).args(args).output().expect("the binary runs")
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn build_dir() -> PathBuf {
    std::env::var_os("ZKCREDITS_BUILD_DIR").map_or_else(|| root().join("build"), PathBuf::from)
}

fn arg(path: &Path) -> String {
    path.to_str().expect("utf-8 path").to_owned()
}

fn snarkjs(args: &[&str]) -> Output {
    let out = Command::new(root().join("node_modules/.bin/snarkjs"))
        .args(args)
        .output()
        .expect("snarkjs runs (installed by script/setup.sh)");
    assert!(out.status.success(), "snarkjs {args:?}: {}", String::from_utf8_lossy(&out.stdout));
    out
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).expect("readable")).expect("JSON")
}

/// The ceremony's `.zkey` per circuit, made once per circuit build and cached. Phase 1 is an
/// INSECURE prepared powers-of-tau file of ours (`zkcredits_prover::ptau`, two seconds where
/// snarkjs's `powersoftau new`, `contribute` and `prepare phase2` took six minutes); phase 2,
/// which makes the keys we import, is snarkjs's `groth16 setup`.
fn ceremony() -> Vec<(&'static str, PathBuf)> {
    let home = std::env::var_os("HOME").map_or_else(std::env::temp_dir, PathBuf::from);
    let dir = home.join(".cache/zkcredits/ceremony-v2");
    std::fs::create_dir_all(&dir).expect("cache dir");
    let ptau = dir.join("pot17.ptau");
    if !ptau.exists() {
        let tmp = dir.join("pot17.tmp");
        let bytes = zkcredits_prover::ptau::insecure_prepared_ptau(17, b"zkcredits ceremony test");
        std::fs::write(&tmp, bytes).expect("writable cache");
        std::fs::rename(&tmp, &ptau).expect("rename");
    }
    CIRCUITS
        .iter()
        .map(|&name| {
            let r1cs = build_dir().join(format!("circuits/main/{name}.r1cs"));
            let hash: String = Sha256::digest(std::fs::read(&r1cs).expect("make circuits first"))
                .iter()
                .take(8)
                .map(|b| format!("{b:02x}"))
                .collect();
            let zkey = dir.join(format!("{name}-{hash}.zkey"));
            if !zkey.exists() {
                let tmp = dir.join(format!("{name}-{hash}.tmp"));
                snarkjs(&["groth16", "setup", &arg(&r1cs), &arg(&ptau), &arg(&tmp)]);
                std::fs::rename(&tmp, &zkey).expect("rename");
            }
            (name, zkey)
        })
        .collect()
}

#[test]
fn ceremony_keys_make_artifacts_snarkjs_agrees_with() {
    let zkeys = ceremony();
    let tmp = std::env::temp_dir().join(format!("zkcredits-ceremony-{}", std::process::id()));
    let zkey_args: Vec<String> = zkeys
        .iter()
        .flat_map(|(name, file)| ["--zkey".to_owned(), format!("{name}={}", arg(file))])
        .collect();
    let setup = |extra: &[&str], zkey_args: &[String]| {
        let mut args = vec!["circuits", "setup", "--build-dir"];
        let (build, keys, root) = (arg(&build_dir()), arg(&tmp.join("keys")), arg(&tmp));
        args.extend([build.as_str(), "--keys-dir", &keys, "--root", &root]);
        args.extend(zkey_args.iter().map(String::as_str));
        args.extend(extra);
        zkcredits(&args)
    };
    let written = setup(&[], &zkey_args);
    assert!(written.status.success(), "{}", String::from_utf8_lossy(&written.stderr));
    let checked = setup(&["--check"], &zkey_args);
    assert!(checked.status.success(), "{}", String::from_utf8_lossy(&checked.stderr));

    let manifest = read_json(&tmp.join("circuits/artifacts/manifest.json"));
    for (name, zkey) in &zkeys {
        // The key stays in the .zkey: no dev key file is written.
        assert!(!tmp.join(format!("keys/{name}.pk.bin")).exists());
        let ours = read_json(&tmp.join(format!("circuits/artifacts/{name}/verification_key.json")));
        let exported = tmp.join(format!("{name}.snarkjs-vk.json"));
        snarkjs(&["zkey", "export", "verificationkey", &arg(zkey), &arg(&exported)]);
        let theirs = read_json(&exported);
        for field in ["nPublic", "vk_alpha_1", "vk_beta_2", "vk_gamma_2", "vk_delta_2", "IC"] {
            assert_eq!(ours[field], theirs[field], "{name}: {field}");
        }
        assert!(manifest[name]["setup"].as_str().expect("setup").contains("ceremony"));

        // snarkjs verifies the example proof written into the vectors.
        let vector = read_json(&tmp.join(format!("spec/vectors/groth16/{name}.json")));
        assert!(vector.get("insecure_dev_seed").is_none());
        let (proof, public) =
            (tmp.join(format!("{name}.proof.json")), tmp.join(format!("{name}.public.json")));
        std::fs::write(&proof, vector["proof"].to_string()).expect("writable");
        std::fs::write(&public, vector["public_signals"].to_string()).expect("writable");
        let verified =
            snarkjs(&["groth16", "verify", &arg(&exported), &arg(&public), &arg(&proof)]);
        assert!(String::from_utf8_lossy(&verified.stdout).contains("OK"), "{name}");
    }
    let verifier = std::fs::read_to_string(tmp.join("contracts/src/verifiers/SlashVerifier.sol"))
        .expect("verifier written");
    assert!(verifier.contains("snarkjs ceremony key"));
    assert!(!verifier.contains("INSECURE development key"));
    assert!(verifier.contains("bool public constant INSECURE_DEV_SETUP = false;"));

    // `zkcredits prove --zkey` proves the example input with the ceremony key.
    let (_, request_zkey) = &zkeys[0];
    let out = tmp.join("proof");
    let proved = zkcredits(&[
        "prove",
        "request",
        "--input",
        &arg(&tmp.join("keys/request.example-input.json")),
        "--out",
        &arg(&out),
        "--build-dir",
        &arg(&build_dir()),
        "--zkey",
        &arg(request_zkey),
        "--manifest",
        &arg(&tmp.join("circuits/artifacts/manifest.json")),
    ]);
    assert!(proved.status.success(), "{}", String::from_utf8_lossy(&proved.stderr));
    let verified = zkcredits(&[
        "verify",
        "request",
        "--proof",
        &arg(&out.join("proof.json")),
        "--public",
        &arg(&out.join("public.json")),
        "--vk",
        &arg(&tmp.join("circuits/artifacts/request/verification_key.json")),
    ]);
    assert!(verified.status.success(), "{}", String::from_utf8_lossy(&verified.stderr));

    // A key of another circuit is refused by name.
    let mut swapped = zkey_args;
    swapped[1] = format!("request={}", arg(&zkeys[2].1));
    let refused = setup(&["--check"], &swapped);
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("does not belong"));
    std::fs::remove_dir_all(&tmp).expect("removable");
}

#[test]
fn zkey_arguments_are_checked_before_any_work() {
    // One key per circuit is required.
    let missing = zkcredits(&["circuits", "setup", "--zkey", "request=request.zkey"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("--zkey exit=FILE"));
    // An unknown circuit, a value without `=`, and both key sources are usage errors.
    for args in [
        &["circuits", "setup", "--zkey", "withdraw=w.zkey"][..],
        &["circuits", "setup", "--zkey", "request.zkey"],
        &["circuits", "setup", "--insecure-dev-seed", "s", "--zkey", "slash=s.zkey"],
        &["circuits", "setup"],
    ] {
        let out = zkcredits(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
    let unknown = zkcredits(&["circuits", "setup", "--zkey", "withdraw=w.zkey"]);
    assert!(
        String::from_utf8_lossy(&unknown.stderr)
            .contains("expected request, exit, slash or batch_insert")
    );
}
