//! Rate-Limiting Nullifier algebra: the per-ticket line `y = k + a·x`, its nullifier, the
//! message points `x`, and recovery of `k` from two points on one line.
//!
//! Spec: `spec/02-cryptography.md#rln`.

use crate::{
    Fr, RlnError,
    constants::{TAG_EXIT, TAG_TICKET},
    field::{fr_from_be_bytes_mod_order, sha256_to_fr},
    identity::Secret,
    poseidon::poseidon_n,
};
use ark_ff::Field;

/// `scope = Poseidon(chainId, escrowAddress)`: the deployment's domain separator.
pub fn scope(chain_id: u64, escrow: &[u8; 20]) -> Fr {
    poseidon_n([Fr::from(chain_id), fr_from_be_bytes_mod_order(escrow)])
}

/// `payloadDigest = SHA-256(request bytes) mod p`.
pub fn payload_digest(request: &[u8]) -> Fr {
    sha256_to_fr(request)
}

/// The request message point `x = Poseidon(providerId, payloadDigest, nonce)`.
pub fn request_x(provider_id: &Fr, payload_digest: &Fr, nonce: &Fr) -> Fr {
    poseidon_n([*provider_id, *payload_digest, *nonce])
}

/// The exit message point `x_w = Poseidon(TAG_EXIT, recipient, amount)`.
pub fn exit_x(recipient: &[u8; 20], amount: u128) -> Fr {
    poseidon_n([Fr::from(TAG_EXIT), fr_from_be_bytes_mod_order(recipient), Fr::from(amount)])
}

/// The slope of ticket `n`: `a = Poseidon(k, scope, n)`.
pub fn slope(k: &Secret, scope: &Fr, index: u32) -> Fr {
    poseidon_n([*k.expose(), *scope, Fr::from(index)])
}

/// `nullifier = Poseidon(a, TAG_TICKET)`.
pub fn nullifier(slope: &Fr) -> Fr {
    poseidon_n([*slope, Fr::from(TAG_TICKET)])
}

/// One point on a ticket's line, as a node stores and gossips it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Share {
    /// `Poseidon(a, TAG_TICKET)`: identifies the ticket without revealing the identity.
    pub nullifier: Fr,
    /// The message point.
    pub x: Fr,
    /// `y = k + a·x`.
    pub y: Fr,
}

impl Share {
    /// The share of ticket `index` for message point `x`.
    pub fn new(k: &Secret, scope: &Fr, index: u32, x: Fr) -> Self {
        let a = slope(k, scope, index);
        Self { nullifier: nullifier(&a), x, y: *k.expose() + a * x }
    }
}

/// Recovers `k = (y1·x2 − y2·x1)/(x2 − x1)` from two shares of one ticket.
///
/// Checks the shares first: equal nullifiers, different `x`, and `nullifier(slope) = nullifier`
/// where `slope = (y1 − y2)/(x1 − x2)`, so that a pair not made by one secret is refused.
pub fn recover_secret(first: &Share, second: &Share) -> Result<Fr, RlnError> {
    if first.nullifier != second.nullifier {
        return Err(RlnError::DifferentNullifiers(first.nullifier, second.nullifier));
    }
    let dx_inv = (first.x - second.x).inverse().ok_or(RlnError::SameX)?;
    let a = (first.y - second.y) * dx_inv;
    if nullifier(&a) != first.nullifier {
        return Err(RlnError::SlopeMismatch(first.nullifier));
    }
    // y1 − a·x1 is the same value as (y1·x2 − y2·x1)/(x2 − x1), with one inversion fewer.
    Ok(first.y - a * first.x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_shares_reveal_the_secret_and_bad_pairs_are_refused() {
        let k = Secret::new(Fr::from(77u64)).expect("non-zero");
        let scope = scope(31337, &[0x11; 20]);
        let s1 = Share::new(&k, &scope, 3, Fr::from(10u64));
        let s2 = Share::new(&k, &scope, 3, Fr::from(20u64));
        assert_eq!(recover_secret(&s1, &s2), Ok(*k.expose()));
        assert_eq!(recover_secret(&s1, &s1), Err(RlnError::SameX));
        let other = Share::new(&k, &scope, 4, Fr::from(20u64));
        assert!(matches!(recover_secret(&s1, &other), Err(RlnError::DifferentNullifiers(..))));
        let forged = Share { y: s2.y + Fr::ONE, ..s2 };
        assert!(matches!(recover_secret(&s1, &forged), Err(RlnError::SlopeMismatch(_))));
    }
}
