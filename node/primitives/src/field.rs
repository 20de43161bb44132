//! The BN254 scalar field `Fr`: parsing, printing and hashing bytes into it.

use crate::PrimitivesError;
use ark_ff::{BigInteger, PrimeField};
use num_bigint::BigUint;
use sha2::{Digest, Sha256};

pub use ark_bn254::Fr;

/// Parses a canonical decimal string (as circom, snarkjs and the vectors write them).
pub fn fr_from_dec(s: &str) -> Result<Fr, PrimitivesError> {
    from_dec(s)
}

/// Prints a field element as a canonical decimal string.
pub fn fr_to_dec(x: &Fr) -> String {
    to_dec(x)
}

/// Parses a canonical decimal string into any prime field (`Fr`, or a Baby Jubjub scalar).
pub fn from_dec<F: PrimeField>(s: &str) -> Result<F, PrimitivesError> {
    let err = || PrimitivesError::InvalidFieldElement(s.to_owned());
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err());
    }
    let n = BigUint::parse_bytes(s.as_bytes(), 10).ok_or_else(err)?;
    if n >= F::MODULUS.into() {
        return Err(err());
    }
    Ok(F::from(n))
}

/// Prints any prime-field element as a canonical decimal string.
pub fn to_dec<F: PrimeField>(x: &F) -> String {
    let n: BigUint = x.into_bigint().into();
    n.to_string()
}

/// The canonical integer of a field element.
pub fn fr_to_biguint(x: &Fr) -> BigUint {
    x.into_bigint().into()
}

/// Reduces big-endian bytes modulo the field order.
pub fn fr_from_be_bytes_mod_order(bytes: &[u8]) -> Fr {
    Fr::from_be_bytes_mod_order(bytes)
}

/// Big-endian 32-byte encoding of a field element.
pub fn fr_to_be_bytes(x: &Fr) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(&x.into_bigint().to_bytes_be());
    out
}

/// `SHA-256(bytes)` read as a big-endian integer and reduced into `Fr`.
///
/// Spec: `spec/02-cryptography.md#hashing-bytes-into-the-field`.
pub fn sha256_to_fr(bytes: &[u8]) -> Fr {
    fr_from_be_bytes_mod_order(&Sha256::digest(bytes))
}

/// A domain tag: the ASCII bytes of `name` read as a big-endian integer (names are at most 16
/// bytes, so the value fits in 128 bits and reads back as text in hex).
pub const fn ascii_tag(name: &str) -> u128 {
    let bytes = name.as_bytes();
    assert!(bytes.len() <= 16, "tags are at most 16 bytes so they fit in u128");
    let mut acc: u128 = 0;
    let mut i = 0;
    while i < bytes.len() {
        acc = (acc << 8) | bytes[i] as u128;
        i += 1;
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_round_trip_and_rejections() {
        let p_minus_1 =
            "21888242871839275222246405745257275088548364400416034343698204186575808495616";
        let x = fr_from_dec(p_minus_1).expect("p-1 is canonical");
        assert_eq!(fr_to_dec(&x), p_minus_1);
        let p = "21888242871839275222246405745257275088548364400416034343698204186575808495617";
        assert!(fr_from_dec(p).is_err());
        assert!(fr_from_dec("").is_err());
        assert!(fr_from_dec("-1").is_err());
        assert!(fr_from_dec("0x10").is_err());
    }

    #[test]
    fn tags_read_as_big_endian_ascii() {
        assert_eq!(ascii_tag("AB"), 0x4142);
    }
}
