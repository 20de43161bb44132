//! Recomputes every vector in `spec/vectors/` from its inputs with this crate.

use serde_json::Value;
use std::path::PathBuf;
use zkcredits_primitives::{
    Fr,
    babyjubjub::{BASE8, Generators, Point, Scalar},
    constants::{SIGNER_TREE_DEPTH, TAGS, TREE_DEPTH},
    eddsa::{PrivateKey, PublicKey, Signature},
    field::{fr_from_dec, fr_to_dec},
    identity::{Secret, accumulate, amount_expiry, leaf},
    merkle::{FixedMerkleTree, LeanImt},
    poseidon::poseidon,
    rln::{Share, exit_x, nullifier, payload_digest, recover_secret, request_x, scope, slope},
    state::{StateOpening, commit, owner_tag, rerandomize, settle, state_message},
};

fn load(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../spec/vectors").join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

fn fr(v: &Value) -> Fr {
    fr_from_dec(v.as_str().expect("decimal string")).expect("canonical field element")
}

fn frs(v: &Value) -> Vec<Fr> {
    v.as_array().expect("array").iter().map(fr).collect()
}

fn point(v: &Value) -> Point {
    Point::new(fr(&v["x"]), fr(&v["y"])).expect("vector point is on the curve")
}

fn scalar(v: &Value) -> Scalar {
    v.as_str().expect("decimal string").parse().expect("canonical scalar")
}

fn int<T: std::str::FromStr>(v: &Value) -> T {
    match v {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.to_string().parse().ok(),
        _ => None,
    }
    .expect("integer")
}

fn bytes<const N: usize>(v: &Value) -> [u8; N] {
    let h = v.as_str().expect("hex string").strip_prefix("0x").expect("0x prefix");
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&h[2 * i..2 * i + 2], 16).expect("hex");
    }
    out
}

fn hex_vec(v: &Value) -> Vec<u8> {
    let h = v.as_str().expect("hex string").strip_prefix("0x").expect("0x prefix");
    (0..h.len() / 2).map(|i| u8::from_str_radix(&h[2 * i..2 * i + 2], 16).expect("hex")).collect()
}

fn opening(v: &Value) -> StateOpening {
    StateOpening {
        refunded: int(&v["refunded"]),
        index: int(&v["index"]),
        blinding: scalar(&v["blinding"]),
    }
}

