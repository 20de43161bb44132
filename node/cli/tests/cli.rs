//! The `zkcredits` binary as a user runs it.

use std::{path::PathBuf, process::Command};

fn zkcredits(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_zkcredits")).args(args).output().expect("the binary runs")
}

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../spec/vectors")
}

#[test]
fn version_names_the_crate_version() {
    let out = zkcredits(&["--version"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("zkcredits {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn committed_vectors_match_this_build() {
    let out = zkcredits(&[
        "test-vectors",
        "--check",
        "--dir",
        vectors_dir().to_str().expect("utf-8 path"),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Where the CPU has AVX-512 IFMA the prover's MSMs and transforms run on it; forcing arkworks'
/// arithmetic must give the same proofs bit for bit: the committed example proofs come out again.
#[test]
fn portable_arithmetic_makes_the_committed_proofs() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let build =
        std::env::var_os("ZKCREDITS_BUILD_DIR").map_or_else(|| root.join("build"), PathBuf::from);
    let keys = tempfile::tempdir().expect("temporary directory");
    let path = |p: &std::path::Path| p.to_str().expect("utf-8 path").to_owned();
    let out = Command::new(env!("CARGO_BIN_EXE_zkcredits"))
        .env("ZKCREDITS_PORTABLE_ARITHMETIC", "1")
        .args(["circuits", "setup", "--insecure-dev-seed", "zkcredits-dev", "--check"])
        .args([
            "--build-dir",
            &path(&build),
            "--keys-dir",
            &path(keys.path()),
            "--root",
            &path(&root),
        ])
        .output()
        .expect("the binary runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn write_then_check_round_trips_and_a_changed_file_is_named() {
    let dir = std::env::temp_dir().join(format!("zkcredits-vectors-{}", std::process::id()));
    let dir_arg = dir.to_str().expect("utf-8 path");
    assert!(zkcredits(&["test-vectors", "--write", "--dir", dir_arg]).status.success());
    assert!(zkcredits(&["test-vectors", "--check", "--dir", dir_arg]).status.success());

    std::fs::write(dir.join("rln.json"), "{}\n").expect("writable");
    let out = zkcredits(&["test-vectors", "--check", "--dir", dir_arg]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("rln.json") && stderr.contains("--write"), "{stderr}");
    std::fs::remove_dir_all(&dir).expect("removable");
}

#[test]
fn a_missing_mode_is_a_usage_error_not_a_panic() {
    let out = zkcredits(&["test-vectors"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--write"));
}

#[test]
fn prove_and_verify_a_slash_from_files() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let tmp = std::env::temp_dir().join(format!("zkcredits-prove-{}", std::process::id()));
    let arg = |p: &std::path::Path| p.to_str().expect("utf-8 path").to_owned();
    let build =
        std::env::var_os("ZKCREDITS_BUILD_DIR").map_or_else(|| root.join("build"), PathBuf::from);
    let setup = zkcredits(&[
        "circuits",
        "setup",
        "--insecure-dev-seed",
        "cli test",
        "--build-dir",
        &arg(&build),
        "--keys-dir",
        &arg(&tmp.join("keys")),
        "--root",
        &arg(&tmp),
    ]);
    assert!(setup.status.success(), "{}", String::from_utf8_lossy(&setup.stderr));

    // k = 5: identity = Poseidon(5).
    let identity = "19065150524771031435284970883882288895168425523179566388456001105768498065277";
    let input = tmp.join("input.json");
    std::fs::write(
        &input,
        format!(r#"{{"secret": "5", "identity": "{identity}", "receiver": 4660, "scope": 31337}}"#),
    )
    .expect("writable");
    let out = tmp.join("proof");
    let build_arg = arg(&build);
    let keys_arg = arg(&tmp.join("keys"));
    let manifest_arg = arg(&tmp.join("circuits/artifacts/manifest.json"));
    let prove_with = |input: &str, manifest: &str| {
        zkcredits(&[
            "prove",
            "slash",
            "--input",
            input,
            "--out",
            &arg(&out),
            "--build-dir",
            &build_arg,
            "--keys-dir",
            &keys_arg,
            "--manifest",
            manifest,
        ])
    };
    let prove = |input: &str| prove_with(input, &manifest_arg);
    let proved = prove(&arg(&input));
    assert!(proved.status.success(), "{}", String::from_utf8_lossy(&proved.stderr));

    // The committed manifest records the dev key of another seed: this key is refused.
    let committed = arg(&root.join("circuits/artifacts/manifest.json"));
    let foreign = prove_with(&arg(&input), &committed);
    assert_eq!(foreign.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&foreign.stderr);
    assert!(
        stderr.contains("slash.pk.bin does not match") && stderr.contains("make verifiers"),
        "{stderr}"
    );

    let vk = arg(&tmp.join("circuits/artifacts/slash/verification_key.json"));
    let verify = |public: &str| {
        zkcredits(&[
            "verify",
            "slash",
            "--proof",
            &arg(&out.join("proof.json")),
            "--public",
            public,
            "--vk",
            &vk,
        ])
    };
    let ok = verify(&arg(&out.join("public.json")));
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("OK"));

    let tampered = tmp.join("tampered.json");
    std::fs::write(&tampered, format!(r#"["{identity}", "4661", "31337"]"#)).expect("writable");
    let refused = verify(&arg(&tampered));
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("does not verify"));

    // A secret that does not open the identity, and a malformed value, are refused clearly.
    std::fs::write(
        &input,
        format!(r#"{{"secret": "6", "identity": "{identity}", "receiver": 1, "scope": 1}}"#),
    )
    .expect("writable");
    let unsatisfied = prove(&arg(&input));
    assert_eq!(unsatisfied.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unsatisfied.stderr).contains("do not satisfy"));
    std::fs::write(&input, r#"{"secret": "0x5", "identity": "1", "receiver": 1, "scope": 1}"#)
        .expect("writable");
    let malformed = prove(&arg(&input));
    assert_eq!(malformed.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&malformed.stderr).contains("not a decimal integer"));
    std::fs::remove_dir_all(&tmp).expect("removable");
}

#[test]
fn keys_signer_new_writes_a_private_key_file_once() {
    let dir = std::env::temp_dir().join(format!("zkcredits-keys-{}", std::process::id()));
    let file = dir.join("signer.json");
    let path = file.to_str().expect("utf-8 path");
    let out = zkcredits(&["keys", "signer", "new", "--out", path]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("signer.set entry") && stdout.contains("signer root"), "{stdout}");
    let key: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).expect("written")).expect("JSON");
    let secret = key["privateKey"].as_str().expect("privateKey");
    assert!(!stdout.contains(secret.trim_start_matches("0x")), "the secret is not printed");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).expect("exists").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let again = zkcredits(&["keys", "signer", "new", "--out", path]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists already"));
    std::fs::remove_dir_all(&dir).expect("removable");
}

#[test]
fn node_config_errors_name_the_file_or_key() {
    let dir = std::env::temp_dir().join(format!("zkcredits-node-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let arg = |p: &std::path::Path| p.to_str().expect("utf-8 path").to_owned();
    let missing = zkcredits(&["node", "--config", &arg(&dir.join("missing.toml"))]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("missing.toml"));

    let typo = dir.join("typo.toml");
    std::fs::write(&typo, "[limits]\nroot_windw = 3\n").expect("writable");
    let out = zkcredits(&["node", "--config", &arg(&typo)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("root_windw"));

    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "provider_id = \"0\"\n").expect("writable");
    let out = zkcredits(&["node", "--config", &arg(&bad)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("provider_id"));

    let flag = zkcredits(&["node", "--listen", "not-an-address"]);
    assert_eq!(flag.status.code(), Some(2), "a malformed flag is a usage error");
    std::fs::remove_dir_all(&dir).expect("removable");
}
