//! EdDSA-Poseidon over Baby Jubjub, byte-for-byte as circomlibjs `signPoseidon`/`verifyPoseidon`
//! and circomlib's `EdDSAPoseidonVerifier`.
//!
//! Key derivation and nonces use BLAKE-512 (the SHA-3 finalist, not BLAKE2) exactly as circomlibjs
//! does, so the same private key gives the same public key and signatures in both.

use crate::{
    Fr, PrimitivesError,
    babyjubjub::{FixedBase, Point, Scalar},
    poseidon::poseidon_n,
};
use ark_ff::{BigInteger, PrimeField};
use blake_hash::{Blake512, Digest};
use num_bigint::BigUint;

/// A 32-byte EdDSA private key. Its `Debug` never prints the bytes, and dropping it wipes
/// them.
#[derive(Clone, PartialEq, Eq)]
pub struct PrivateKey([u8; 32]);

impl Drop for PrivateKey {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PrivateKey(<redacted>)")
    }
}

/// An EdDSA public key: a point of the prime-order subgroup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(pub Point);

/// An EdDSA-Poseidon signature `(R8, S)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signature {
    /// The nonce point `r·Base8`.
    pub r8: Point,
    /// `S = r + H(R8, A, m)·s mod subOrder`.
    pub s: Scalar,
}

impl PrivateKey {
    /// Wraps 32 secret bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The secret bytes; handle with care.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// `BLAKE-512(key)` with its first half pruned as circomlibjs does.
    fn expanded(&self) -> [u8; 64] {
        let mut h = [0u8; 64];
        h.copy_from_slice(&Blake512::digest(&self.0));
        h[0] &= 0xF8;
        h[31] &= 0x7F;
        h[31] |= 0x40;
        h
    }

    /// The pruned secret scalar `s` (a multiple of 8, below 2^255).
    fn secret_scalar(expanded: &[u8; 64]) -> BigUint {
        BigUint::from_bytes_le(&expanded[..32])
    }

    /// The public key `A = (s >> 3)·Base8`.
    pub fn public_key(&self) -> PublicKey {
        let s = Self::secret_scalar(&self.expanded());
        PublicKey(FixedBase::base8().mul(&(s >> 3)))
    }

    /// Signs a field element with a deterministic nonce.
    pub fn sign(&self, msg: &Fr) -> Signature {
        let expanded = self.expanded();
        let s = Self::secret_scalar(&expanded);
        let a = FixedBase::base8().mul(&(&s >> 3));
        let mut nonce_input = Vec::with_capacity(64);
        nonce_input.extend_from_slice(&expanded[32..]);
        nonce_input.extend_from_slice(&msg.into_bigint().to_bytes_le());
        let r = Scalar::from_le_bytes_mod_order(&Blake512::digest(&nonce_input));
        let r8 = FixedBase::base8().mul(&r.into_bigint().into());
        let hm = challenge(&r8, &a, msg);
        let s_sig = r + Scalar::from(hm) * Scalar::from(s);
        Signature { r8, s: s_sig }
    }
}

/// `H(R8, A, m) = Poseidon(R8.x, R8.y, A.x, A.y, m)` as an integer.
fn challenge(r8: &Point, a: &Point, msg: &Fr) -> BigUint {
    poseidon_n([r8.x, r8.y, a.x, a.y, *msg]).into_bigint().into()
}

impl PublicKey {
    /// Verifies `S·Base8 = R8 + 8·H(R8, A, m)·A`, with both points checked to be on the curve.
    /// `S < subOrder` holds by construction of [`Scalar`].
    pub fn verify(&self, msg: &Fr, sig: &Signature) -> Result<(), PrimitivesError> {
        if !sig.r8.is_on_curve() || !self.0.is_on_curve() {
            return Err(PrimitivesError::InvalidSignature);
        }
        let left = FixedBase::base8().mul(&sig.s.into_bigint().into());
        let right = sig.r8.add(&self.0.mul_biguint(&(challenge(&sig.r8, &self.0, msg) * 8u32)));
        if left == right { Ok(()) } else { Err(PrimitivesError::InvalidSignature) }
    }

    /// The signer-set leaf `Poseidon(A.x, A.y)`.
    pub fn signer_leaf(&self) -> Fr {
        poseidon_n([self.0.x, self.0.y])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_and_reject_tampering() {
        let key = PrivateKey::from_bytes([7u8; 32]);
        let pk = key.public_key();
        let msg = Fr::from(1234u64);
        let sig = key.sign(&msg);
        assert_eq!(pk.verify(&msg, &sig), Ok(()));
        assert!(pk.verify(&Fr::from(1235u64), &sig).is_err());
        let other = PrivateKey::from_bytes([8u8; 32]).public_key();
        assert!(other.verify(&msg, &sig).is_err());
        assert_eq!(format!("{key:?}"), "PrivateKey(<redacted>)");
    }
}