#[test]
fn poseidon_vectors() {
    let v = load("poseidon.json");
    for case in v["cases"].as_array().expect("cases") {
        assert_eq!(
            poseidon(&frs(&case["inputs"])).expect("arity"),
            fr(&case["output"]),
            "{}",
            case["name"]
        );
    }
    let tags: Vec<(String, u128)> = v["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .map(|t| (t["name"].as_str().expect("name").to_owned(), int(&t["value"])))
        .collect();
    assert_eq!(tags, TAGS.iter().map(|(n, v)| ((*n).to_owned(), *v)).collect::<Vec<_>>());
}

#[test]
fn babyjubjub_vectors() {
    let v = load("babyjubjub.json");
    assert_eq!(point(&v["base8"]), BASE8);
    let g = Generators::get();
    let expected = [g.g, g.n, g.t, g.h];
    for (case, (domain, gen_point)) in v["generators"]
        .as_array()
        .expect("generators")
        .iter()
        .zip(Generators::DOMAINS.iter().zip(expected))
    {
        assert_eq!(case["domain"].as_str(), Some(*domain));
        let derived = Point::hash_to_curve(domain);
        assert_eq!(derived.point, point(&case["point"]));
        assert_eq!(derived.counter, int::<u64>(&case["counter"]));
        assert_eq!(derived.point, gen_point);
    }
    for case in v["add"].as_array().expect("add") {
        assert_eq!(point(&case["p"]).add(&point(&case["q"])), point(&case["sum"]));
    }
    for case in v["mul"].as_array().expect("mul") {
        let e = num_bigint::BigUint::parse_bytes(
            case["scalar"].as_str().expect("decimal").as_bytes(),
            10,
        )
        .expect("integer");
        assert_eq!(point(&case["point"]).mul_biguint(&e), point(&case["product"]));
    }
}

#[test]
fn eddsa_vectors() {
    for case in load("eddsa.json")["cases"].as_array().expect("cases") {
        let key = PrivateKey::from_bytes(bytes(&case["private_key"]));
        let pk = key.public_key();
        assert_eq!(pk.0, point(&case["public_key"]));
        assert_eq!(pk.signer_leaf(), fr(&case["signer_leaf"]));
        let msg = fr(&case["message"]);
        let sig = key.sign(&msg);
        let recorded =
            Signature { r8: point(&case["signature"]["r8"]), s: scalar(&case["signature"]["s"]) };
        assert_eq!(sig, recorded);
        assert_eq!(pk.verify(&msg, &recorded), Ok(()));
        assert!(pk.verify(&(msg + Fr::from(1u64)), &recorded).is_err());
    }
}

#[test]
fn state_vectors() {
    let v = load("state.json");
    let signer = PublicKey(point(&v["signer_public_key"]));
    for case in v["cases"].as_array().expect("cases") {
        let k = Secret::new(fr(&case["secret"])).expect("non-zero");
        assert_eq!(owner_tag(&k).to_string(), case["owner_tag"].as_str().expect("owner tag"));
        let open = opening(&case["opening"]);
        let a = commit(&k, &open);
        assert_eq!(a, point(&case["commitment"]));
        let eta = scalar(&case["eta"]);
        let anon = rerandomize(&a, &eta);
        assert_eq!(anon, point(&case["rerandomized"]));
        let refund: u128 = int(&case["refund"]);
        let next = settle(&anon, refund);
        assert_eq!(next, point(&case["settled"]));
        let next_opening = opening(&case["settled_opening"]);
        assert_eq!(open.settled(&eta, refund), Some(next_opening));
        assert_eq!(commit(&k, &next_opening), next);
        let m = state_message(&next, &fr(&case["scope"]));
        assert_eq!(m, fr(&case["settled_message"]));
        let sig = Signature {
            r8: point(&case["settled_signature"]["r8"]),
            s: scalar(&case["settled_signature"]["s"]),
        };
        assert_eq!(signer.verify(&m, &sig), Ok(()));
    }
}

#[test]
fn lean_imt_vectors() {
    let v = load("lean_imt.json");
    assert_eq!(int::<usize>(&v["tree_depth"]), TREE_DEPTH);
    for case in v["cases"].as_array().expect("cases") {
        let leaves = frs(&case["leaves"]);
        let mut tree = LeanImt::from_leaves(&leaves).expect("valid leaves");
        assert_eq!(tree.root(), fr(&case["root"]), "size {}", leaves.len());
        assert_eq!(tree.depth(), int::<usize>(&case["depth"]));
        for p in case["proofs"].as_array().expect("proofs") {
            let proof = tree.proof(int(&p["leaf_index"])).expect("in range");
            assert_eq!(proof.leaf, fr(&p["leaf"]));
            assert_eq!(proof.index, int::<u64>(&p["path_index"]));
            assert_eq!(proof.siblings, frs(&p["siblings"]));
            assert_eq!(proof.root(), tree.root());
            let path = proof.circuit_path(TREE_DEPTH).expect("fits");
            assert_eq!(path.depth, int::<usize>(&p["circuit"]["depth"]));
            assert_eq!(path.siblings, frs(&p["circuit"]["siblings"]));
            let bits: Vec<bool> = p["circuit"]["indices"]
                .as_array()
                .expect("bits")
                .iter()
                .map(|b| b.as_u64() == Some(1))
                .collect();
            assert_eq!(path.indices, bits);
        }
        let removal = &case["removal"];
        let index: usize = int(&removal["leaf_index"]);
        assert_eq!(tree.proof(index).expect("in range").siblings, frs(&removal["siblings"]));
        tree.remove(index).expect("in range");
        assert_eq!(tree.root(), fr(&removal["root_after"]));
    }
    let signer = &v["signer_tree"];
    let tree = FixedMerkleTree::new(SIGNER_TREE_DEPTH, &frs(&signer["leaves"])).expect("fits");
    assert_eq!(tree.root(), fr(&signer["root"]));
    let (siblings, indices) = tree.path(int(&signer["path"]["leaf_index"])).expect("in range");
    assert_eq!(siblings, frs(&signer["path"]["siblings"]));
    let bits: Vec<bool> = signer["path"]["indices"]
        .as_array()
        .expect("bits")
        .iter()
        .map(|b| b.as_u64() == Some(1))
        .collect();
    assert_eq!(indices, bits);
}

#[test]
fn deposit_queue_vectors() {
    let cases = load("deposit_queue.json")["cases"].as_array().expect("cases").clone();
    for (i, case) in cases.iter().enumerate() {
        let (identity, deposit, expiry) =
            (fr(&case["identity"]), int(&case["deposit"]), int(&case["expiry"]));
        assert_eq!(amount_expiry(deposit, expiry), fr(&case["amount_expiry"]), "case {i}");
        assert_eq!(
            accumulate(fr(&case["acc_before"]), identity, deposit, expiry),
            fr(&case["acc_after"]),
            "case {i}"
        );
        assert_eq!(leaf(identity, deposit, expiry), fr(&case["leaf"]), "case {i}");
        if i > 0 && i + 1 < cases.len() {
            assert_eq!(case["acc_before"], cases[i - 1]["acc_after"], "a chain");
        }
    }
    assert_eq!(cases[0]["acc_before"], "0", "the chain starts from 0");
}

#[test]
fn rln_vectors() {
    for case in load("rln.json")["cases"].as_array().expect("cases") {
        let k = Secret::new(fr(&case["secret"])).expect("non-zero");
        assert_eq!(k.commitment(), fr(&case["identity"]));
        assert_eq!(
            leaf(k.commitment(), int(&case["deposit"]), int(&case["expiry"])),
            fr(&case["leaf"])
        );
        let scope = scope(int(&case["chain_id"]), &bytes(&case["escrow"]));
        assert_eq!(scope, fr(&case["scope"]));
        let index: u32 = int(&case["index"]);
        let a = slope(&k, &scope, index);
        assert_eq!(a, fr(&case["slope"]));
        assert_eq!(nullifier(&a), fr(&case["nullifier"]));
        let provider = fr(&case["provider_id"]);
        let nonce = fr(&case["nonce"]);
        let shares: Vec<Share> = case["requests"]
            .as_array()
            .expect("requests")
            .iter()
            .map(|r| {
                let digest = payload_digest(&hex_vec(&r["payload_hex"]));
                assert_eq!(digest, fr(&r["payload_digest"]));
                let x = request_x(&provider, &digest, &nonce);
                assert_eq!(x, fr(&r["x"]));
                let share = Share::new(&k, &scope, index, x);
                assert_eq!(fr_to_dec(&share.y), r["y"].as_str().expect("y"));
                share
            })
            .collect();
        assert_eq!(recover_secret(&shares[0], &shares[1]), Ok(fr(&case["recovered_secret"])));
        assert_eq!(
            exit_x(&bytes(&case["exit"]["recipient"]), int(&case["exit"]["amount"])),
            fr(&case["exit"]["x"])
        );
    }
}
