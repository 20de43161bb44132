//! The circom templates agree with `spec/vectors/`: each test harness in `circuits/test/` is run
//! through our witness calculator on the vectors' inputs and its outputs compared with the recorded values.
//!
//! Needs the harnesses compiled (`make circuits-test`, done by `make test`).

use num_bigint::BigInt;
use serde_json::Value;
use std::path::PathBuf;
use zkcredits_primitives::{Fr, field::fr_from_dec};
use zkcredits_prover::{ProverError, WitnessCircuit};

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn circuit(name: &str) -> WitnessCircuit {
    let build = std::env::var_os("ZKCREDITS_BUILD_DIR")
        .map_or_else(|| workspace().join("build"), PathBuf::from);
    WitnessCircuit::load(&build.join("circuits/test"), name).unwrap_or_else(|e| panic!("{e}"))
}

fn load(name: &str) -> Value {
    let path = workspace().join("spec/vectors").join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).expect("vector file")).expect("JSON")
}

fn int(v: &Value) -> BigInt {
    let s = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    s.parse().expect("decimal integer")
}

fn ints(v: &Value) -> Vec<BigInt> {
    v.as_array().expect("array").iter().map(int).collect()
}

fn xy(v: &Value) -> Vec<BigInt> {
    vec![int(&v["x"]), int(&v["y"])]
}

fn fr(v: &Value) -> Fr {
    fr_from_dec(v.as_str().expect("decimal string")).expect("field element")
}

fn input(name: &str, values: Vec<BigInt>) -> (String, Vec<BigInt>) {
    (name.to_owned(), values)
}

#[test]
fn poseidon_matches_vectors() {
    let mut c = circuit("poseidon_vectors");
    let cases = load("poseidon.json")["cases"].as_array().expect("cases").clone();
    for kind in ["sequential", "zeros", "max", "pseudorandom"] {
        let by_arity: Vec<&Value> = (1..=5)
            .map(|a| cases.iter().find(|c| c["name"] == format!("arity{a}_{kind}")).expect("case"))
            .collect();
        let inputs = by_arity
            .iter()
            .enumerate()
            .map(|(i, c)| input(&format!("in{}", i + 1), ints(&c["inputs"])))
            .collect();
        let w = c.calculate(inputs).expect("witness");
        for (i, case) in by_arity.iter().enumerate() {
            assert_eq!(
                w.get(&format!("out[{i}]")).expect("output"),
                fr(&case["output"]),
                "{}",
                case["name"]
            );
        }
    }
}

#[test]
fn babyjubjub_matches_vectors() {
    let mut c = circuit("babyjubjub_vectors");
    let v = load("babyjubjub.json");
    for case in v["add"].as_array().expect("add") {
        let inputs = vec![
            input("p", xy(&case["p"])),
            input("q", xy(&case["q"])),
            input("scalar", vec![BigInt::from(1)]),
        ];
        let w = c.calculate(inputs).expect("witness");
        assert_eq!(
            [w.get("sum[0]").expect("x"), w.get("sum[1]").expect("y")],
            [fr(&case["sum"]["x"]), fr(&case["sum"]["y"])]
        );
    }
    for case in v["mul"].as_array().expect("mul") {
        let p = xy(&case["point"]);
        let inputs =
            vec![input("p", p.clone()), input("q", p), input("scalar", vec![int(&case["scalar"])])];
        let w = c.calculate(inputs).expect("witness");
        let product = [w.get("product[0]").expect("x"), w.get("product[1]").expect("y")];
        assert_eq!(
            product,
            [fr(&case["product"]["x"]), fr(&case["product"]["y"])],
            "scalar {}",
            case["scalar"]
        );
    }
}

fn eddsa_inputs(pk: &Value, sig: &Value, message: BigInt) -> Vec<(String, Vec<BigInt>)> {
    vec![
        input("publicKey", xy(pk)),
        input("r8", xy(&sig["r8"])),
        input("s", vec![int(&sig["s"])]),
        input("message", vec![message]),
    ]
}

#[test]
fn eddsa_verifier_accepts_vectors_and_rejects_a_changed_message() {
    let mut c = circuit("eddsa_vectors");
    for case in load("eddsa.json")["cases"].as_array().expect("cases") {
        let w = c
            .calculate(eddsa_inputs(&case["public_key"], &case["signature"], int(&case["message"])))
            .expect("valid signature");
        assert_eq!(w.get("signerLeaf").expect("leaf"), fr(&case["signer_leaf"]));
        let wrong = c.calculate(eddsa_inputs(
            &case["public_key"],
            &case["signature"],
            int(&case["message"]) + 1,
        ));
        assert!(matches!(wrong, Err(ProverError::Unsatisfied(_))));
    }
}

