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
