//! Proof and key encodings: compressed arkworks bytes for our own wire formats, and
//! snarkjs-compatible JSON so that snarkjs (and anything built on it) can check our proofs.
//!
//! snarkjs JSON: field elements as decimal strings, G1 points as `[x, y, "1"]`, G2 points as
//! `[[x.c0, x.c1], [y.c0, y.c1], ["1", "0"]]`.

use crate::ProverError;
use ark_bn254::{Bn254, Fq, Fq2, Fr, G1Affine, G2Affine};
use ark_ec::AffineRepr;
use ark_ff::{PrimeField, Zero};
use ark_groth16::{Proof, VerifyingKey};
use ark_serialize::{CanonicalDeserialize, CanonicalSerialize};
use num_bigint::BigUint;
use serde_json::{Value, json};

fn dec<F: PrimeField>(x: &F) -> Value {
    let n: BigUint = x.into_bigint().into();
    Value::String(n.to_string())
}

fn g1(p: &G1Affine) -> Value {
    match p.xy() {
        Some((x, y)) => json!([dec(&x), dec(&y), "1"]),
        None => json!(["0", "1", "0"]),
    }
}

fn g2(p: &G2Affine) -> Value {
    match p.xy() {
        Some((x, y)) => json!([[dec(&x.c0), dec(&x.c1)], [dec(&y.c0), dec(&y.c1)], ["1", "0"]]),
        None => json!([["0", "0"], ["1", "0"], ["0", "0"]]),
    }
}

/// A Groth16 proof as snarkjs writes it.
pub fn proof_to_json(proof: &Proof<Bn254>) -> Value {
    json!({
        "pi_a": g1(&proof.a),
        "pi_b": g2(&proof.b),
        "pi_c": g1(&proof.c),
        "protocol": "groth16",
        "curve": "bn128",
    })
}

/// A verifying key as snarkjs writes it.
pub fn verifying_key_to_json(vk: &VerifyingKey<Bn254>) -> Value {
    json!({
        "protocol": "groth16",
        "curve": "bn128",
        "nPublic": vk.gamma_abc_g1.len() - 1,
        "vk_alpha_1": g1(&vk.alpha_g1),
        "vk_beta_2": g2(&vk.beta_g2),
        "vk_gamma_2": g2(&vk.gamma_g2),
        "vk_delta_2": g2(&vk.delta_g2),
        "IC": vk.gamma_abc_g1.iter().map(g1).collect::<Vec<_>>(),
    })
}

/// Public signals as snarkjs writes them.
pub fn public_to_json(public: &[Fr]) -> Value {
    Value::Array(public.iter().map(dec).collect())
}

fn parse<F: PrimeField>(v: &Value, what: &str) -> Result<F, ProverError> {
    let bad = || ProverError::Encoding(format!("{what}: expected a canonical decimal string"));
    let n = v.as_str().and_then(|s| s.parse::<BigUint>().ok()).ok_or_else(bad)?;
    if n >= F::MODULUS.into() {
        return Err(bad());
    }
    Ok(F::from(n))
}

fn parse_g1(v: &Value, what: &str) -> Result<G1Affine, ProverError> {
    let (x, y): (Fq, Fq) = (parse(&v[0], what)?, parse(&v[1], what)?);
    if x.is_zero() && y.is_zero() || v[2] == "0" {
        return Ok(G1Affine::zero());
    }
    let p = G1Affine::new_unchecked(x, y);
    if p.is_on_curve() && p.is_in_correct_subgroup_assuming_on_curve() {
        Ok(p)
    } else {
        Err(ProverError::Encoding(format!("{what}: not a point of G1")))
    }
}

fn parse_g2(v: &Value, what: &str) -> Result<G2Affine, ProverError> {
    let x = Fq2::new(parse(&v[0][0], what)?, parse(&v[0][1], what)?);
    let y = Fq2::new(parse(&v[1][0], what)?, parse(&v[1][1], what)?);
    let p = G2Affine::new_unchecked(x, y);
    if p.is_on_curve() && p.is_in_correct_subgroup_assuming_on_curve() {
        Ok(p)
    } else {
        Err(ProverError::Encoding(format!("{what}: not a point of G2")))
    }
}

/// Reads a snarkjs proof, checking every point.
pub fn proof_from_json(v: &Value) -> Result<Proof<Bn254>, ProverError> {
    Ok(Proof {
        a: parse_g1(&v["pi_a"], "pi_a")?,
        b: parse_g2(&v["pi_b"], "pi_b")?,
        c: parse_g1(&v["pi_c"], "pi_c")?,
    })
}

/// Reads snarkjs public signals.
pub fn public_from_json(v: &Value) -> Result<Vec<Fr>, ProverError> {
    let items = v
        .as_array()
        .ok_or_else(|| ProverError::Encoding("public signals: expected an array".into()))?;
    items.iter().enumerate().map(|(i, x)| parse(x, &format!("public signal {i}"))).collect()
}

/// Reads a snarkjs verifying key, checking every point.
pub fn verifying_key_from_json(v: &Value) -> Result<VerifyingKey<Bn254>, ProverError> {
    let ic =
        v["IC"].as_array().ok_or_else(|| ProverError::Encoding("IC: expected an array".into()))?;
    Ok(VerifyingKey {
        alpha_g1: parse_g1(&v["vk_alpha_1"], "vk_alpha_1")?,
        beta_g2: parse_g2(&v["vk_beta_2"], "vk_beta_2")?,
        gamma_g2: parse_g2(&v["vk_gamma_2"], "vk_gamma_2")?,
        delta_g2: parse_g2(&v["vk_delta_2"], "vk_delta_2")?,
        gamma_abc_g1: ic
            .iter()
            .enumerate()
            .map(|(i, p)| parse_g1(p, &format!("IC[{i}]")))
            .collect::<Result<_, _>>()?,
    })
}

/// The arguments of a generated verifier's `verifyProof(pA, pB, pC, pubSignals)`, as decimal
/// strings; `pB` has each Fq2 coordinate as `[c1, c0]`.
pub fn solidity_calldata(proof: &Proof<Bn254>, public: &[Fr]) -> Value {
    let (ax, ay) = proof.a.xy().unwrap_or_default();
    let (bx, by) = proof.b.xy().unwrap_or_default();
    let (cx, cy) = proof.c.xy().unwrap_or_default();
    json!({
        "pA": [dec(&ax), dec(&ay)],
        "pB": [[dec(&bx.c1), dec(&bx.c0)], [dec(&by.c1), dec(&by.c0)]],
        "pC": [dec(&cx), dec(&cy)],
        "pubSignals": public_to_json(public),
    })
}

/// A proof as compressed arkworks bytes (128 bytes).
pub fn proof_to_bytes(proof: &Proof<Bn254>) -> Vec<u8> {
    let mut out = Vec::with_capacity(proof.compressed_size());
    proof
        .serialize_compressed(&mut out)
        .unwrap_or_else(|_| unreachable!("writing to a Vec cannot fail"));
    out
}

/// Reads compressed arkworks proof bytes, checking that every point is valid.
pub fn proof_from_bytes(bytes: &[u8]) -> Result<Proof<Bn254>, ProverError> {
    Proof::deserialize_compressed(bytes)
        .map_err(|e| ProverError::Encoding(format!("proof bytes: {e}")))
}