#[test]
fn state_transitions_match_vectors() {
    let mut c = circuit("state_vectors");
    for case in load("state.json")["cases"].as_array().expect("cases") {
        let o = &case["opening"];
        let inputs = vec![
            input("secret", vec![int(&case["secret"])]),
            input("refunded", vec![int(&o["refunded"])]),
            input("index", vec![int(&o["index"])]),
            input("blinding", vec![int(&o["blinding"])]),
            input("eta", vec![int(&case["eta"])]),
            input("refund", vec![int(&case["refund"])]),
            input("scope", vec![int(&case["scope"])]),
        ];
        let w = c.calculate(inputs).expect("witness");
        assert_eq!(
            w.get("ownerTag").expect("tag").to_string(),
            case["owner_tag"].as_str().expect("tag")
        );
        for (signal, key) in
            [("commitment", "commitment"), ("rerandomized", "rerandomized"), ("settled", "settled")]
        {
            let got = [
                w.get(&format!("{signal}[0]")).expect("x"),
                w.get(&format!("{signal}[1]")).expect("y"),
            ];
            assert_eq!(got, [fr(&case[key]["x"]), fr(&case[key]["y"])], "{signal}");
        }
        assert_eq!(w.get("message").expect("message"), fr(&case["settled_message"]));
    }
}

#[test]
fn lean_imt_roots_match_vectors() {
    let mut c = circuit("lean_imt_vectors");
    for case in load("lean_imt.json")["cases"].as_array().expect("cases") {
        for proof in case["proofs"].as_array().expect("proofs") {
            let path = &proof["circuit"];
            let inputs = vec![
                input("leaf", vec![int(&proof["leaf"])]),
                input("depth", vec![int(&path["depth"])]),
                input("indices", ints(&path["indices"])),
                input("siblings", ints(&path["siblings"])),
            ];
            let w = c.calculate(inputs).expect("witness");
            assert_eq!(
                w.get("root").expect("root"),
                fr(&case["root"]),
                "leaf {}",
                proof["leaf_index"]
            );
        }
    }
}

#[test]
fn the_deposit_queue_matches_vectors_and_wide_amounts_are_refused() {
    let mut c = circuit("deposit_queue_vectors");
    for case in load("deposit_queue.json")["cases"].as_array().expect("cases") {
        let inputs = |deposit: BigInt, expiry: BigInt| {
            vec![
                input("acc", vec![int(&case["acc_before"])]),
                input("identity", vec![int(&case["identity"])]),
                input("deposit", vec![deposit]),
                input("expiry", vec![expiry]),
            ]
        };
        let (deposit, expiry) = (int(&case["deposit"]), int(&case["expiry"]));
        let w = c.calculate(inputs(deposit.clone(), expiry.clone())).expect("witness");
        assert_eq!(w.get("accumulated").expect("accumulated"), fr(&case["acc_after"]));
        assert_eq!(w.get("leaf").expect("leaf"), fr(&case["leaf"]));
        let carried = inputs(deposit - 1, expiry + (BigInt::from(1) << 40));
        assert!(matches!(c.calculate(carried), Err(ProverError::Unsatisfied(_))));
    }
    let wide = |deposit: BigInt, expiry: BigInt| {
        vec![
            input("acc", vec![BigInt::from(0)]),
            input("identity", vec![BigInt::from(1)]),
            input("deposit", vec![deposit]),
            input("expiry", vec![expiry]),
        ]
    };
    let refused = |c: &mut WitnessCircuit, inputs| {
        matches!(c.calculate(inputs), Err(ProverError::Unsatisfied(_)))
    };
    assert!(refused(&mut c, wide(BigInt::from(1) << 96, BigInt::from(0))), "D = 2^96");
    assert!(refused(&mut c, wide(BigInt::from(0), BigInt::from(1) << 40)), "E = 2^40");
}

#[test]
fn rln_shares_match_vectors_and_x_zero_is_refused() {
    let mut c = circuit("rln_vectors");
    for case in load("rln.json")["cases"].as_array().expect("cases") {
        let inputs = |x: BigInt| {
            vec![
                input("secret", vec![int(&case["secret"])]),
                input("deposit", vec![int(&case["deposit"])]),
                input("expiry", vec![int(&case["expiry"])]),
                input("scope", vec![int(&case["scope"])]),
                input("index", vec![int(&case["index"])]),
                input("x", vec![x]),
            ]
        };
        for request in case["requests"].as_array().expect("requests") {
            let w = c.calculate(inputs(int(&request["x"]))).expect("witness");
            assert_eq!(w.get("identity").expect("id"), fr(&case["identity"]));
            assert_eq!(w.get("leaf").expect("leaf"), fr(&case["leaf"]));
            assert_eq!(w.get("nullifier").expect("nullifier"), fr(&case["nullifier"]));
            assert_eq!(w.get("y").expect("y"), fr(&request["y"]));
        }
        assert!(matches!(c.calculate(inputs(BigInt::from(0))), Err(ProverError::Unsatisfied(_))));
    }
}
