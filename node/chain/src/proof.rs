//! Groth16 proofs and BN254 field elements in the escrow's encoding.

use crate::{bindings::ICreditEscrow, error::ChainError};
use alloy::primitives::U256;
use ark_bn254::{Bn254, Fq, Fr};
use ark_ff::{BigInteger, PrimeField};
use ark_groth16::Proof;

/// A scalar field element as a `uint256`.
pub fn fr_to_u256(x: &Fr) -> U256 {
    field_to_u256(x)
}

/// A contract integer that must fit in 64 bits (a leaf index, a tree size); `what` names it in
/// the error.
pub fn u256_to_u64(x: U256, what: &str) -> Result<u64, ChainError> {
    u64::try_from(x).map_err(|_| ChainError::InvalidValue(format!("{what} {x} exceeds 64 bits")))
}

/// A `uint256` as a scalar field element; an error when it is not below the field modulus.
pub fn u256_to_fr(x: U256) -> Result<Fr, ChainError> {
    let bytes = x.to_be_bytes::<32>();
    let fr = Fr::from_be_bytes_mod_order(&bytes);
    if fr_to_u256(&fr) != x {
        return Err(ChainError::InvalidValue(format!("{x} is not below the BN254 scalar field")));
    }
    Ok(fr)
}

fn field_to_u256<F: PrimeField>(x: &F) -> U256 {
    U256::from_be_slice(&x.into_bigint().to_bytes_be())
}

fn fq(x: &Fq) -> U256 {
    field_to_u256(x)
}

/// The proof as the verifiers take it: `b` as `[[x.c1, x.c0], [y.c1, y.c0]]`.
impl From<&Proof<Bn254>> for ICreditEscrow::Proof {
    fn from(proof: &Proof<Bn254>) -> Self {
        Self {
            a: [fq(&proof.a.x), fq(&proof.a.y)],
            b: [[fq(&proof.b.x.c1), fq(&proof.b.x.c0)], [fq(&proof.b.y.c1), fq(&proof.b.y.c0)]],
            c: [fq(&proof.c.x), fq(&proof.c.y)],
        }
    }
}
