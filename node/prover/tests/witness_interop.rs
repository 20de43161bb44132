//! Our witness calculator (circom's wasm with native inversions, driven from Rust) computes
//! exactly the witness snarkjs computes with the unmodified wasm, wire for wire.

mod common;

use ark_bn254::Fr;
use ark_ff::PrimeField;
use serde_json::{Map, Value};
use std::process::Command;
use zkcredits_prover::fixtures;

/// The witness values of a snarkjs `.wtns` file (sections: 1 header, 2 values, little-endian).
fn read_wtns(bytes: &[u8]) -> Vec<Fr> {
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    assert_eq!(&bytes[..4], b"wtns");
    let sections = u32_at(8);
    let (mut at, mut width, mut values) = (12, 0, Vec::new());
    for _ in 0..sections {
        let kind = u32_at(at);
        let size = u64::from_le_bytes(bytes[at + 4..at + 12].try_into().expect("8 bytes"));
        let data = &bytes[at + 12..at + 12 + size as usize];
        match kind {
            1 => width = u32_at(at + 12) as usize,
            2 => {
                values = data.chunks_exact(width).map(Fr::from_le_bytes_mod_order).collect();
            }
            _ => {}
        }
        at += 12 + size as usize;
    }
    values
}

#[test]
fn witnesses_match_snarkjs_for_every_circuit() {
    let dir = std::env::temp_dir().join(format!("zkcredits-wtns-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let build = std::env::var_os("ZKCREDITS_BUILD_DIR")
        .map_or_else(|| common::workspace().join("build"), std::path::PathBuf::from);
    for name in ["request", "exit", "slash", "batch_insert"] {
        let mut circuit = common::main_circuit(name);
        assert!(circuit.native_inverse(), "{name}: the inversion patch applies");
        let (inputs, _) = fixtures::example(name).expect("an example");
        let json: Map<String, Value> = inputs
            .iter()
            .map(|(signal, values)| {
                let values = values.iter().map(|v| Value::String(v.to_string())).collect();
                (signal.clone(), Value::Array(values))
            })
            .collect();
        let (input, wtns) = (dir.join(format!("{name}.json")), dir.join(format!("{name}.wtns")));
        std::fs::write(&input, Value::Object(json).to_string()).expect("writable");
        let wasm = build.join(format!("circuits/main/{name}_js/{name}.wasm"));
        let out = Command::new(common::workspace().join("node_modules/.bin/snarkjs"))
            .args(["wtns", "calculate"])
            .args([&wasm, &input, &wtns])
            .output()
            .expect("snarkjs runs (installed by script/setup.sh)");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

        let ours = circuit.calculate(inputs).expect("valid").into_values();
        let theirs = read_wtns(&std::fs::read(&wtns).expect("wtns written"));
        assert_eq!(ours.len(), theirs.len(), "{name}: wire count");
        if let Some(wire) = (0..ours.len()).find(|&i| ours[i] != theirs[i]) {
            panic!("{name}: wire {wire} differs from snarkjs");
        }
    }
    std::fs::remove_dir_all(&dir).expect("removable");
}
